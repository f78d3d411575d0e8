"""URLs of the persona pages (mounted at /personas/)."""

from django.urls import path

from conversations.views import media, personas

urlpatterns = [
    path("", personas.persona_list, name="personas"),
    path("new/", personas.persona_create, name="persona_create"),
    path("logit-bias/", personas.logit_bias_preview, name="logit_bias_preview"),
    path("<uuid:persona_id>/", personas.persona_detail, name="persona_detail"),
    path("<uuid:persona_id>/edit/", personas.persona_edit, name="persona_edit"),
    path("<uuid:persona_id>/duplicate/", personas.persona_duplicate, name="persona_duplicate"),
    path("<uuid:persona_id>/delete/", personas.persona_delete, name="persona_delete"),
    path("<uuid:persona_id>/avatar/", media.persona_avatar, name="persona_avatar"),
]
