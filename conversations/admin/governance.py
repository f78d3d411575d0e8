"""Site settings (prompt, review policy) and the read-only audit log."""

import json
import uuid

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from conversations import review
from conversations.admin.lists import CreatedFilter, EstimatedCountPaginator, ReadOnlyAdminMixin
from conversations.models import AuditEntry, SiteSettings


@admin.register(SiteSettings)
class SiteSettingsAdmin(admin.ModelAdmin):
    fieldsets = [
        (
            _("Site-wide system prompt"),
            {
                "fields": ["system_prompt"],
                "description": _(
                    "The prompt order is fixed: this prompt (when set), then the persona's, "
                    "then the conversation."
                ),
            },
        ),
        (
            _("History review"),
            {
                "fields": ["review_policy", "tell_owners_of_readings"],
                "description": _(
                    "Who may read other people's conversations. Reading also needs the "
                    "“Can read other people's conversations” permission, and every reading "
                    "is written to the audit log. Users are shown the policy in force."
                ),
            },
        ),
        (
            _("Accounts and quotas"),
            {
                "fields": [
                    "open_signup",
                    "team_invitations_create_accounts",
                    "default_daily_tokens",
                    "default_monthly_tokens",
                    "default_daily_cost",
                    "default_monthly_cost",
                    "budget_fallback_model",
                ]
            },
        ),
        (_("Fine-tuning"), {"fields": ["enable_fine_tuned_models"]}),
        (
            _("Moderation"),
            {
                "fields": [
                    "moderation_enabled",
                    "moderation_provider",
                    "moderation_model",
                    "moderation_on_failure",
                    "moderate_answers",
                ],
                "description": _(
                    "Messages are checked with the provider's moderations endpoint before the "
                    "model sees them; a flagged message is not sent and its conversation is "
                    "flagged for review. Nothing is checked until a provider is chosen."
                ),
            },
        ),
    ]

    def has_add_permission(self, request) -> bool:
        return False  # one row, created on first visit

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        settings = SiteSettings.load()
        return HttpResponseRedirect(
            reverse("admin:conversations_sitesettings_change", args=[settings.pk])
        )

    def save_model(self, request, obj, form, change) -> None:
        previous = SiteSettings.objects.filter(pk=obj.pk).values_list("review_policy", flat=True)
        old_policy = previous.first() or SiteSettings.ReviewPolicy.OFF
        super().save_model(request, obj, form, change)
        if old_policy != obj.review_policy:
            review.record_policy_change(request.user, old_policy, obj.review_policy)
        if "tell_owners_of_readings" in form.changed_data:
            review.record_telling_change(request.user, obj.tell_owners_of_readings)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Readable by staff with "view audit log entry"; nobody adds, changes or deletes."""

    list_display = [
        "created", "actor_username", "action", "owner_username", "conversation_link", "policy",
        "details_text",
    ]  # fmt: skip
    list_filter = ["action", "policy", CreatedFilter]
    search_fields = ["actor_username", "owner_username"]
    search_help_text = _("A username (who looked, or whose conversation), or a conversation id.")
    fields = list_display
    readonly_fields = list_display
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    list_per_page = 100

    class Media:
        css = {"all": ["css/admin-review.css"]}

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(conversation_id=uuid.UUID(term)), False
        except ValueError:
            pass
        return queryset.filter(actor_username=term) | queryset.filter(owner_username=term), False

    @admin.display(description=_("conversation"))
    def conversation_link(self, entry: AuditEntry) -> str:
        if entry.conversation_id is None:
            return "—"
        url = reverse("admin:conversations_conversation_change", args=[entry.conversation_id])
        return format_html('<a href="{}">{}</a>', url, str(entry.conversation_id)[:8])

    @admin.display(description=_("details"))
    def details_text(self, entry: AuditEntry) -> str:
        return json.dumps(entry.details, ensure_ascii=False, sort_keys=True)
