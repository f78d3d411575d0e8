"""Images an image model generated: the product's own files, one row per image.

The file lives in Django's default storage (MEDIA_ROOT, or shared storage in
a team deployment: docs/deployment.md) under a name nobody can guess; the row
ties it to the answer it belongs to, so it is served only to those who may
see that conversation and deleted with it (conversations.images).
"""

import uuid

from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class GeneratedImage(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(
        "conversations.Message", on_delete=models.CASCADE, related_name="images"
    )
    index = models.PositiveSmallIntegerField(default=0)  # its place among the answer's images
    file = models.FileField(upload_to="generated/", max_length=200)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField(default=0)  # bytes
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["message", "index"]
        verbose_name = _("generated image")
        verbose_name_plural = _("generated images")

    def __str__(self) -> str:
        return self.file.name


def url_of(image_id) -> str:
    return reverse("generated_image", args=[image_id])


def attach_urls(dicts: list[dict]) -> list[dict]:
    """Each message dict gets ``images``: the site's own URLs of its images, in order."""
    ids = [d["id"] for d in dicts if d.get("role") == "assistant"]
    by_message: dict[str, list[str]] = {}
    if ids:
        rows = GeneratedImage.objects.filter(message_id__in=ids).order_by("index")
        for message_id, image_id in rows.values_list("message_id", "id"):
            by_message.setdefault(str(message_id), []).append(url_of(image_id))
    for data in dicts:
        data["images"] = by_message.get(data["id"], [])
    return dicts
