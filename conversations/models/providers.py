"""Upstream providers (any OpenAI-compatible base URL) and the models they serve."""

import json
import os
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conversations import catalog, keys
from conversations.llm import address
from conversations.params import ModelLimits, ParamsInvalid, is_image_size, validate_params

TIMEOUT_VALIDATORS = [MinValueValidator(0.1), MaxValueValidator(3600)]
LAST_ERROR_DETAIL_CHARS = 1000


# A provider created without timeouts takes the server's LLM_*_TIMEOUT settings.
def default_connect_timeout() -> float:
    return settings.LLM_CONNECT_TIMEOUT


def default_first_byte_timeout() -> float:
    return settings.LLM_FIRST_BYTE_TIMEOUT


def default_idle_timeout() -> float:
    return settings.LLM_IDLE_TIMEOUT


def default_total_timeout() -> float:
    return settings.LLM_TOTAL_TIMEOUT


class Provider(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    base_url = models.CharField(
        _("base URL"),
        max_length=500,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text=_("The API root, e.g. https://api.openai.com/v1 or http://localhost:11434/v1"),
    )
    api_key_env = models.CharField(
        _("API key environment variable"),
        max_length=100,
        blank=True,
        help_text=_("Read the key from this environment variable of the server process."),
    )
    # Write-only: set through set_api_key(), never rendered back.
    api_key_encrypted = models.TextField(blank=True, editable=False)
    organization = models.CharField(_("organization"), max_length=200, blank=True)
    allow_local_network = models.BooleanField(
        _("allow local network"),
        default=False,
        help_text=_(
            "Let the base URL reach loopback and private addresses (127.0.0.1, 10.x, "
            "192.168.x, fc00::/7…), e.g. Ollama or vLLM on this machine or the LAN. "
            "Link-local and cloud metadata addresses (169.254.x, fe80::, fd00:ec2::254) "
            "are refused always. Checked on every connection, after DNS."
        ),
    )
    connect_timeout = models.FloatField(
        _("connect timeout (s)"), default=default_connect_timeout, validators=TIMEOUT_VALIDATORS
    )
    first_byte_timeout = models.FloatField(
        _("first-token timeout (s)"),
        default=default_first_byte_timeout,
        validators=TIMEOUT_VALIDATORS,
    )
    idle_timeout = models.FloatField(
        _("idle timeout between chunks (s)"),
        default=default_idle_timeout,
        validators=TIMEOUT_VALIDATORS,
    )
    total_timeout = models.FloatField(
        _("total timeout (s)"), default=default_total_timeout, validators=TIMEOUT_VALIDATORS
    )
    send_stream_usage = models.BooleanField(
        _("ask for usage in streams"),
        default=True,
        help_text=_(
            "Send stream_options.include_usage so streamed answers report exact token "
            "counts. Some OpenAI-compatible servers refuse it: chatsite then retries "
            "without it and turns this off by itself."
        ),
    )
    continue_final_message = models.BooleanField(
        _("continues the last answer itself"),
        default=False,
        help_text=_(
            "The server continues a cut-off answer from its last word when asked with "
            "continue_final_message (vLLM). Otherwise chatsite asks the model to go on "
            "and joins the two parts."
        ),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    legacy_fine_tunes = models.BooleanField(
        _("legacy fine-tunes endpoint"),
        default=False,
        help_text=_(
            "Fine-tune through the older /v1/fine-tunes endpoint (flat parameters, "
            "classification options) instead of /v1/fine_tuning/jobs."
        ),
    )
    # What the provider last answered with an error (staff only: may name its internals).
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True, editable=False)
    last_error_code = models.CharField(
        _("last error code"), max_length=64, blank=True, editable=False
    )
    last_error_detail = models.TextField(_("last error detail"), blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("provider")
        verbose_name_plural = _("providers")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.api_key_env and not self.api_key_env.replace("_", "").isalnum():
            raise ValidationError({"api_key_env": _("Use a variable name like OPENAI_API_KEY.")})
        if self.idle_timeout > self.total_timeout:
            raise ValidationError({"idle_timeout": _("Cannot exceed the total timeout.")})
        self._check_address()

    def _check_address(self) -> None:
        """Refuse what the URL's text already shows; names are checked on connecting."""
        kind = address.url_kind(self.base_url or "")
        if kind == "refused":
            message = _(
                "This address is never allowed: link-local and cloud metadata addresses "
                "(169.254.x, fe80::, fd00:ec2::254), 0.0.0.0 and multicast can leak the "
                "server's credentials and never host a provider."
            )
            raise ValidationError({"base_url": message})
        if kind == "local" and not self.allow_local_network:
            message = _(
                "This is a loopback or private network address: tick “allow local network” "
                "if this provider really runs there."
            )
            raise ValidationError({"base_url": message})

    def record_error(self, *, code: str, detail: str) -> None:
        """Keep the provider's last failure for its admin page (``detail`` redacted)."""
        self.last_error_at = timezone.now()
        self.last_error_code = code[:64]
        self.last_error_detail = detail[:LAST_ERROR_DETAIL_CHARS]
        Provider.objects.filter(pk=self.pk).update(
            last_error_at=self.last_error_at,
            last_error_code=self.last_error_code,
            last_error_detail=self.last_error_detail,
        )

    def set_api_key(self, raw_key: str) -> None:
        self.api_key_encrypted = keys.encrypt(raw_key) if raw_key else ""

    @property
    def has_api_key(self) -> bool:
        return bool(
            self.api_key_encrypted or (self.api_key_env and os.environ.get(self.api_key_env))
        )

    def get_api_key(self) -> str:
        """The key to send upstream; the stored one wins over the variable."""
        if self.api_key_encrypted:
            return keys.decrypt(self.api_key_encrypted)
        return os.environ.get(self.api_key_env, "") if self.api_key_env else ""


@dataclass
class SyncReport:
    """What syncing a provider's /v1/models listing did, by model id."""

    created: list[str] = field(default_factory=list)  # new rows, all disabled
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # rows the provider no longer lists
    reclassified: list[str] = field(default_factory=list)  # kind corrected by this sync
    guessed: list[str] = field(default_factory=list)  # new chat rows whose window is a guess
    kinds: dict[str, int] = field(default_factory=dict)  # kind → models listed of that kind


class ModelConfigQuerySet(models.QuerySet):
    def usable_by(self, user, kinds: tuple[str, ...] = ("chat",)) -> "ModelConfigQuerySet":
        """Enabled models of ``kinds`` (chat unless asked) of enabled providers that the
        user's groups may use."""
        usable = self.filter(enabled=True, provider__enabled=True, kind__in=kinds)
        if user.is_superuser:
            return usable
        open_to_all = Q(allowed_groups__isnull=True)
        return usable.filter(open_to_all | Q(allowed_groups__in=user.groups.all())).distinct()

    def completions_usable_by(self, user) -> "ModelConfigQuerySet":
        """Enabled completion models of enabled providers that the user's groups may use."""
        usable = self.filter(enabled=True, provider__enabled=True, kind=ModelConfig.Kind.COMPLETION)
        if user.is_superuser:
            return usable
        open_to_all = Q(allowed_groups__isnull=True)
        return usable.filter(open_to_all | Q(allowed_groups__in=user.groups.all())).distinct()

    def sync_listing(self, provider: "Provider", listing: list[dict]) -> SyncReport:
        """Create a row for each listed model, and refresh what the listing says.

        New rows start disabled: a provider may list dozens of models (audio,
        images, previews) and staff choose which ones people see. Rows the
        provider stopped listing are reported, never deleted. An existing row
        keeps what staff set (see ``refresh_from_listing``).
        """
        report = SyncReport()
        existing = {row.model_id: row for row in self.filter(provider=provider)}
        listed = {item["id"]: item for item in listing if _is_listed_model(item)}
        for model_id, item in sorted(listed.items()):
            row = existing.get(model_id) or self._create_from_listing(provider, model_id, item)
            report.kinds[row.kind] = report.kinds.get(row.kind, 0) + 1
            if model_id not in existing:
                report.created.append(model_id)
                if row.context_window_guessed and row.kind == ModelConfig.Kind.CHAT:
                    report.guessed.append(model_id)  # the window matters only for chat
            elif row.refresh_from_listing(item):
                report.updated.append(model_id)
                if row.kind_corrected:
                    report.reclassified.append(model_id)
            else:
                report.unchanged.append(model_id)
        report.missing = sorted(set(existing) - set(listed))
        return report

    def _create_from_listing(self, provider: "Provider", model_id: str, item: dict):
        facts = catalog.facts_for(model_id, item)
        return self.create(
            provider=provider,
            model_id=model_id,
            kind=catalog.kind_for(model_id, item),
            context_window=facts.context_window,
            max_output_tokens=facts.max_output_tokens,
            context_window_source=facts.source,
            **catalog.reasoning_facts(model_id)._asdict(),
            enabled=False,
        )


def _is_listed_model(item: dict) -> bool:
    model_id = item.get("id")
    return isinstance(model_id, str) and 0 < len(model_id) <= 200


# Better sources of a context window replace worse ones; staff's never.
SOURCE_RANK = {"guessed": 0, "known": 1, "listed": 2, "staff": 3}
# The admin logs changed fields by their untranslated labels.
KIND_LABEL = "Kind"


def _changed_fields(entry) -> set[str]:
    try:
        changes = json.loads(entry.change_message or "[]")
    except ValueError:
        return set()
    parts = changes if isinstance(changes, list) else []
    changed = [part.get("changed") for part in parts if isinstance(part, dict)]
    return {name for part in changed if isinstance(part, dict) for name in part.get("fields") or []}


class ModelConfig(models.Model):
    class ContextSource(models.TextChoices):
        LISTED = "listed", _("the provider's model listing")
        KNOWN = "known", _("well-known model name")
        GUESSED = "guessed", _("a guess")
        STAFF = "staff", _("set by staff")

    class TokenLimitParam(models.TextChoices):
        MAX_TOKENS = "max_tokens", "max_tokens"
        MAX_COMPLETION_TOKENS = "max_completion_tokens", "max_completion_tokens"

    class SystemRole(models.TextChoices):
        SYSTEM = "system", "system"
        DEVELOPER = "developer", "developer"

    class Kind(models.TextChoices):
        CHAT = "chat", _("chat")
        COMPLETION = "completion", _("completion")
        IMAGE = "image", _("image")
        EMBEDDING = "embedding", _("embedding")
        OTHER = "other", _("other")

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="models")
    model_id = models.CharField(
        _("model id"), max_length=200, help_text=_("As the provider names it, e.g. gpt-4o-mini")
    )
    display_name = models.CharField(_("display name"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.CHAT)
    context_window = models.PositiveIntegerField(
        _("context window"), default=8192, validators=[MinValueValidator(16)]
    )
    context_window_source = models.CharField(
        _("context window from"),
        max_length=10,
        choices=ContextSource.choices,
        default=ContextSource.STAFF,
        help_text=_("Where the context window came from; a guess should be checked."),
    )
    max_output_tokens = models.PositiveIntegerField(
        _("max output tokens"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    supports_n = models.BooleanField(
        _("gives several answers"),
        default=True,
        help_text=_(
            "The server honours n (several answers to one message). Turned off by itself "
            "when the server answers n=2 with one choice."
        ),
    )
    token_limit_param = models.CharField(
        _("answer length parameter"),
        max_length=24,
        choices=TokenLimitParam.choices,
        default=TokenLimitParam.MAX_TOKENS,
        help_text=_(
            "Reasoning models (o-series, gpt-5) take max_completion_tokens; learnt from "
            "the server's 400 when it refuses max_tokens."
        ),
    )
    system_role = models.CharField(
        _("role of the system prompt"),
        max_length=10,
        choices=SystemRole.choices,
        default=SystemRole.SYSTEM,
        help_text=_("Reasoning models want the developer role for instructions."),
    )
    takes_reasoning_effort = models.BooleanField(
        _("takes a reasoning effort"),
        default=False,
        help_text=_("The model accepts reasoning_effort (o-series, gpt-5)."),
    )
    default_params = models.JSONField(_("default parameters"), default=dict, blank=True)
    price_input_per_million = models.DecimalField(
        _("price per 1M input tokens"), max_digits=12, decimal_places=6, default=Decimal(0)
    )
    price_output_per_million = models.DecimalField(
        _("price per 1M output tokens"), max_digits=12, decimal_places=6, default=Decimal(0)
    )
    price_training_per_million = models.DecimalField(
        _("training price per 1M tokens"), max_digits=12, decimal_places=6, default=Decimal(0)
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    is_default = models.BooleanField(_("default model"), default=False)
    allowed_groups = models.ManyToManyField(
        Group,
        verbose_name=_("allowed groups"),
        blank=True,
        help_text=_("Leave empty to let everyone use the model."),
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    # Image models (kind "image"): what one generated image costs, and the sizes
    # this model takes beyond the API's three (e.g. ["1792x1024"]).
    price_per_image = models.DecimalField(
        _("price per image"), max_digits=12, decimal_places=6, default=Decimal(0)
    )
    image_sizes = models.JSONField(
        _("extra image sizes"),
        default=list,
        blank=True,
        help_text=_(
            "Sizes this image model takes besides 256x256, 512x512 and 1024x1024, "
            'e.g. ["1792x1024"].'
        ),
    )

    objects = ModelConfigQuerySet.as_manager()

    class Meta:
        ordering = ["provider__name", "model_id"]
        verbose_name = _("model")
        verbose_name_plural = _("models")
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "model_id"], name="unique_model_per_provider"
            ),
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_model"
            ),
            models.CheckConstraint(
                condition=Q(max_output_tokens__isnull=True)
                | Q(max_output_tokens__lt=models.F("context_window")),
                name="max_output_below_context_window",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name or self.model_id

    @property
    def limits(self) -> ModelLimits:
        return ModelLimits(
            self.model_id,
            self.context_window,
            self.max_output_tokens,
            takes_reasoning_effort=self.takes_reasoning_effort,
            # Only OpenAI's reasoning models (o-series, gpt-5) refuse max_tokens, and
            # they refuse sampling settings too (gpt-oss on vLLM takes both).
            reasoning_model=self.token_limit_param == self.TokenLimitParam.MAX_COMPLETION_TOKENS,
            supports_n=self.supports_n,
        )

    def clean(self) -> None:
        if self.max_output_tokens and self.max_output_tokens >= self.context_window:
            raise ValidationError(
                {"max_output_tokens": _("Must be smaller than the context window.")}
            )
        try:
            self.default_params = validate_params(self.default_params, self.limits)
        except ParamsInvalid as error:
            raise ValidationError({"default_params": str(error)}) from None
        sizes = self.image_sizes
        if not isinstance(sizes, list) or not all(is_image_size(s) for s in sizes):
            raise ValidationError(
                {"image_sizes": _('A list of sizes written WIDTHxHEIGHT, e.g. ["1792x1024"].')}
            )

    def refresh_from_listing(self, item: dict) -> bool:
        """Take what the provider now says about the model; True if anything changed.

        The limits follow a better or equally good source (the listing beats a
        well-known name, which beats a guess) but never what staff set. The kind
        is corrected only while it is still what the old sync rule guessed from
        the id and staff never chose it in the admin.
        """
        limits_changed = self._refresh_limits(catalog.facts_for(self.model_id, item))
        self.kind_corrected = self._correct_kind(catalog.kind_for(self.model_id, item))
        if not (limits_changed or self.kind_corrected):
            return False
        fields = ["context_window", "max_output_tokens", "context_window_source", "kind"]
        self.save(update_fields=[*fields, "updated"])
        return True

    kind_corrected = False  # set by refresh_from_listing, for the sync report

    @property
    def context_window_guessed(self) -> bool:
        return self.context_window_source == self.ContextSource.GUESSED

    def _refresh_limits(self, facts: catalog.ModelFacts) -> bool:
        stored, offered = SOURCE_RANK[self.context_window_source], SOURCE_RANK[facts.source]
        if offered < stored or self.context_window_source == self.ContextSource.STAFF:
            return False
        if offered == stored == SOURCE_RANK["guessed"] and (
            facts.context_window >= self.context_window
        ):
            return False  # one guess replaces another only to be safer
        new = (facts.context_window, facts.max_output_tokens, facts.source)
        if new == (self.context_window, self.max_output_tokens, self.context_window_source):
            return False
        self.context_window, self.max_output_tokens, self.context_window_source = new
        return True

    def _correct_kind(self, kind: str) -> bool:
        if self.kind == kind or self.kind != catalog.kind_by_old_rule(self.model_id):
            return False
        if self.kind_chosen_by_staff():
            return False
        self.kind = kind
        return True

    def kind_chosen_by_staff(self) -> bool:
        """Staff added this row, or changed its kind, in the admin (its change log says)."""
        from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
        from django.contrib.contenttypes.models import ContentType

        entries = LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(ModelConfig),
            object_id=str(self.pk),
            action_flag__in=[ADDITION, CHANGE],
        )
        return any(
            entry.action_flag == ADDITION or KIND_LABEL in _changed_fields(entry)
            for entry in entries
        )

    def reasons_hidden(self) -> list[str]:
        """Why people cannot chat with this model (empty: they can), as ``usable_by`` rules."""
        reasons = []
        if not self.enabled:
            reasons.append(_("disabled"))
        if not self.provider.enabled:
            reasons.append(_("provider disabled"))
        if self.kind not in (self.Kind.CHAT, self.Kind.IMAGE):  # image: conversations.turn.images
            kind = self.get_kind_display()
            reasons.append(_("not a chat model (%(kind)s)") % {"kind": kind})
        return reasons

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        million = Decimal(1_000_000)
        return (
            self.price_input_per_million * prompt_tokens
            + self.price_output_per_million * completion_tokens
        ) / million


def default_model_for(user) -> ModelConfig | None:
    usable = ModelConfig.objects.usable_by(user).select_related("provider")
    return usable.filter(is_default=True).first() or usable.order_by("pk").first()
