from django.urls import include, path

from conversations.views import accounts, chat, documents, portability
from conversations.views import readings as readings_views
from conversations.views import sharing as sharing_views
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
    path("readings/dismiss", readings_views.dismiss_readings, name="dismiss_readings"),
    path("teams/", include("conversations.team_urls")),
]

# Portability: export, import and read-only sharing (conversations.views.portability, .sharing).
urlpatterns += [
    path("export/", portability.export_page, name="export"),
    path("import/", portability.import_page, name="import"),
    path("c/<uuid:conversation_id>/share/", sharing_views.share_page, name="share"),
    path("shared/", sharing_views.shared_list, name="shared_list"),
    path(
        "shared/c/<uuid:conversation_id>/",
        sharing_views.shared_with_team,
        name="shared_conversation",
    ),
    path("s/<str:token>/", sharing_views.shared_link, name="shared_link"),
]

# Completion documents (conversations.views.documents; the turn is turn.completion).
urlpatterns += [
    path("documents/new/", documents.new_document, name="new_document"),
    path("documents/<uuid:conversation_id>/", documents.document_page, name="document"),
]
from conversations.views import media  # noqa: E402

urlpatterns += [path("images/<uuid:image_id>", media.generated_image, name="generated_image")]
