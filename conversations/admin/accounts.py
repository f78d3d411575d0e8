"""Invitations, token quotas and profiles.

An invitation's link is shown once, right after it is made: only a hash of its
token is stored. Quotas show what has been used of them today and this month.
"""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from conversations import quotas
from conversations.invitations import INVITATION_DAYS, issue
from conversations.models import Invitation, Profile, Quota


class InvitationForm(forms.ModelForm):
    days = forms.IntegerField(
        label=_("valid for (days)"), min_value=1, max_value=90, initial=INVITATION_DAYS
    )

    class Meta:
        model = Invitation
        fields = ["email", "teams"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    form = InvitationForm
    list_display = ["__str__", "created_by", "created", "expires_at", "used_by", "usable"]
    list_select_related = ["created_by", "used_by"]
    list_filter = ["created", "expires_at"]
    search_fields = ["email"]
    filter_horizontal = ["teams"]
    readonly_fields = ["created_by", "created", "expires_at", "used_at", "used_by"]

    @admin.display(boolean=True, description=_("usable"))
    def usable(self, invitation: Invitation) -> bool:
        return invitation.is_usable

    def has_change_permission(self, request, obj=None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        token = issue(obj, created_by=request.user, days=form.cleaned_data["days"])
        super().save_model(request, obj, form, change)
        link = request.build_absolute_uri(reverse("accept_invitation", args=[token]))
        messages.warning(
            request, _("Send this link to the person you invite; it is shown only now: %s") % link
        )


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    list_display = [
        "__str__", "daily_tokens", "monthly_tokens", "used_today", "used_month",
        "daily_cost", "monthly_cost", "fallback_model",
    ]  # fmt: skip
    list_select_related = ["user", "group"]
    raw_id_fields = ["user"]
    search_fields = ["user__username", "group__name"]
    autocomplete_fields = ["fallback_model"]

    def _budgets(self, quota: Quota) -> dict:
        if quota.user_id:
            owned = quotas.budgets_for(quota.user)
            return {b.period: b.used for b in owned if b.scope == "user" and b.unit == "tokens"}
        team = quotas.team_budgets(quota.group)
        return {b.period: b.used for b in team if b.unit == "tokens"}

    @admin.display(description=_("used today"))
    def used_today(self, quota: Quota):
        return self._budgets(quota).get("day", "—")

    @admin.display(description=_("used this month"))
    def used_month(self, quota: Quota):
        return self._budgets(quota).get("month", "—")


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "theme", "default_persona", "default_model"]
    list_select_related = ["user", "default_persona", "default_model"]
    raw_id_fields = ["user", "default_persona", "default_model"]
    search_fields = ["user__username"]
