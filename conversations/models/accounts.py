"""People's settings, invitations and token quotas."""

import hashlib

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Profile(models.Model):
    """A user's own chat settings."""

    class Theme(models.TextChoices):
        SYSTEM = "system", _("follow the system")
        LIGHT = "light", _("light")
        DARK = "dark", _("dark")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    theme = models.CharField(max_length=10, choices=Theme.choices, default=Theme.SYSTEM)
    default_persona = models.ForeignKey(
        "conversations.Persona", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    default_model = models.ForeignKey(
        "conversations.ModelConfig",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The newest audit entry the owner dismissed in the readings notice: each
    # reading of their conversations is shown once.
    readings_seen_through = models.PositiveBigIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")

    def __str__(self) -> str:
        return str(self.user)

    @classmethod
    def for_user(cls, user) -> "Profile":
        return cls.objects.get_or_create(user=user)[0]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Invitation(models.Model):
    """A single-use link to create an account; only the token's hash is stored."""

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    email = models.EmailField(_("email"), blank=True)
    teams = models.ManyToManyField(Group, blank=True, help_text=_("Teams the new account joins."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(null=True, blank=True, editable=False)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    class Meta:
        ordering = ["-created"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self) -> str:
        return self.email or f"invitation {self.pk}"

    @property
    def is_usable(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()


class Quota(models.Model):
    """Token budgets for one user or one team (a Django group). Empty means no limit."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="quota",
    )
    group = models.OneToOneField(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="quota"
    )
    daily_tokens = models.PositiveBigIntegerField(_("tokens per day"), null=True, blank=True)
    monthly_tokens = models.PositiveBigIntegerField(_("tokens per month"), null=True, blank=True)

    class Meta:
        verbose_name = _("quota")
        verbose_name_plural = _("quotas")
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(group__isnull=True))
                | (Q(user__isnull=True) & Q(group__isnull=False)),
                name="quota_for_user_or_group",
            )
        ]

    def __str__(self) -> str:
        return f"quota of {self.user or self.group}"
