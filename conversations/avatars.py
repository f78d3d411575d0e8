"""Persona avatar images, checked and re-encoded on upload.

Uploads are never stored as sent: Pillow reads them (PNG, JPEG, GIF or WebP
only; SVG and anything else is refused), and a fresh PNG of at most 256×256
pixels without metadata is written. They are served by views/media.py.
"""

import io
import uuid

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps, UnidentifiedImageError

AVATAR_MAX_BYTES = 2 * 1024 * 1024
AVATAR_MAX_SIDE = 4096  # of the uploaded image, checked before decoding it
AVATAR_SIDE = 256  # of the stored image
ACCEPTED_FORMATS = frozenset({"PNG", "JPEG", "GIF", "WEBP"})


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
