"""Uploaded media: persona avatar images, served with an access check.

Daphne does not serve MEDIA_ROOT, and avatars of private or team personas
must not be public, so images go out through this view, which asks
``access.persona_avatar_for`` first.
"""

import mimetypes

from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_GET

from conversations import access, images
from conversations.models import Persona

SERVED_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@require_GET
def persona_avatar(request: HttpRequest, persona_id) -> FileResponse:
    persona = access.persona_avatar_for(request.user, persona_id)
    return _avatar_response(persona)


def _avatar_response(persona: Persona) -> FileResponse:
    """The persona's stored image; the caller has checked who may see it."""
    name = persona.avatar_image.name
    content_type = mimetypes.guess_type(name or "")[0]
    if not name or content_type not in SERVED_TYPES:
        raise Http404("No avatar image.")
    try:
        image = persona.avatar_image.open("rb")
    except FileNotFoundError:
        raise Http404("No avatar image.") from None
    response = FileResponse(image, content_type=content_type)
    # Private: the image may belong to a team persona. The URL changes with
    # each upload, so a long lifetime is safe.
    response["Cache-Control"] = "private, max-age=86400"
    response["Content-Disposition"] = "inline"
    return response


@require_GET
def generated_image(request: HttpRequest, image_id) -> FileResponse:
    """An image an image model made, for those who may see its conversation (else 404)."""
    image = images.image_for(request.user, image_id)
    if image.content_type not in SERVED_TYPES:
        raise Http404("No such image.")
    try:
        data = image.file.open("rb")
    except FileNotFoundError:
        raise Http404("No such image.") from None
    response = FileResponse(data, content_type=image.content_type)
    # Private: only some people may see it. An image never changes under its URL.
    response["Cache-Control"] = "private, max-age=86400"
    response["Content-Disposition"] = "inline"
    response["X-Content-Type-Options"] = "nosniff"
    return response
