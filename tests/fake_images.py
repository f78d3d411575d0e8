"""The fake upstream's images endpoint, ``POST /v1/images/generations``, in
OpenAI's shapes (``{"created": …, "data": [{"url": …} | {"b64_json": …}]}``).

Images are real small PNGs made here (zlib and struct, no imaging library),
each of its own colour. URL results point at the fake itself
(``GET /v1/images/files/{id}``), so the app fetches them from the provider's
own host. A marker in the prompt, ``[[image:MODE]]``, picks a misbehaviour:

- ``not_image``: the "image" is an HTML page (served as ``image/png`` all the same);
- ``huge``: a 30 MB body that begins like a PNG;
- ``foreign``: the URL names another host (``localhost`` for ``127.0.0.1``);
- ``error``: a 400 with the API's error body (a safety refusal);
- ``missing``: the URL answers 404;
- ``slow``: the answer comes after 5 seconds (for Stop);
- ``wait``: the answer comes after 1 second (to see the page say it is generating).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import struct
import time
import zlib
from typing import Any

from aiohttp import web

MARKER = re.compile(r"\[\[image:([a-z_]+)\]\]")
HUGE_BYTES = 30 * 1024 * 1024
SIDE = 8  # pixels: small, and a real PNG any browser decodes
COLOURS = [(220, 40, 40), (40, 160, 60), (40, 80, 220), (230, 180, 30), (150, 60, 170)]


def png(rgb: tuple[int, int, int], side: int = SIDE) -> bytes:
    """A valid truecolour PNG of one colour, built by hand."""
    row = b"\x00" + bytes(rgb) * side  # filter type 0, then the pixels
    raw = row * side

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def error_body(message: str, code: str | None, param: str | None = None) -> dict:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }


class FakeImages:
    def __init__(self, base_url) -> None:
        self._base_url = base_url  # a callable: the fake's port is known only once it listens
        self.files: dict[str, bytes] = {}
        self._ids = itertools.count(1)

    def reset(self) -> None:
        self.files.clear()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/images/generations", self.generate)
        app.router.add_get("/v1/images/files/{id}", self.serve)

    async def generate(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _json(error_body("We could not parse the JSON body of your request.", None), 400)
        refusal = _refusal(body)
        if refusal:
            return _json(refusal, 400)
        marker = MARKER.search(body["prompt"])
        mode = marker.group(1) if marker else ""
        if mode == "error":
            message = "Your request was rejected as a result of our safety system."
            return _json(error_body(message, "content_policy_violation"), 400)
        if mode in ("slow", "wait"):
            await asyncio.sleep(5 if mode == "slow" else 1)
        items = [
            self._item(mode, index, body.get("response_format") or "url")
            for index in range(body.get("n") or 1)
        ]
        return _json({"created": int(time.time()), "data": items})

    def _item(self, mode: str, index: int, response_format: str) -> dict[str, Any]:
        data = _content(mode, index)
        if response_format == "b64_json":
            return {"b64_json": base64.b64encode(data).decode()}
        image_id = f"img-fake{next(self._ids):06d}"
        self.files[image_id] = data
        base = self._base_url()
        if mode == "foreign":
            base = base.replace("127.0.0.1", "localhost")
        return {
            "url": f"{base}/images/files/{image_id}"
            if mode != "missing"
            else f"{base}/images/files/gone"
        }

    async def serve(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["id"])
        if data is None:
            return _json(error_body("No such image.", None), 404)
        return web.Response(body=data, content_type="image/png")  # whatever it really is


def _content(mode: str, index: int) -> bytes:
    if mode == "not_image":
        return b"<!doctype html><html><body>Not an image</body></html>"
    if mode == "huge":
        return b"\x89PNG\r\n\x1a\n" + bytes(HUGE_BYTES)
    return png(COLOURS[index % len(COLOURS)])


def _refusal(body: Any) -> dict | None:
    """The API's own checks (the seeds' table), as a 400 with its error body."""
    if not isinstance(body, dict) or not isinstance(body.get("prompt"), str) or not body["prompt"]:
        return error_body("'prompt' is a required property", None, "prompt")
    n = body.get("n", 1)
    if not isinstance(n, int) or not 1 <= n <= 10:
        return error_body(f"{n} is greater than the maximum of 10 - 'n'", None, "n")
    if body.get("size", "1024x1024") not in ("256x256", "512x512", "1024x1024"):
        return error_body(
            f"'{body.get('size')}' is not one of ['256x256', '512x512', '1024x1024'] - 'size'",
            None,
            "size",
        )
    if body.get("response_format", "url") not in ("url", "b64_json"):
        return error_body("Invalid response_format", None, "response_format")
    return None


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")
