"""Teams in the admin: global staff see every team and set its roles.

Team owners and admins manage their own team on the product's team pages
(/teams/); this is where staff name a team's first owner.
"""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from conversations import teams
from conversations.models import Team, TeamRole


class TeamRoleForm(forms.ModelForm):
    class Meta:
        model = TeamRole
        fields = ["user", "role"]

    def clean_user(self):
        user = self.cleaned_data["user"]
        team = self.instance.team if self.instance.team_id else None
        if team is not None and not team.group.user_set.filter(pk=user.pk).exists():
            raise forms.ValidationError(_("Only a member of the team's group can have a role."))
        return user


class TeamRoleInline(admin.TabularInline):
    model = TeamRole
    form = TeamRoleForm
    extra = 1
    raw_id_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["__str__", "owners", "members", "created"]
    list_select_related = ["group"]
    search_fields = ["group__name"]
    readonly_fields = ["group", "created"]
    inlines = [TeamRoleInline]

    def has_add_permission(self, request) -> bool:
        return False  # a team is made by creating its group

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # and goes with its group

    def save_formset(self, request, form, formset, change) -> None:
        """Staff's role changes are audited like a team owner's on the team page."""
        before = {role.pk: role.role for role in formset.queryset}
        super().save_formset(request, form, formset, change)
        team = form.instance
        for role in formset.new_objects + [obj for obj, _fields in formset.changed_objects]:
            details = {"from": before.get(role.pk, "member"), "to": role.role, "by": "staff"}
            teams.record(request.user, "role", team, user=role.user, details=details)
        for role in formset.deleted_objects:
            details = {"from": before.get(role.pk, role.role), "to": "member", "by": "staff"}
            teams.record(request.user, "role", team, user=role.user, details=details)

    @admin.display(description=_("owners"))
    def owners(self, team: Team) -> str:
        names = team.roles.filter(role=TeamRole.Role.OWNER).values_list("user__username", flat=True)
        return ", ".join(names) or "—"

    @admin.display(description=_("members"))
    def members(self, team: Team) -> int:
        return team.group.user_set.count()
