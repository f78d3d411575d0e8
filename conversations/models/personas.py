"""Persona bots: a system prompt with a model and default parameters, versioned."""

from pathlib import PurePath

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import models, transaction
from django.db.models import Q
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from conversations.ids import uuid7
from conversations.params import (
    COMPLETION_PARAM_NAMES,
    PARAM_NAMES,
    ModelLimits,
    ParamsInvalid,
    validate_completion_params,
    validate_params,
)

STARTER_PROMPTS_MAX = 6
STARTER_PROMPT_LENGTH_MAX = 500


def all_param_names() -> list[str]:
    return list(PARAM_NAMES)


class PersonaQuerySet(models.QuerySet):
    def visible_to(self, user) -> "PersonaQuerySet":
        """Personas the user may chat with and duplicate."""
        shared = Q(visibility=Persona.Visibility.EVERYONE)
        team = Q(visibility=Persona.Visibility.TEAM, teams__in=user.groups.all())
        return self.filter(Q(owner=user) | shared | team).distinct()

    def editable_by(self, user) -> "PersonaQuerySet":
        if user.has_perm("conversations.change_persona"):
            return self.all()
        return self.filter(owner=user)


class Persona(models.Model):
    class Visibility(models.TextChoices):
        PRIVATE = "private", _("only me")
        TEAM = "team", _("my teams")
        EVERYONE = "everyone", _("everyone")

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="personas"
    )
    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(max_length=100, allow_unicode=True, blank=True)
    avatar = models.CharField(_("avatar emoji"), max_length=16, blank=True)
    avatar_image = models.ImageField(_("avatar image"), upload_to="avatars/", blank=True)
    description = models.TextField(_("description"), blank=True, max_length=2000)
    system_prompt = models.TextField(_("system prompt"), blank=True, max_length=100_000)
    model = models.ForeignKey(
        "conversations.ModelConfig",
        verbose_name=_("model"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )
    default_params = models.JSONField(_("default parameters"), default=dict, blank=True)
    overridable_params = models.JSONField(
        _("parameters users may change"), default=all_param_names, blank=True
    )
    starter_prompts = models.JSONField(_("starter prompts"), default=list, blank=True)
    visibility = models.CharField(
        _("visibility"), max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    teams = models.ManyToManyField(
        Group, verbose_name=_("teams"), blank=True, related_name="personas"
    )
    version = models.PositiveIntegerField(_("version"), default=0, editable=False)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)
    # Moderation (conversations.moderation), set by staff in the admin.
    moderation = models.BooleanField(
        _("check messages with the moderations endpoint"),
        default=False,
        help_text=_("Checked even when the site-wide check is off."),
    )
    moderation_on_failure = models.CharField(
        _("when the moderation check fails"),
        max_length=6,
        blank=True,
        choices=[("closed", _("refuse the message")), ("open", _("send it, flagged unchecked"))],
        help_text=_("Empty: as the site settings say."),
    )
    # For a persona whose model is a completion model: the prompt sent, with
    # {{prompt}} where the user's text goes (appended when it has none).
    prompt_template = models.TextField(_("prompt template"), blank=True, max_length=100_000)

    objects = PersonaQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("persona")
        verbose_name_plural = _("personas")
        indexes = [models.Index(fields=["visibility", "name"], name="persona_visibility_name")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.slug = self.slug or slugify(self.name, allow_unicode=True)[:100]
        with transaction.atomic():
            super().save(*args, **kwargs)
            self._record_version()

    @property
    def limits(self) -> ModelLimits:
        return self.model.limits if self.model else ModelLimits()

    @property
    def locked_params(self) -> list[str]:
        """The parameters users may not change: only ones the persona sets can be
        locked. Older personas locked every parameter by default; a lock on one the
        persona leaves unset fixed nothing and is ignored."""
        values, open_ = self.default_params or {}, set(self.overridable_params or [])
        return [name for name in self.param_names if name in values and name not in open_]

    @property
    def changeable_params(self) -> list[str]:
        """The parameters users may change: every one the persona does not lock."""
        locked = set(self.locked_params)
        return [name for name in self.param_names if name not in locked]

    @property
    def targets_completion(self) -> bool:
        """Its model is a completion model: a prompt template, completion parameters."""
        return self.model is not None and self.model.kind == "completion"

    @property
    def param_names(self) -> tuple[str, ...]:
        return COMPLETION_PARAM_NAMES if self.targets_completion else PARAM_NAMES

    def clean(self) -> None:
        errors = {}
        try:
            validate = validate_completion_params if self.targets_completion else validate_params
            self.default_params = validate(self.default_params, self.limits)
        except ParamsInvalid as error:
            errors["default_params"] = str(error)
        # The form offers the chat names; a lock only counts among param_names.
        unknown = set(self.overridable_params or []) - {*PARAM_NAMES, *COMPLETION_PARAM_NAMES}
        if not isinstance(self.overridable_params, list) or unknown:
            errors["overridable_params"] = _("Choose among: %s") % ", ".join(self.param_names)
        if not self._starter_prompts_ok():
            errors["starter_prompts"] = _(
                "Up to %(count)s prompts of at most %(length)s characters."
            ) % {"count": STARTER_PROMPTS_MAX, "length": STARTER_PROMPT_LENGTH_MAX}
        if errors:
            raise ValidationError(errors)

    def _starter_prompts_ok(self) -> bool:
        prompts = self.starter_prompts
        return (
            isinstance(prompts, list)
            and len(prompts) <= STARTER_PROMPTS_MAX
            and all(isinstance(p, str) and 0 < len(p) <= STARTER_PROMPT_LENGTH_MAX for p in prompts)
        )

    def snapshot(self) -> dict:
        """What decides the persona's answers; a change makes a new version."""
        return snapshot(self)

    def _record_version(self) -> None:
        latest = self.versions.order_by("-version").first()
        if latest and latest.snapshot() == self.snapshot():
            return
        number = latest.version + 1 if latest else 1
        PersonaVersion.objects.create(persona=self, version=number, **self.snapshot())
        Persona.objects.filter(pk=self.pk).update(version=number)
        self.version = number

    def current_version(self) -> "PersonaVersion | None":
        return self.versions.filter(version=self.version).first()

    @property
    def avatar_url(self) -> str:
        """Where the browser fetches the uploaded avatar (checked per request), or ""."""
        return avatar_url_for(self.pk, self.avatar_image.name if self.avatar_image else "")

    def replace_avatar_image(self, content: ContentFile | None) -> None:
        """Set (or, with None, remove) the image; the old file goes once this commits."""
        old = self.avatar_image.name
        if content is None:
            self.avatar_image = ""
        else:
            self.avatar_image.save(content.name, content, save=False)
        if old and old != self.avatar_image.name:
            _delete_file_on_commit(self.avatar_image.storage, old)

    def duplicate_for(self, user) -> "Persona":
        """A private copy owned by ``user``, starting its own version history."""
        copy = Persona(
            owner=user,
            name=(gettext("%(name)s (copy)") % {"name": self.name})[:100],
            avatar=self.avatar,
            description=self.description,
            system_prompt=self.system_prompt,
            model=self.model,
            default_params=self.default_params,
            overridable_params=self.overridable_params,
            starter_prompts=self.starter_prompts,
            visibility=Persona.Visibility.PRIVATE,
            # A copy keeps staff's moderation: copying must not shed the check.
            moderation=self.moderation,
            moderation_on_failure=self.moderation_on_failure,
        )
        if self.avatar_image:
            with self.avatar_image.open("rb") as image:
                copy.avatar_image.save(PurePath(self.avatar_image.name).name, image, save=False)
        copy.save()
        return copy


def _delete_file_on_commit(storage, name: str) -> None:
    transaction.on_commit(lambda: storage.delete(name))


@receiver(post_delete, sender=Persona)
def _delete_avatar_file(sender, instance: Persona, **kwargs) -> None:
    # Also runs for personas deleted with their owner (cascades skip delete()).
    if instance.avatar_image:
        _delete_file_on_commit(instance.avatar_image.storage, instance.avatar_image.name)


class PersonaVersion(models.Model):
    """An immutable copy of what a persona was when it answered."""

    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    system_prompt = models.TextField(blank=True)
    model = models.ForeignKey(
        "conversations.ModelConfig", null=True, blank=True, on_delete=models.SET_NULL
    )
    default_params = models.JSONField(default=dict, blank=True)
    overridable_params = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["persona", "-version"]
        verbose_name = _("persona version")
        verbose_name_plural = _("persona versions")
        constraints = [
            models.UniqueConstraint(fields=["persona", "version"], name="unique_persona_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def snapshot(self) -> dict:
        return snapshot(self)


VERSIONED_FIELDS = ("name", "system_prompt", "model_id", "default_params", "overridable_params")


def snapshot(persona_or_version) -> dict:
    """The fields a persona version keeps, as they are on a persona or a version."""
    return {field: getattr(persona_or_version, field) for field in VERSIONED_FIELDS}


def avatar_url_for(persona_id, image_name: str) -> str:
    if not image_name:
        return ""
    # The file name changes with every upload, so it doubles as a cache buster.
    return f"{reverse('persona_avatar', args=[persona_id])}?v={PurePath(image_name).stem}"
