"""Personas in the admin: every persona, with the same form and rules as the pages."""

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from conversations.admin.lists import ReadOnlyAdminMixin
from conversations.forms.personas import PersonaForm
from conversations.models import Persona, PersonaVersion
from conversations.params import PARAM_NAMES


class PersonaVersionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PersonaVersion
    fields = ["version", "name", "model", "default_params", "overridable_params", "created"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None) -> bool:
        # Versions are part of the persona: whoever may see it sees its history.
        user = request.user
        return user.has_perm("conversations.view_persona") or user.has_perm(
            "conversations.change_persona"
        )


@admin.register(Persona)
class PersonaAdmin(admin.ModelAdmin):
    form = PersonaForm
    list_display = ["name_with_avatar", "owner", "visibility", "team_names", "model", "version"]
    list_display += ["updated"]
    list_filter = ["visibility", "teams", "model"]
    list_select_related = ["owner", "model"]
    search_fields = ["name", "description", "owner__username"]
    raw_id_fields = ["owner"]
    readonly_fields = ["avatar_preview", "version", "created", "updated"]
    inlines = [PersonaVersionInline]
    fieldsets = [
        (None, {"fields": ["owner", "name", "description"]}),
        (
            _("Avatar"),
            {"fields": ["avatar_preview", "avatar", "avatar_upload", "remove_avatar_image"]},
        ),
        (
            _("How it answers"),
            {"fields": ["system_prompt", "model", "starter_prompts", "prompt_template"]},
        ),
        (
            _("Default parameters"),
            {
                "fields": [*PARAM_NAMES, "overridable_params"],
                "description": _(
                    "Checked by the same rules as the chat. Parameters not ticked in "
                    "“Parameters users may change” are fixed for everyone."
                ),
            },
        ),
        (_("Who can use it"), {"fields": ["visibility", "teams"]}),
        (_("Moderation"), {"fields": ["moderation", "moderation_on_failure"]}),
        (_("History"), {"fields": ["version", "created", "updated"]}),
    ]

    # For staff who may only look: the stored values, not the editing fields.
    view_fieldsets = [
        (None, {"fields": ["owner", "name", "description"]}),
        (_("Avatar"), {"fields": ["avatar_preview", "avatar"]}),
        (
            _("How it answers"),
            {"fields": ["system_prompt", "model", "starter_prompts", "prompt_template"]},
        ),
        (_("Default parameters"), {"fields": ["default_params", "overridable_params"]}),
        (_("Who can use it"), {"fields": ["visibility", "teams"]}),
        (_("Moderation"), {"fields": ["moderation", "moderation_on_failure"]}),
        (_("History"), {"fields": ["version", "created", "updated"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        if obj is not None and not self.has_change_permission(request, obj):
            return self.view_fieldsets
        return super().get_fieldsets(request, obj)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset.defer("system_prompt").prefetch_related("teams")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"editor": request.user})

    @admin.display(description=_("name"), ordering="name")
    def name_with_avatar(self, persona: Persona) -> str:
        return f"{persona.avatar} {persona.name}".strip()

    @admin.display(description=_("teams"))
    def team_names(self, persona: Persona) -> str:
        return ", ".join(team.name for team in persona.teams.all())

    @admin.display(description=_("current image"))
    def avatar_preview(self, persona: Persona) -> str:
        if not persona.avatar_url:
            return "—"
        return format_html(
            '<img src="{}" alt="" width="64" height="64" class="persona-avatar-preview">',
            persona.avatar_url,
        )
