"""Generated images as the product's own files: stored, listed, served, deleted.

Files go through Django's storage API (``default_storage``): local disk under
MEDIA_ROOT by default, shared storage in a team deployment (docs/deployment.md).
A file's name is random; what decides who may read it is the row's answer's
conversation (``image_for``), never the name. Deleting a conversation (or an
answer, or a user) deletes the rows by cascade, and each row's file once the
transaction commits (the receiver below, registered in apps.py).
"""

import base64
import logging
import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count
from django.db.models.signals import post_delete
from django.dispatch import receiver

from conversations import access
from conversations.llm.images import Image
from conversations.models import Conversation, GeneratedImage, Share
from conversations.models.images import attach_urls, url_of  # noqa: F401  (used by callers)

logger = logging.getLogger(__name__)


def store(*, message_id, images: list[Image]) -> list[GeneratedImage]:
    """Save each image's bytes in storage and its row (in the caller's transaction)."""
    rows = []
    for index, image in enumerate(images):
        row = GeneratedImage(message_id=message_id, index=index)
        row.content_type, row.size = image.content_type, len(image.data)
        name = f"{uuid.uuid4().hex}.{image.extension}"
        row.file.save(name, ContentFile(image.data), save=False)  # through default_storage
        rows.append(row)
    GeneratedImage.objects.bulk_create(rows)
    return rows


def image_for(user, image_id) -> GeneratedImage:
    """The image, if ``user`` may see its conversation (the owner, or a team it is
    shared with); else access.NotFound, the same for "missing" and "not yours"."""
    row = (
        GeneratedImage.objects.filter(pk=access.parse_uuid(image_id))
        .select_related("message")
        .first()
    )
    if row is None or not user.is_authenticated:
        raise access.NotFound("No such image.")
    conversation_id = row.message.conversation_id
    mine = Conversation.objects.for_user(user).filter(pk=conversation_id).exists()
    shared = Share.objects.for_member(user).filter(conversation_id=conversation_id)
    if not (mine or shared.exists()):
        raise access.NotFound("No such image.")  # as sharing.shared_with_member decides
    return row


def files_of(conversation) -> list[GeneratedImage]:
    """The conversation's images, for exports."""
    return list(
        GeneratedImage.objects.filter(message__conversation=conversation).order_by(
            "message__created", "index"
        )
    )


def count_of(messages) -> int:
    return GeneratedImage.objects.filter(message__in=messages).count()


@receiver(post_delete, sender=GeneratedImage)
def _delete_file(sender, instance: GeneratedImage, **kwargs) -> None:
    """The file goes once the deletion commits (a rolled-back one keeps it)."""
    name = instance.file.name
    if name:
        transaction.on_commit(lambda: _remove(name))


def _remove(name: str) -> None:
    try:
        default_storage.delete(name)
    except Exception:  # shared storage may be unreachable; the row is gone either way
        logger.exception("Could not delete the image file %s", name)


def listed(messages) -> list[dict]:
    """The images of ``messages`` as an export notes them (the files go in a user's zip)."""
    rows = GeneratedImage.objects.filter(message__in=[m.pk for m in messages])
    return [
        {
            "id": str(row.pk),
            "message_id": str(row.message_id),
            "index": row.index,
            "content_type": row.content_type,
            "size": row.size,
            "file": archive_name(row),
        }
        for row in rows.order_by("message__created", "index")
    ]


def archive_name(row: GeneratedImage) -> str:
    """Where a user's export zip holds the image."""
    extension = row.file.name.rsplit(".", 1)[-1] if "." in row.file.name else "bin"
    return f"images/{row.pk}.{extension}"


def read(row: GeneratedImage) -> bytes | None:
    """The stored bytes (None: the file is gone from storage)."""
    try:
        with default_storage.open(row.file.name, "rb") as stored:
            return stored.read()
    except (FileNotFoundError, OSError):
        logger.warning("The image file %s is missing", row.file.name)
        return None


def counted(messages) -> dict:
    """{message id: how many images} of ``messages`` (one query)."""
    rows = GeneratedImage.objects.filter(message__in=[m.pk for m in messages])
    counts = rows.values("message_id").annotate(count=Count("pk"))
    return {row["message_id"]: row["count"] for row in counts.order_by()}


REVIEW_INLINE_MAX = 4 * 1024 * 1024  # bytes of one image shown inline in a transcript


def for_review(messages) -> dict:
    """{message id: [data: URI, or "" for one too large or missing]} for the admin's
    transcript: the page that already checked the policy and recorded the reading
    shows the images itself, so no other URL opens them to staff."""
    shown: dict = {}
    rows = GeneratedImage.objects.filter(message__in=[m.pk for m in messages])
    for row in rows.order_by("message_id", "index"):
        data = read(row) if row.size <= REVIEW_INLINE_MAX else None
        source = f"data:{row.content_type};base64,{base64.b64encode(data).decode()}" if data else ""
        shown.setdefault(row.message_id, []).append(source)
    return shown
