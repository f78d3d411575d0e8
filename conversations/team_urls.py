"""URLs of the team pages (mounted at /teams/)."""

from django.urls import path

from conversations.views import teams

urlpatterns = [
    path("", teams.team_list, name="teams"),
    path("<uuid:team_id>/", teams.team_detail, name="team_detail"),
    path("<uuid:team_id>/invite/", teams.team_invite, name="team_invite"),
    path("<uuid:team_id>/leave/", teams.team_leave, name="team_leave"),
    path("<uuid:team_id>/members/<int:user_id>/remove/", teams.team_remove, name="team_remove"),
    path("<uuid:team_id>/members/<int:user_id>/role/", teams.team_set_role, name="team_set_role"),
    path(
        "<uuid:team_id>/personas/<uuid:persona_id>/unshare/",
        teams.team_unshare_persona,
        name="team_unshare_persona",
    ),
]
