"""Providers (write-only keys, test connection, sync models) and their models."""

from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from conversations.admin import upstream
from conversations.catalog import reasoning_facts
from conversations.forms.providers import ModelConfigForm
from conversations.models import ModelConfig, Provider
from conversations.params import PARAM_NAMES

MASK = "••••••••"


class ProviderForm(forms.ModelForm):
    """The API key is write-only: the field never renders the stored value.

    Pointing a provider with a key at another host (or scheme) requires the
    key to be entered again, so a stored key is never sent somewhere new by
    someone who does not know it.
    """

    api_key = forms.CharField(
        label=_("API key"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Leave empty to keep the current key. Stored encrypted, never shown again."),
    )
    clear_api_key = forms.BooleanField(label=_("Remove the stored key"), required=False)

    class Meta:
        model = Provider
        fields = [
            "name",
            "base_url",
            "allow_local_network",
            "api_key",
            "clear_api_key",
            "api_key_env",
            "organization",
            "connect_timeout",
            "first_byte_timeout",
            "idle_timeout",
            "total_timeout",
            "send_stream_usage",
            "continue_final_message",
            "enabled",
            "legacy_fine_tunes",
        ]

    def clean(self) -> dict:
        cleaned = super().clean()
        if self._host_changed(cleaned) and self._keeps_old_key(cleaned):
            self.add_error(
                "api_key",
                gettext(
                    "The host changed: enter the key again (or remove it), so that a key is "
                    "never sent to a new host without someone who knows it saying so."
                ),
            )
        return cleaned

    def _host_changed(self, cleaned: dict) -> bool:
        if self.instance.pk is None or "base_url" not in cleaned:
            return False
        return _origin(self.instance.base_url) != _origin(cleaned["base_url"])

    def _keeps_old_key(self, cleaned: dict) -> bool:
        if cleaned.get("api_key"):
            return False
        stored = bool(self.instance.api_key_encrypted) and not cleaned.get("clear_api_key")
        from_env = bool(self.instance.api_key_env) and (
            cleaned.get("api_key_env") == self.instance.api_key_env
        )
        return stored or from_env

    def save(self, commit: bool = True) -> Provider:
        provider = super().save(commit=False)
        if self.cleaned_data.get("clear_api_key"):
            provider.set_api_key("")
        if self.cleaned_data.get("api_key"):
            provider.set_api_key(self.cleaned_data["api_key"])
        if commit:
            provider.save()
        return provider


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url.strip())
    return parts.scheme.lower(), parts.netloc.lower()


