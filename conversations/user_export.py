"""A person's own conversations as one zip archive, streamed.

The archive holds, per conversation, ``json/<id>.json`` (the whole tree:
every branch, statuses, parameters, usage, the persona by name) and
``markdown/<title>-<id>.md`` (the current branch, readable), and
``images/<id>.<ext>`` for each image an image model made, then
``manifest.json``. It is written to the response as it is made: zipfile
writes to an unseekable stream with data descriptors, and conversations are
read in batches (conversations.exports.Export), so a long history never sits
in memory.

No system prompt leaves in it: neither the site's nor the persona's (the
persona is named only). ``conversations.imports`` reads the archive back.
"""

import json
import re
import zipfile
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils import timezone

from conversations import images
from conversations.exports import FORMATS, Export, Thread, json_object, markdown_section

FORMAT = "chatsite.conversation.v1"
SLUG_LENGTH = 40


class OwnThread(Thread):
    """A thread as its owner exports it: prompts stay on the site."""

    def persona_prompt(self) -> str:
        return ""


class _Pipe:
    """A write-only stream whose bytes are taken out between writes."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def conversation_json(thread: Thread) -> str:
    document = json.loads(json_object(thread, site_prompt=""))
    document.pop("system_prompt", None)
    conversation = thread.conversation
    document |= {
        "format": FORMAT,
        "params": conversation.param_overrides,
        "current_leaf": str(conversation.current_leaf_id) if conversation.current_leaf_id else None,
        "usage": {
            "prompt_tokens": sum(m.prompt_tokens or 0 for m in thread.messages),
            "completion_tokens": sum(m.completion_tokens or 0 for m in thread.messages),
        },
    }
    return json.dumps(document, ensure_ascii=False, indent=1)


def markdown_name(thread: Thread) -> str:
    title = re.sub(r"[^\w-]+", "-", thread.conversation.title, flags=re.UNICODE).strip("-")
    return f"markdown/{title[:SLUG_LENGTH] or 'chat'}-{thread.conversation.pk}.md"


def archive_chunks(queryset) -> Iterator[bytes]:
    """The zip archive of ``queryset``, in pieces of about one batch each."""
    pipe = _Pipe()
    export = Export(queryset, FORMATS["json"], on_batch=lambda batch: None)
    count = 0
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        while threads := export.next_threads():
            for thread in (OwnThread(t.conversation, t.messages) for t in threads):
                archive.writestr(f"json/{thread.conversation.pk}.json", conversation_json(thread))
                archive.writestr(markdown_name(thread), markdown_section(thread, site_prompt=""))
                _write_images(archive, thread)
                count += 1
            yield pipe.take()
        manifest = {"format": FORMAT, "conversations": count, "exported": _now()}
        archive.writestr("manifest.json", json.dumps(manifest))
    yield pipe.take()


def _write_images(archive: zipfile.ZipFile, thread: Thread) -> None:
    """The conversation's generated images, as files (its JSON names them under "images")."""
    rows = images.files_of(thread.conversation)
    for row in rows:
        data = images.read(row)
        if data is not None:  # already compressed: stored as is
            archive.writestr(images.archive_name(row), data, compress_type=zipfile.ZIP_STORED)


def _now() -> str:
    return timezone.now().isoformat()


async def _async_chunks(queryset) -> AsyncIterator[bytes]:
    """Under ASGI each piece is made in a worker thread, so the loop never blocks."""
    chunks = archive_chunks(queryset)
    step = sync_to_async(lambda: next(chunks, None))
    while (chunk := await step()) is not None:
        if chunk:
            yield chunk


def archive_response(request, queryset) -> StreamingHttpResponse:
    is_asgi = isinstance(request, ASGIRequest)
    chunks = _async_chunks(queryset) if is_asgi else archive_chunks(queryset)
    response = StreamingHttpResponse(chunks, content_type="application/zip")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="chatsite-export-{stamp}.zip"'
    response["Cache-Control"] = "no-store"
    return response
