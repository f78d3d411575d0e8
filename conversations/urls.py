from django.urls import include, path

from conversations.views import accounts, chat
from conversations.views.api import conversations as conversation_api
from conversations.views.api import profile as profile_api
from conversations.views.api import tokens as token_api

urlpatterns = [
    path("", chat.home, name="home"),
    path("c/<uuid:conversation_id>/", chat.conversation_page, name="conversation"),
    path("api/tokens/count", token_api.count_tokens, name="count_tokens"),
    path("api/conversations", conversation_api.conversation_list, name="conversation_list"),
    path(
        "api/conversations/<uuid:conversation_id>",
        conversation_api.conversation_detail,
        name="conversation_detail",
    ),
    path("api/profile", profile_api.profile, name="profile_api"),
    path("settings/", accounts.settings_page, name="settings"),
    path("personas/", include("conversations.persona_urls")),
    path("teams/", include("conversations.team_urls")),
]
