"""Providers (write-only keys, test connection, sync models) and their models."""

from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from conversations.admin import upstream
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
            "enabled",
        ]

    def clean(self) -> dict:
        cleaned = super().clean()
        if self._host_changed(cleaned) and self._keeps_old_key(cleaned):
            self.add_error(
                "api_key",
                _t(
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
        return _t("%(mask)s stored, encrypted") % {"mask": MASK}
    if provider.api_key_env:
        state = _t("set") if provider.has_api_key else _t("not set on this server")
        return _t("from the environment variable %(name)s (%(state)s)") % {
            "name": provider.api_key_env,
            "state": state,
        }
    return _t("none")


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
        return key_status_text(provider) if provider.pk else _t("none")

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
        title = _t("Test connection")
        return self._results(request, title, [_tested(o) for o in outcomes])

    def _sync_page(self, request, providers):
        results = []
        for outcome in upstream.list_models(providers):
            result = _tested(outcome)
            if outcome.ok:
                result["sync"] = ModelConfig.objects.sync_listing(outcome.subject, outcome.data)
            results.append(result)
        return self._results(request, _t("Sync models"), results)

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


def _tested(outcome: upstream.Outcome) -> dict:
    model_ids = sorted(str(item.get("id", "")) for item in outcome.data if isinstance(item, dict))
    return {"outcome": outcome, "provider": outcome.subject, "model_ids": model_ids}


@admin.register(ModelConfig)
class ModelConfigAdmin(admin.ModelAdmin):
    form = ModelConfigForm
    list_display = [
        "__str__",
        "model_id",
        "provider",
        "kind",
        "context_window",
        "max_output_tokens",
        "price_input_per_million",
        "price_output_per_million",
        "enabled",
        "is_default",
    ]
    list_editable = ["enabled"]
    list_filter = ["provider", "kind", "enabled", "is_default"]
    list_select_related = ["provider"]
    search_fields = ["model_id", "display_name"]
    filter_horizontal = ["allowed_groups"]
    actions = ["check_with_provider"]
    fieldsets = [
        (
            None,
            {"fields": ["provider", "model_id", "display_name", "kind", "enabled", "is_default"]},
        ),
        (_("Limits"), {"fields": ["context_window", "max_output_tokens"]}),
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
            {"fields": ["price_input_per_million", "price_output_per_million"]},
        ),
        (
            _("Who may use it"),
            {
                "fields": ["allowed_groups"],
                "description": _("No group chosen: everyone may use the model."),
            },
        ),
    ]

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
            "title": _t("Check with the provider"),
            "results": results,
        }
        return TemplateResponse(
            request, "admin/conversations/modelconfig/check_results.html", context
        )

    def response_post_save_change(self, request, obj):
        if not obj.enabled:
            messages.info(request, _t("This model is disabled: nobody can chat with it yet."))
        return super().response_post_save_change(request, obj)