def key_status_text(provider: Provider) -> str:
    if provider.api_key_encrypted:
        return gettext("%(mask)s stored, encrypted") % {"mask": MASK}
    if provider.api_key_env:
        state = gettext("set") if provider.has_api_key else gettext("not set on this server")
        return gettext("from the environment variable %(name)s (%(state)s)") % {
            "name": provider.api_key_env,
            "state": state,
        }
    return gettext("none")


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ["name", "base_url", "key_status", "model_count", "enabled"]
    list_filter = ["enabled"]
    search_fields = ["name", "base_url"]
    readonly_fields = ["key_status", "last_error_at", "last_error_code", "last_error_detail"]
    actions = ["test_connection", "sync_models"]
    change_form_template = "admin/conversations/provider/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "base_url", "allow_local_network", "enabled"]}),
        (
            _("API key"),
            {"fields": ["key_status", "api_key", "clear_api_key", "api_key_env", "organization"]},
        ),
        (
            _("Timeouts (seconds)"),
            {"fields": ["connect_timeout", "first_byte_timeout", "idle_timeout", "total_timeout"]},
        ),
        (
            _("What the server supports"),
            {"fields": ["send_stream_usage", "continue_final_message", "legacy_fine_tunes"]},
        ),
        (
            _("Last error"),
            {
                "fields": ["last_error_at", "last_error_code", "last_error_detail"],
                "description": _(
                    "What the provider last failed with, as it said it (keys and passwords "
                    "redacted). People chatting only see a short message chosen by the code."
                ),
            },
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(model_count=Count("models"))

    @admin.display(description=_("API key"))
    def key_status(self, provider: Provider) -> str:
        return key_status_text(provider) if provider.pk else gettext("none")

    @admin.display(description=_("models"), ordering="model_count")
    def model_count(self, provider: Provider) -> int:
        return provider.model_count

    def has_sync_permission(self, request: HttpRequest) -> bool:
        perms = ("change_provider", "add_modelconfig", "change_modelconfig")
        return all(request.user.has_perm(f"conversations.{p}") for p in perms)

    @admin.action(description=_("Test connection (GET /v1/models)"), permissions=["change"])
    def test_connection(self, request, queryset):
        return self._test_page(request, list(queryset))

    @admin.action(description=_("Sync models from /v1/models"), permissions=["sync"])
    def sync_models(self, request, queryset):
        return self._sync_page(request, list(queryset))

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/test-connection/",
                wrap(require_POST(self.test_connection_view)),
                name="conversations_provider_test",
            ),
            path(
                "<path:object_id>/sync-models/",
                wrap(require_POST(self.sync_models_view)),
                name="conversations_provider_sync",
            ),
            *super().get_urls(),
        ]

    def test_connection_view(self, request, object_id):
        if not self.has_change_permission(request):
            raise PermissionDenied
        return self._test_page(request, [get_object_or_404(Provider, pk=object_id)])

    def sync_models_view(self, request, object_id):
        if not self.has_sync_permission(request):
            raise PermissionDenied
        return self._sync_page(request, [get_object_or_404(Provider, pk=object_id)])

    def _test_page(self, request, providers):
        outcomes = upstream.list_models(providers)
        title = gettext("Test connection")
        return self._results(request, title, [_tested(o) for o in outcomes])

    def _sync_page(self, request, providers):
        results = []
        for outcome in upstream.list_models_with_info(providers):
            result = _tested(outcome)
            if outcome.ok:
                report = ModelConfig.objects.sync_listing(outcome.subject, outcome.data)
                result["sync"], result["kinds_found"] = report, _kinds_found(report)
            results.append(result)
        return self._results(request, gettext("Sync models"), results)

    def _results(self, request, title, results):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "results": results,
            "models_url": reverse("admin:conversations_modelconfig_changelist"),
        }
        return TemplateResponse(
            request, "admin/conversations/provider/upstream_results.html", context
        )


def _kinds_found(report) -> str:
    """ "chat: 5, embedding: 2": the kinds of the models listed, most common first."""
    labels = dict(ModelConfig.Kind.choices)
    counted = sorted(report.kinds.items(), key=lambda pair: (-pair[1], pair[0]))
    return ", ".join(f"{labels.get(kind, kind)}: {count}" for kind, count in counted)


def _tested(outcome: upstream.Outcome) -> dict:
    model_ids = sorted(str(item.get("id", "")) for item in outcome.data if isinstance(item, dict))
    return {"outcome": outcome, "provider": outcome.subject, "model_ids": model_ids}


# Short marks for where a context window came from (a guess is marked apart).
SOURCE_MARKS = {
    ModelConfig.ContextSource.LISTED: _("listed"),
    ModelConfig.ContextSource.KNOWN: _("known"),
    ModelConfig.ContextSource.STAFF: _("staff"),
}
ASKED_SECTION = _("How the server is asked")
# Shown once the row exists: where its window came from, and who sees it.
ADD_SKIPS = {
    "context_window_source",
    "context_window_note",
    "visible_to_users",
    "fine_tune_lineage",
}
GUESS_NOTE = _(
    "A guess: the provider did not say. Check what the server serves (vLLM "
    "--max-model-len, llama.cpp --ctx-size divided by its --parallel slots, the "
    "provider's documentation), then enter it or choose “set by staff” to confirm it."
)


