"""The load generator: N clients at once, through the relay or straight at the fake upstream.

Every content chunk of the fake carries its send time (``⟦seconds⟧``), so a
client measures each delta's latency as its receive time minus the stamp; a
websocket frame that coalesces several deltas carries several stamps, each
counted. Time-to-first-token runs from the request (the ``send`` frame, or
the HTTP request) to the first stamp received.
"""

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass, field

import aiohttp

STAMP = re.compile(r"⟦(\d+\.\d+)⟧")
STAMP_BYTES = re.compile(rb"\xe2\x9f\xa6(\d+\.\d+)\xe2\x9f\xa7")  # ⟦ ⟧ in UTF-8


def prompt(tokens: int, delay_ms: float) -> str:
    return f"[[fake:tokens={tokens},delay={delay_ms:g},stamp]] Talk to me."


@dataclass
class Stream:
    """What one client saw of one answer."""

    ttft: float | None = None  # seconds
    latencies: list[float] = field(default_factory=list)  # seconds, one per stamp
    frames: int = 0  # delta frames (relay) or content chunks (direct)
    text: str = ""
    seq: int = 0
    problems: list[str] = field(default_factory=list)
    status: str = ""
    message_id: str = ""
    conversation_id: str = ""
    error: str = ""
    ended: float = 0.0

    def stamps(self, received: float, stamps: list[bytes | str]) -> None:
        for stamp in stamps:
            self.latencies.append(received - float(stamp))

    def delta(self, frame: dict) -> None:
        """Apply a delta by the seq/after rules of docs/protocol.md."""
        if frame["seq"] <= self.seq:
            self.problems.append(f"duplicate {frame['after']}..{frame['seq']} at {self.seq}")
        elif frame["after"] != self.seq:
            self.problems.append(f"gap {frame['after']}..{frame['seq']} at {self.seq}")
        else:
            self.text += frame["text"]
            self.seq = frame["seq"]


# --- Through the relay ----------------------------------------------------------


class Tab:
    """One signed-in websocket to the worker; one turn at a time.

    It goes on in the conversation its first turn started (the usual case: a
    chat continues), unless `fresh` asks for a new conversation every turn.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, fresh: bool = False) -> None:
        self.ws = ws
        self.fresh = fresh
        self.conversation_id = ""

    @classmethod
    async def open(cls, session, url: str, origin: str, cookie: str, fresh: bool = False):
        headers = {"Origin": origin, "Cookie": cookie}
        ws = await session.ws_connect(url, headers=headers, max_msg_size=0, heartbeat=None)
        return cls(ws, fresh)

    async def turn(self, content: str) -> Stream:
        stream = Stream()
        frame = {"type": "send", "content": content, "client_id": uuid.uuid4().hex}
        if self.conversation_id and not self.fresh:
            frame["conversation_id"] = self.conversation_id
        started = time.time()
        await self.ws.send_str(json.dumps(frame))
        while not stream.status:
            message = await self.ws.receive()
            received = time.time()
            if message.type != aiohttp.WSMsgType.TEXT:
                stream.error = f"socket {message.type.name}"
                break
            self._apply(stream, json.loads(message.data), started, received)
        stream.ended = time.time()
        self.conversation_id = stream.conversation_id or self.conversation_id
        return stream

    @staticmethod
    def _apply(stream: Stream, frame: dict, started: float, received: float) -> None:
        kind = frame["type"]
        if kind == "delta":
            stamps = STAMP.findall(frame["text"])
            if stream.ttft is None and stamps:
                stream.ttft = received - started
            stream.stamps(received, stamps)
            stream.frames += 1
            stream.delta(frame)
        elif kind == "message" and frame["message"]["role"] == "assistant":
            stream.message_id = frame["message"]["id"]
            stream.conversation_id = frame["conversation_id"]
        elif kind == "done":
            stream.status = frame["status"]
        elif kind == "error":
            stream.status, stream.error = "refused", frame["code"]


# --- Straight at the fake upstream (the baseline) -----------------------------------


async def direct_turn(session: aiohttp.ClientSession, url: str, content: str) -> Stream:
    stream = Stream()
    body = {
        "model": "gpt-4",
        "messages": [{"role": "user", "content": content}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.time()
    async with session.post(url, json=body) as response:
        buffer = b""
        async for chunk in response.content.iter_any():
            received = time.time()
            buffer += chunk
            events = buffer.split(b"\n\n")
            buffer = events.pop()
            stamps = [s for event in events for s in STAMP_BYTES.findall(event)]
            if stamps and stream.ttft is None:
                stream.ttft = received - started
            stream.stamps(received, stamps)
            stream.frames += len(stamps)
            if any(event == b"data: [DONE]" for event in events):
                stream.status = "complete"
    stream.seq = len(stream.latencies)
    stream.ended = time.time()
    return stream


# --- One round: N at once -----------------------------------------------------------


@dataclass
class Round:
    streams: list[Stream]
    started: float
    ended: float

    @property
    def wall(self) -> float:
        return self.ended - self.started


async def relay_round(tabs: list[Tab], content: str) -> Round:
    started = time.time()
    streams = await asyncio.gather(*(tab.turn(content) for tab in tabs))
    return Round(list(streams), started, max(s.ended for s in streams))


async def direct_round(session: aiohttp.ClientSession, url: str, count: int, content: str):
    started = time.time()
    streams = await asyncio.gather(*(direct_turn(session, url, content) for _ in range(count)))
    return Round(list(streams), started, max(s.ended for s in streams))
