"""Persona avatar images: checked and re-encoded on upload, served with an access check.

Daphne does not serve MEDIA_ROOT, and avatars of private or team personas
must not be public, so images go out through a view that asks
``access.persona_avatar_for`` first. Uploads are never stored as sent: Pillow
reads them (PNG, JPEG, GIF or WebP only; SVG and anything else is refused),
and a fresh PNG of at most 256×256 pixels without metadata is written.
"""

import io
import mimetypes
import uuid

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.http import FileResponse, Http404
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps, UnidentifiedImageError

AVATAR_MAX_BYTES = 2 * 1024 * 1024
AVATAR_MAX_SIDE = 4096  # of the uploaded image, checked before decoding it
AVATAR_SIDE = 256  # of the stored image
ACCEPTED_FORMATS = frozenset({"PNG", "JPEG", "GIF", "WEBP"})
SERVED_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def clean_avatar(upload) -> ContentFile:
    """A safe PNG made from the upload, or ValidationError saying what is wrong."""
    if upload.size > AVATAR_MAX_BYTES:
        raise ValidationError(
            _("The image is larger than %(size)s MB.") % {"size": AVATAR_MAX_BYTES // 2**20}
        )
    if _looks_like_svg(upload):
        raise ValidationError(_("SVG images are not accepted; upload a PNG, JPEG, GIF or WebP."))
    try:
        _check_header(upload)
        data = _reencoded(upload)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        raise ValidationError(_("This is not a PNG, JPEG, GIF or WebP image.")) from None
    return ContentFile(data, name=f"{uuid.uuid4().hex}.png")


def _looks_like_svg(upload) -> bool:
    upload.seek(0)
    start = upload.read(512).lstrip().lower()
    upload.seek(0)
    named_svg = (upload.name or "").lower().endswith((".svg", ".svgz"))
    return named_svg or start.startswith((b"<?xml", b"<svg", b"<!doctype svg"))


def _check_header(upload) -> None:
    """Format and size from the header alone, before any pixel is decoded."""
    upload.seek(0)
    with Image.open(upload) as image:
        if image.format not in ACCEPTED_FORMATS:
            raise ValidationError(_("Upload a PNG, JPEG, GIF or WebP image."))
        width, height = image.size
        if width > AVATAR_MAX_SIDE or height > AVATAR_MAX_SIDE:
            raise ValidationError(
                _("The image is larger than %(side)s×%(side)s pixels.") % {"side": AVATAR_MAX_SIDE}
            )
        image.verify()


def _reencoded(upload) -> bytes:
    upload.seek(0)
    with Image.open(upload) as image:
        image.seek(0)  # the first frame of an animation
        picture = ImageOps.exif_transpose(image).convert("RGBA")
    picture.thumbnail((AVATAR_SIDE, AVATAR_SIDE))
    output = io.BytesIO()
    picture.save(output, format="PNG", optimize=True)
    return output.getvalue()


def avatar_response(persona) -> FileResponse:
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