class ModelAddForm(ModelConfigForm):
    """A model staff add takes the reasoning habits of its id, before its defaults are checked."""

    def clean(self) -> dict:
        for name, value in (
            reasoning_facts(self.cleaned_data.get("model_id") or "")._asdict().items()
        ):
            setattr(self.instance, name, value)
        return super().clean()


class VisibleToUsersFilter(admin.SimpleListFilter):
    """The same rules as ``ModelConfig.objects.usable_by``, groups aside."""

    title = _("visible to users")
    parameter_name = "visible"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No, hidden"))]

    def queryset(self, request, queryset):
        kinds = (ModelConfig.Kind.CHAT, ModelConfig.Kind.IMAGE)  # what a turn may ask
        visible = Q(enabled=True, provider__enabled=True, kind__in=kinds)
        if self.value() == "yes":
            return queryset.filter(visible)
        if self.value() == "no":
            return queryset.exclude(visible)
        return queryset


@admin.register(ModelConfig)
class ModelConfigAdmin(admin.ModelAdmin):
    form = ModelConfigForm
    # What staff act on first (after a sync: which to enable) comes first, so
    # it stays on screen at 1280 px beside the filters.
    list_display = [
        "name",
        "enabled",
        "default",
        "visible_to_users",
        "kind",
        "provider",
        "context",
        "prices",
    ]
    list_display_links = ["name"]
    list_editable = ["enabled"]
    list_filter = [
        VisibleToUsersFilter,
        "provider",
        "kind",
        "enabled",
        "is_default",
        "context_window_source",
    ]
    list_select_related = ["provider"]
    search_fields = ["model_id", "display_name"]
    filter_horizontal = ["allowed_groups"]
    readonly_fields = ["visible_to_users", "context_window_note", "fine_tune_lineage"]
    actions = ["check_with_provider"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "provider",
                    "model_id",
                    "display_name",
                    "kind",
                    "enabled",
                    "is_default",
                    "visible_to_users",
                    "fine_tune_lineage",
                ]
            },
        ),
        (
            _("Limits"),
            {
                "fields": [
                    "context_window",
                    "max_output_tokens",
                    "context_window_source",
                    "context_window_note",
                ]
            },
        ),
        (
            ASKED_SECTION,
            {
                "fields": [
                    "token_limit_param",
                    "system_role",
                    "takes_reasoning_effort",
                    "supports_n",
                ],
                "description": _(
                    "Set by sync from the model's name and learnt from the server's "
                    "refusals; change them when the server wants otherwise."
                ),
            },
        ),
        (
            _("Default parameters"),
            {
                "fields": list(PARAM_NAMES),
                "description": _(
                    "Used unless the persona or the user sets them; checked by the same "
                    "rules as the chat. Leave empty for the API's own default."
                ),
            },
        ),
        (
            _("Prices per million tokens"),
            {
                "fields": [
                    "price_input_per_million",
                    "price_output_per_million",
                    "price_training_per_million",
                ]
            },
        ),
        (
            _("Who may use it"),
            {
                "fields": ["allowed_groups"],
                "description": _("No group chosen: everyone may use the model."),
            },
        ),
        (
            _("Image models"),
            {
                "fields": ["price_per_image", "image_sizes"],
                "description": _("For models of kind image: what one image costs, and sizes."),
            },
        ),
    ]

    class Media:
        css = {"all": ["css/admin-review.css", "css/admin-models.css"]}

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("allowed_groups")

    @admin.display(description=_("model"), ordering="model_id")
    def name(self, model: ModelConfig) -> str:
        if not model.display_name or model.display_name == model.model_id:
            return model.model_id
        shown = '{}<br><span class="muted">{}</span>'
        return format_html(shown, model.model_id, model.display_name)

    @admin.display(description=_("default"), boolean=True, ordering="is_default")
    def default(self, model: ModelConfig) -> bool:
        return model.is_default

    @admin.display(description=_("visible to users"))
    def visible_to_users(self, model: ModelConfig) -> str:
        if model.pk is None:
            return "—"
        reasons = model.reasons_hidden()
        if reasons:
            text = gettext("No: %(reasons)s") % {"reasons": "; ".join(str(r) for r in reasons)}
            return format_html('<span class="model-hidden">{}</span>', text)
        groups = [group.name for group in model.allowed_groups.all()]
        if groups:
            text = gettext("Only %(groups)s") % {"groups": ", ".join(sorted(groups))}
            return format_html('<span class="model-restricted">{}</span>', text)
        return format_html('<span class="model-visible">{}</span>', gettext("Everyone"))

    @admin.display(description=_("fine-tuned from"))
    def fine_tune_lineage(self, model: ModelConfig) -> str:
        from conversations.admin.finetune_jobs import lineage  # the fine-tuning admin's own words

        return lineage(model)

    @admin.display(description=_("context window"), ordering="context_window")
    def context(self, model: ModelConfig) -> str:
        source = model.context_window_source
        guessed = model.context_window_guessed
        window = format_html(
            '{} <span class="badge source-{}" title="{}">{}</span>',
            number_format(model.context_window, force_grouping=True),
            source,
            model.get_context_window_source_display(),
            gettext("guess") if guessed else SOURCE_MARKS.get(source, ""),
        )
        if not model.max_output_tokens:
            return window
        cap = number_format(model.max_output_tokens, force_grouping=True)
        output = gettext("answers up to %(tokens)s") % {"tokens": cap}
        return format_html('{}<br><span class="muted">{}</span>', window, output)

    @admin.display(description=_("price in / out per 1M"))
    def prices(self, model: ModelConfig) -> str:
        return f"{model.price_input_per_million:.2f} / {model.price_output_per_million:.2f}"

    @admin.display(description=_("check"))
    def context_window_note(self, model: ModelConfig) -> str:
        if model.context_window_guessed:
            return format_html('<span class="model-hidden">{}</span>', GUESS_NOTE)
        return gettext("Nothing to check: the value comes from %(source)s.") % {
            "source": model.get_context_window_source_display()
        }

    def get_fieldsets(self, request, obj=None):
        """A new row asks only what staff must say; the rest follows from the id."""
        if obj is not None:
            return self.fieldsets
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in ADD_SKIPS]})
            for name, options in self.fieldsets
            if name is not ASKED_SECTION
        ]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ModelAddForm
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change):
        """Limits staff type in are theirs: a sync never replaces them."""
        edited = {"context_window", "max_output_tokens"} & set(form.changed_data)
        if edited and "context_window_source" not in form.changed_data:
            obj.context_window_source = ModelConfig.ContextSource.STAFF
        super().save_model(request, obj, form, change)

    @admin.action(
        description=_("Check with the provider (GET /v1/models/{id})"), permissions=["change"]
    )
    def check_with_provider(self, request, queryset):
        models = list(queryset.select_related("provider"))
        results = []
        for outcome in upstream.retrieve_models(models):
            changed = outcome.ok and outcome.subject.refresh_from_listing(outcome.data)
            results.append({"outcome": outcome, "model": outcome.subject, "changed": changed})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Check with the provider"),
            "results": results,
        }
        return TemplateResponse(
            request, "admin/conversations/modelconfig/check_results.html", context
        )

    def response_post_save_change(self, request, obj):
        self._say_if_hidden(request, obj)
        return super().response_post_save_change(request, obj)

    def response_post_save_add(self, request, obj):
        self._say_if_hidden(request, obj)
        return super().response_post_save_add(request, obj)

    def _say_if_hidden(self, request, obj: ModelConfig) -> None:
        reasons = obj.reasons_hidden()
        if reasons:
            text = "; ".join(str(reason) for reason in reasons)
            messages.info(
                request,
                gettext("Nobody can chat with this model yet: %(reasons)s.") % {"reasons": text},
            )
