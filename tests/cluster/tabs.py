"""Browser tabs as aiohttp websockets, through nginx or straight to a worker.

A tab assembles each answer by the seq/after rules of docs/protocol.md and
records every gap or duplicate it meets. Through nginx, a tab knows which
worker serves it from the harness's X-Chatsite-Upstream header.
"""

import asyncio
import contextlib
import contextvars
import json
import uuid

import aiohttp

from tests.cluster.nginx import UPSTREAM_HEADER
from tests.parts import PartJoiner

_upstream: contextvars.ContextVar[dict] = contextvars.ContextVar("upstream")


class Answer:
    """One answer as a tab assembles it from its frames."""

    def __init__(self) -> None:
        self.text, self.seq, self.problems = "", None, []

    def replace(self, text: str, seq: int) -> None:
        if self.seq is None or seq > self.seq:
            self.text, self.seq = text, seq

    def delta(self, frame: dict) -> None:
        if self.seq is not None and frame["seq"] <= self.seq:
            self.problems.append(f"duplicate: {frame['after']}..{frame['seq']} at {self.seq}")
        elif frame["after"] != (self.seq or 0):
            self.problems.append(f"gap or overlap: {frame['after']}..{frame['seq']} at {self.seq}")
        else:
            self.text, self.seq = self.text + frame["text"], frame["seq"]


class Tab:
    """One browser tab's socket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, upstream: str = "") -> None:
        self.ws = ws
        self.upstream = upstream  # "127.0.0.1:PORT" of the worker nginx chose, or ""
        self.seen: list[dict] = []
        self.answers: dict[str, Answer] = {}
        self.parts = PartJoiner()  # large frames come as parts
        self.ready: list[dict] = []

    async def send(self, **frame) -> None:
        await self.ws.send_str(json.dumps(frame))

    async def receive(self, timeout: float) -> dict:
        while not self.ready:
            message = await self.ws.receive(timeout=timeout)
            if message.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"socket ended: {message.type.name} {self.ws.close_code}")
            self.ready.extend(self.parts.feed(json.loads(message.data)))
        frame = self.ready.pop(0)
        self.seen.append(frame)
        self._apply(frame)
        return frame

    def _apply(self, frame: dict) -> None:
        kind = frame["type"]
        if kind == "message" and frame["message"]["role"] == "assistant":
            message = frame["message"]
            self.answer(message["id"]).replace(message["content"], message["seq"])
        elif kind == "snapshot":
            self.answer(frame["id"]).replace(frame["content"], frame["seq"])
        elif kind == "delta":
            self.answer(frame["message_id"]).delta(frame)

    def answer(self, message_id: str) -> Answer:
        return self.answers.setdefault(message_id, Answer())

    async def next_of(self, kind: str, timeout: float = 10.0, **match) -> dict:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no {kind} {match}; last frames: {self.seen[-3:]}")
            frame = await self.receive(remaining)
            if frame["type"] == "error" and kind != "error":
                raise AssertionError(f"refused: {frame}")
            if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame

    async def drain(self, within: float) -> list[dict]:
        """Every frame that arrives in the next `within` seconds."""
        frames = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while (remaining := deadline - loop.time()) > 0:
            try:
                frames.append(await self.receive(remaining))
            except TimeoutError:
                break
        return frames

    async def until_seq(self, message_id: str, seq: int, timeout: float = 10.0) -> None:
        while (self.answer(message_id).seq or 0) < seq:
            await self.next_of("delta", timeout=timeout, message_id=message_id)

    async def started_answer(self, timeout: float = 10.0) -> dict:
        while True:
            frame = await self.next_of("message", timeout=timeout)
            if frame["message"]["role"] == "assistant":
                return frame["message"]

    async def send_message(self, content: str, conversation_id: str | None = None) -> str:
        client_id = uuid.uuid4().hex
        frame = {"type": "send", "content": content, "client_id": client_id}
        if conversation_id:
            frame["conversation_id"] = conversation_id
        await self.send(**frame)
        return client_id

    async def turn(self, content: str, conversation_id: str | None = None, timeout: float = 20.0):
        """Send, read up to the answer's `done`: (answer message, done frame)."""
        await self.send_message(content, conversation_id)
        answer = await self.started_answer(timeout)
        return answer, await self.next_of("done", timeout=timeout, message_id=answer["id"])

    async def subscribe(self, conversation_id: str, **fields) -> dict:
        await self.send(type="subscribe", conversation_id=conversation_id, **fields)
        return await self.next_of("subscribed")

    async def close(self) -> None:
        await self.ws.close()


class Browser:
    """One signed-in person's browser: its cookie, opening tabs."""

    def __init__(self, cookie: str, origin: str) -> None:
        self.cookie, self.origin = cookie, origin
        self.session = aiohttp.ClientSession(trace_configs=[upstream_trace()])
        self.tabs: list[Tab] = []

    async def open(self, ws_url: str) -> Tab:
        headers = {"Cookie": self.cookie, "Origin": self.origin}
        ws, upstream = await connect_noting_upstream(self.session, ws_url, headers=headers)
        tab = Tab(ws, upstream)
        self.tabs.append(tab)
        return tab

    async def open_on(self, cluster, index: int, attempts: int = 10) -> Tab:
        """A tab through nginx that nginx gave to worker `index` (round robin: a few tries)."""
        for _ in range(attempts):
            tab = await self.open(cluster.ws_url)
            if tab.upstream and cluster.worker_at(tab.upstream) == index:
                return tab
            await tab.close()
        raise AssertionError(f"nginx never chose worker {index} in {attempts} tries")

    async def close(self) -> None:
        for tab in self.tabs:
            await tab.close()
        await self.session.close()


def upstream_trace() -> aiohttp.TraceConfig:
    """For a session whose sockets want to know their worker (connect_noting_upstream)."""
    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(_note_upstream)
    return trace


@contextlib.asynccontextmanager
async def tab_on_a_live_worker(user, **env: str):
    """(worker, tab): a new Daphne worker on the test database (`env`: settings for it)
    and a tab of `user` signed in on it; the worker is stopped afterwards."""
    from channels.db import database_sync_to_async
    from django.db import connections

    from tests.cluster.seed import session_cookie
    from tests.livedaphne import LiveDaphne, app_env

    worker = LiveDaphne(app_env(**env)).start()
    cookie = await database_sync_to_async(session_cookie)(user)
    try:
        async with aiohttp.ClientSession() as session:
            headers = {"Cookie": cookie, "Origin": worker.url}
            yield worker, Tab(await session.ws_connect(worker.ws_url, headers=headers))
    finally:
        worker.stop()
        await database_sync_to_async(connections.close_all)()


async def connect_noting_upstream(session: aiohttp.ClientSession, url: str, **options) -> tuple:
    """A websocket and the worker nginx gave it ("127.0.0.1:PORT", or "" without nginx)."""
    _upstream.set(seen := {})
    ws = await session.ws_connect(url, heartbeat=None, max_msg_size=0, **options)
    return ws, seen.get("upstream", "")


async def _note_upstream(session, context, params: aiohttp.TraceRequestEndParams) -> None:
    seen = _upstream.get(None)
    if seen is not None:
        seen["upstream"] = params.response.headers.get(UPSTREAM_HEADER, "")
