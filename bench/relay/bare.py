"""The floor: a bare Channels relay of the same stream, with no database and no login.

On a `send` frame it streams the upstream's /v1/chat/completions with
aiohttp, parses the SSE from raw bytes and relays the text to the socket in
chatsite's frames (`message`, `delta` with `after`/`seq`, `done`, see
docs/protocol.md), so the bench's load generator drives it unchanged. Deltas
are coalesced at 16 ms: a delta leaves at once unless the stream's last frame
left less than 16 ms ago; then it waits for the rest of those 16 ms with any
that follow. Run under Daphne, with the upstream in the environment:

    BENCH_BARE_UPSTREAM=http://127.0.0.1:9100/v1/chat/completions \\
        daphne -p 8001 bench.relay.bare:application
"""

import asyncio
import json
import os
import uuid

import aiohttp
from django.conf import settings

if not settings.configured:
    settings.configure(CHANNEL_LAYERS={})  # Channels reads its layers from settings

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter

UPSTREAM = os.environ.get("BENCH_BARE_UPSTREAM", "http://127.0.0.1:9100/v1/chat/completions")
INTERVAL = 0.016
_session: aiohttp.ClientSession | None = None


def upstream() -> aiohttp.ClientSession:
    """One pooled client for the process (it lives as long as the process)."""
    global _session
    if _session is None:
        timeout = aiohttp.ClientTimeout(total=300, sock_connect=5)
        _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout)
    return _session


async def texts(content: str):
    """Lists of delta texts, one list per network read of the SSE body."""
    body = {"model": "gpt-4", "messages": [{"role": "user", "content": content}], "stream": True}
    async with upstream().post(UPSTREAM, json=body) as response:
        response.raise_for_status()
        buffer = b""
        async for chunk in response.content.iter_any():
            *events, buffer = (buffer + chunk).split(b"\n\n")
            found = []
            for event in events:
                if event.startswith(b"data: {"):
                    choices = json.loads(event[6:])["choices"]
                    text = choices and choices[0]["delta"].get("content")
                    if text:
                        found.append(text)
            if found:
                yield found


class Coalescer:
    """The deltas of one answer, sent at most once per INTERVAL."""

    def __init__(self, send, conversation_id: str, message_id: str) -> None:
        self.send, self.loop = send, asyncio.get_running_loop()
        self.head = {"type": "delta", "conversation_id": conversation_id, "message_id": message_id}
        self.pending: list[str] = []
        self.seq = self.sent = 0
        self.last = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.flushing: set[asyncio.Task] = set()

    async def add(self, found: list[str]) -> None:
        self.pending += found
        self.seq += len(found)
        if self.timer is None:
            wait = self.last + INTERVAL - self.loop.time()
            if wait <= 0:
                await self.flush()
            else:
                self.timer = self.loop.call_later(wait, self._due)

    def _due(self) -> None:
        self.timer = None
        task = asyncio.ensure_future(self.flush())
        self.flushing.add(task)
        task.add_done_callback(self.flushing.discard)

    async def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.pending:
            return
        frame = {**self.head, "after": self.sent, "seq": self.seq, "text": "".join(self.pending)}
        self.pending, self.sent, self.last = [], self.seq, self.loop.time()
        await self.send(frame)


class Relay(AsyncWebsocketConsumer):
    async def dispatch(self, message) -> None:
        # No database here: skip the thread hop Channels makes to close old connections.
        await getattr(self, get_handler_name(message))(message)

    async def connect(self) -> None:
        self.answers: set[asyncio.Task] = set()
        await self.accept()

    async def disconnect(self, code) -> None:
        for task in self.answers:
            task.cancel()

    async def receive(self, text_data=None, bytes_data=None) -> None:
        frame = json.loads(text_data or "{}")
        if frame.get("type") == "send":
            task = asyncio.create_task(self.answer(frame))
            self.answers.add(task)
            task.add_done_callback(self.answers.discard)

    async def send_frame(self, frame: dict) -> None:
        await self.send(text_data=json.dumps(frame, ensure_ascii=False))

    async def answer(self, frame: dict) -> None:
        ids = {"conversation_id": frame.get("conversation_id") or str(uuid.uuid4())}
        ids["message_id"] = str(uuid.uuid4())
        message = {"id": ids["message_id"], "role": "assistant", "status": "streaming"}
        await self.send_frame({"type": "message", "message": message, **ids})
        out = Coalescer(self.send_frame, **ids)
        status, error = "complete", None
        try:
            async for found in texts(frame.get("content", "")):
                await out.add(found)
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, error = "error", {"code": "upstream_error", "message": str(exc)}
        await out.flush()
        end = {"status": status, "finish_reason": "stop", "seq": out.seq, "error": error}
        await self.send_frame({"type": "done", **ids, **end, "usage": None, "ttft_ms": None})


async def health(scope, receive, send) -> None:
    """Any HTTP request: 200, so the bench can wait for the worker to listen."""
    headers = [(b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"bare relay\n"})


application = ProtocolTypeRouter({"http": health, "websocket": Relay.as_asgi()})
