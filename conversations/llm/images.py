"""The images endpoint (``POST /images/generations``) and the images it returns.

Django-free like the rest of this package. A result is either base64 in the
answer (``b64_json``) or a URL (``url``); a URL is fetched once, here, and
only from the provider's own host (scheme, host and port of its base URL),
through the provider's guarded client (no private addresses unless the
provider allows them). Every image is bounded in size and must really be a
PNG, JPEG or WebP by its first bytes, whatever headers say.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .client import JSON_BODY_LIMIT, LLMClient
from .deadlines import Deadlines
from .errors import LLMError, ProtocolError
from .transport import TRANSPORT_ERRORS, opening_error, reading_error
from .wire import parse_json

PATH = "/images/generations"
# (content type, file extension) by the bytes a format begins with.
SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", ("image/png", "png")),
    (b"\xff\xd8\xff", ("image/jpeg", "jpg")),
)


class ImageRefused(LLMError):
    """The provider's image cannot become one of ours (see ``code``)."""

    code = "image_refused"
    default_message = "The provider's image could not be used."


class NotAnImage(ImageRefused):
    code = "image_not_an_image"
    default_message = "The provider sent something that is not a PNG, JPEG or WebP image."


class ImageTooLarge(ImageRefused):
    code = "image_too_large"
    default_message = "The provider's image is larger than allowed."


class ForeignImageHost(ImageRefused):
    code = "image_foreign_host"
    default_message = "The provider's image is on another host; it was not fetched."


@dataclass(frozen=True)
class Image:
    data: bytes
    content_type: str
    extension: str


async def generate(client: LLMClient, body: dict[str, Any], *, max_bytes: int) -> list[Image]:
    """Ask for the images of ``body`` and return them checked, in order."""
    try:
        answer = await _answer(client, body, _answer_limit(body, max_bytes))
        return await _images(client, answer, max_bytes)
    except LLMError as error:
        raise error.redact(client.settings.api_key) from None


def _answer_limit(body: dict[str, Any], max_bytes: int) -> int:
    """Room for ``n`` base64 images of ``max_bytes`` each (a chat answer's limit is
    too small for ten large ones), plus the JSON around them."""
    return max(JSON_BODY_LIMIT, int(body.get("n") or 1) * (max_bytes * 4 // 3 + 8) + 65536)


async def _answer(client: LLMClient, body: dict[str, Any], limit: int) -> Any:
    deadlines = Deadlines(client.settings)
    response = await client._open("POST", PATH, body, deadlines)
    deadlines.progress()  # headers arrived; the body may now only go quiet for idle
    try:
        content = await client._read(response, deadlines, limit)
    finally:
        await response.aclose()
    return parse_json(content, "the response")


async def _images(client: LLMClient, answer: Any, max_bytes: int) -> list[Image]:
    items = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(items, list) or not items:
        raise ProtocolError("The provider's images answer has no data.")
    return [await _image(client, item, max_bytes) for item in items]


async def _image(client: LLMClient, item: Any, max_bytes: int) -> Image:
    if isinstance(item, dict) and isinstance(item.get("b64_json"), str):
        return checked(_decoded(item["b64_json"], max_bytes), max_bytes)
    if isinstance(item, dict) and isinstance(item.get("url"), str):
        return checked(await fetch(client, item["url"], max_bytes=max_bytes), max_bytes)
    raise ProtocolError("An image of the provider's answer has neither url nor b64_json.")


def _decoded(text: str, max_bytes: int) -> bytes:
    if len(text) > (max_bytes + 2) // 3 * 4 + 4:  # base64 of more than max_bytes
        raise ImageTooLarge(detail=f"{len(text)} base64 characters")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NotAnImage(detail="b64_json is not base64") from None


def checked(data: bytes, max_bytes: int) -> Image:
    if len(data) > max_bytes:
        raise ImageTooLarge(detail=f"{len(data)} bytes")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return Image(data, "image/webp", "webp")
    for signature, (content_type, extension) in SIGNATURES:
        if data.startswith(signature):
            return Image(data, content_type, extension)
    raise NotAnImage(detail=f"begins with {data[:12]!r}")


def same_host(url: str, base_url: str) -> bool:
    """Whether ``url`` is on the provider's own scheme, host and port."""
    try:
        theirs, ours = urlsplit(url), urlsplit(base_url)
        return (theirs.scheme, theirs.hostname, theirs.port) == (
            ours.scheme,
            ours.hostname,
            ours.port,
        ) and theirs.scheme in ("http", "https")
    except ValueError:
        return False


async def fetch(client: LLMClient, url: str, *, max_bytes: int) -> bytes:
    """The bytes at ``url`` (on the provider's host), at most ``max_bytes``."""
    if not same_host(url, client.settings.base_url):
        raise ForeignImageHost(detail=url[:200])
    deadlines = Deadlines(client.settings)
    deadlines.start_attempt()
    deadline = deadlines.deadline()
    try:
        async with asyncio.timeout_at(deadline):
            response = await client._http.send(client._http.build_request("GET", url), stream=True)
    except TimeoutError:
        raise deadlines.expired(deadline) from None
    except TRANSPORT_ERRORS as exc:
        raise opening_error(exc) from None
    try:
        if not response.is_success:
            raise ImageRefused(
                detail=f"HTTP {response.status_code} for the image", status=response.status_code
            )
        deadlines.progress()
        return await _bounded(response, deadlines, max_bytes)
    finally:
        await response.aclose()


async def _bounded(response, deadlines: Deadlines, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ImageTooLarge(detail=f"Content-Length {declared}")
    parts, size = [], 0
    deadline = deadlines.deadline()
    try:
        async with asyncio.timeout_at(deadline):
            async for part in response.aiter_bytes():
                size += len(part)
                if size > max_bytes:  # stop reading at once: never hold more than allowed
                    raise ImageTooLarge(detail=f"more than {max_bytes} bytes")
                parts.append(part)
    except TimeoutError:
        raise deadlines.expired(deadline) from None
    except TRANSPORT_ERRORS as exc:
        raise reading_error(exc) from None
    return b"".join(parts)
