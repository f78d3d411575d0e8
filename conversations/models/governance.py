"""Site-wide settings staff control, and the append-only audit log."""

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# v2: the settings grew fields (budgets, review, moderation, fine-tuning, teams).
SITE_SETTINGS_CACHE_KEY = "chatsite:site-settings:v2"


class SiteSettings(models.Model):
    """One row (pk 1) of settings staff edit in the admin."""

    class ReviewPolicy(models.TextChoices):
        OFF = "off", _("off: staff cannot read other people's conversations")
        FLAGGED = "flagged", _("flagged only: staff can read conversations flagged for review")
        FULL = "full", _("full: staff with permission can read any conversation")

    system_prompt = models.TextField(
        _("site-wide system prompt"),
        blank=True,
        help_text=_("Sent first in every conversation, before the persona's prompt."),
    )
    review_policy = models.CharField(
        _("history review policy"),
        max_length=10,
        choices=ReviewPolicy.choices,
        default=ReviewPolicy.OFF,
    )
    open_signup = models.BooleanField(
        _("open sign-up"), default=False, help_text=_("Anyone can create an account.")
    )
    team_invitations_create_accounts = models.BooleanField(
        _("team invitations create accounts"),
        default=True,
        help_text=_(
            "Team owners and admins may invite people who have no account yet. Off: their "
            "invitations bring in people who have one, and only staff's create accounts."
        ),
    )
    default_daily_tokens = models.PositiveBigIntegerField(
        _("default daily tokens per user"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    default_monthly_tokens = models.PositiveBigIntegerField(
        _("default monthly tokens per user"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    tell_owners_of_readings = models.BooleanField(
        _("tell owners when their conversations are read"),
        default=False,
        help_text=_(
            "On their next visit, people see who read which of their conversations "
            "under the review policy, when and why."
        ),
    )
    enable_fine_tuned_models = models.BooleanField(
        _("enable fine-tuned models at once"),
        default=False,
        help_text=_(
            "A model a fine-tuning job produced is usable at once, not after staff enable it."
        ),
    )
    default_daily_cost = models.DecimalField(
        _("default daily spending per user"),
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=_("In the currency of the models' prices. Empty: no limit."),
    )
    default_monthly_cost = models.DecimalField(
        _("default monthly spending per user"),
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=_("In the currency of the models' prices. Empty: no limit."),
    )
    budget_fallback_model = models.ForeignKey(
        "conversations.ModelConfig",
        verbose_name=_("fallback model"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_(
            "A cheaper model that answers instead once a budget is used up, unless the "
            "quota names its own. Empty: the turn is refused."
        ),
    )
    updated = models.DateTimeField(auto_now=True)
    # Moderation (conversations.moderation): the moderations endpoint checks messages first.
    moderation_enabled = models.BooleanField(
        _("check every message with the moderations endpoint"),
        default=False,
        help_text=_("Personas can turn the check on for themselves when this is off."),
    )
    moderation_provider = models.ForeignKey(
        "conversations.Provider",
        verbose_name=_("moderation provider"),
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
        help_text=_("The provider whose moderations endpoint checks messages."),
    )
    moderation_model = models.CharField(
        _("moderation model"),
        max_length=200,
        default="omni-moderation-latest",
        blank=True,
        help_text=_(
            "For example omni-moderation-latest or text-moderation-latest. Empty: the "
            "provider's default."
        ),
    )
    moderation_on_failure = models.CharField(
        _("when the moderation check fails"),
        max_length=6,
        choices=[("closed", _("refuse the message")), ("open", _("send it, flagged unchecked"))],
        default="closed",
        blank=True,  # empty: refuse, as "closed"
    )
    moderate_answers = models.BooleanField(
        _("check finished answers too"),
        default=False,
        help_text=_("A flagged answer stays visible; its conversation is flagged for review."),
    )

    class Meta:
        verbose_name = _("site settings")
        verbose_name_plural = _("site settings")

    def __str__(self) -> str:
        return str(_("Site settings"))

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)
        # Now for this process, and after commit for every worker (Redis cache).
        cache.delete(SITE_SETTINGS_CACHE_KEY)
        transaction.on_commit(lambda: cache.delete(SITE_SETTINGS_CACHE_KEY))

    @classmethod
    def load(cls) -> "SiteSettings":
        return cls.objects.get_or_create(pk=1)[0]

    @classmethod
    def cached(cls) -> "SiteSettings":
        """The settings as of at most a minute ago: read on every chat turn.

        Saving clears the cache, so a change made in the admin applies at once.
        """
        seconds = settings.CHATSITE_SITE_SETTINGS_CACHE_SECONDS
        if not seconds:
            return cls.objects.filter(pk=1).first() or cls(pk=1)
        current = cache.get(SITE_SETTINGS_CACHE_KEY)
        if current is None:
            current = cls.objects.filter(pk=1).first() or cls(pk=1)
            cache.set(SITE_SETTINGS_CACHE_KEY, current, seconds)
        return current


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionDenied("The audit log is append-only.")

    def delete(self):
        raise PermissionDenied("The audit log is append-only.")


class AuditEntry(models.Model):
    """One governed act: a look at someone else's history, a policy or team change.

    Never changed, never deleted, and chained: each entry carries the hash of
    the one before it (``conversations.audit`` appends and verifies), so an
    entry edited or removed in the database breaks the chain where it was.
    """

    class Action(models.TextChoices):
        VIEW_CONVERSATION = "view_conversation", _("viewed a conversation")
        EXPORT = "export", _("exported conversations")
        REFUSED = "refused", _("was refused a conversation")
        SEARCH = "search", _("searched message text")
        FLAG = "flag", _("flagged or unflagged a conversation")
        POLICY = "policy", _("changed the review policy")
        TEAM = "team", _("changed a team")
        SHARE = "share", _("shared or unshared a conversation")
        FINETUNE = "finetune", _("acted on fine-tuning")
        SIGN_IN = "sign_in", _("signed in with single sign-on")

    # Set before saving, not by auto_now_add: the hash covers it.
    created = models.DateTimeField(default=timezone.now, db_index=True)
    # The entry's hash covers actor_id: deleting the user must not rewrite it
    # (SET_NULL would, and break the chain), so no constraint and no cascade.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_username = models.CharField(max_length=150)
    action = models.CharField(max_length=30, choices=Action.choices)
    # Plain values, not foreign keys: the record outlives what it points at.
    conversation_id = models.UUIDField(null=True, blank=True, db_index=True)
    owner_username = models.CharField(max_length=150, blank=True)
    policy = models.CharField(max_length=10, blank=True)
    details = models.JSONField(default=dict, blank=True)
    previous_hash = models.CharField(max_length=64, blank=True, editable=False)
    entry_hash = models.CharField(max_length=64, blank=True, editable=False)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log")
        indexes = [
            models.Index(fields=["actor_username", "-created"], name="audit_by_actor"),
            models.Index(fields=["owner_username", "-created"], name="audit_by_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_username} {self.action} {self.created:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise PermissionDenied("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionDenied("The audit log is append-only.")
