"""Simulated people: signed in, one socket each through nginx, in a loop of
send → read the whole answer → think 2–5 s, in one conversation each.

Each answer is assembled by the seq/after rules of docs/protocol.md. The fake
upstream runs in stamp mode (every token is its send time, ``⟦seconds⟧``),
so a delta's latency is its receive time minus each stamp it carries.
"""

import asyncio
import json
import random
import re
import time
import uuid
from dataclasses import dataclass, field

import aiohttp

from tests.cluster.tabs import Answer, connect_noting_upstream

STAMP = re.compile(r"⟦(\d+\.\d+)⟧")
TURN_TIMEOUT = 60.0  # seconds for a whole answer; longer is counted as an error


@dataclass
class Turn:
    client_id: str
    sent_at: float
    stored_at: float | None = None  # the echo of the stored question
    conversation_id: str = ""
    question_id: str = ""
    answer_id: str = ""
    answer: Answer = field(default_factory=Answer)
    first_delta_at: float | None = None
    latencies: list[float] = field(default_factory=list)
    status: str = ""
    seq: int = 0
    server_ttft_ms: int | None = None
    error: str = ""

    @property
    def ttft(self) -> float | None:
        return None if self.first_delta_at is None else self.first_delta_at - self.sent_at

    @property
    def to_stored(self) -> float | None:
        """Send → the question stored and the answer started (the worker's start of a turn)."""
        return None if self.stored_at is None else self.stored_at - self.sent_at

    @property
    def stored_to_first(self) -> float | None:
        if self.stored_at is None or self.first_delta_at is None:
            return None
        return self.first_delta_at - self.stored_at


class User:
    def __init__(self, name: str, cookie: str, ws_url: str, origin: str, think: tuple) -> None:
        self.name, self.cookie, self.ws_url, self.origin = name, cookie, ws_url, origin
        self.think = think
        self.turns: list[Turn] = []
        self.conversation_id = ""
        self.connects = 0
        self.upstream = ""  # the worker nginx chose, "127.0.0.1:PORT"
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    @property
    def connected(self) -> bool:
        return self.ws is not None and not self.ws.closed

    async def run(self, session: aiohttp.ClientSession, start_at: float, until: float) -> None:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        await self._connect(session)
        await asyncio.sleep(random.uniform(0, self.think[1]))  # people do not start in step
        while time.monotonic() < until:
            if not self.connected:
                await self._connect(session)
            await self._turn()
            await asyncio.sleep(random.uniform(*self.think))
        await self.ws.close()

    async def _connect(self, session: aiohttp.ClientSession) -> None:
        headers = {"Cookie": self.cookie, "Origin": self.origin}
        self.ws, self.upstream = await connect_noting_upstream(
            session, self.ws_url, headers=headers
        )
        self.connects += 1

    async def _turn(self) -> None:
        turn = Turn(uuid.uuid4().hex, time.time())
        self.turns.append(turn)
        frame = {"type": "send", "content": "Tell me more.", "client_id": turn.client_id}
        if self.conversation_id:
            frame["conversation_id"] = self.conversation_id
        try:
            await self.ws.send_str(json.dumps(frame))
            async with asyncio.timeout(TURN_TIMEOUT):
                while not (turn.status or turn.error):
                    await self._receive(turn)
        except TimeoutError:
            turn.error = "timeout"
        except (aiohttp.ClientError, ConnectionError) as error:
            turn.error = f"socket: {error}"

    async def _receive(self, turn: Turn) -> None:
        message = await self.ws.receive()
        received = time.time()
        if message.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"{message.type.name} {self.ws.close_code}")
        frame = json.loads(message.data)
        kind = frame["type"]
        if kind == "delta" and frame["message_id"] == turn.answer_id:
            if turn.first_delta_at is None:
                turn.first_delta_at = received
            turn.answer.delta(frame)
            turn.latencies += [received - float(s) for s in STAMP.findall(frame["text"])]
        elif kind == "message" and frame.get("client_id") == turn.client_id:
            if turn.stored_at is None:
                turn.stored_at = received
            self._stored(turn, frame["message"])
        elif kind == "snapshot" and frame["id"] == turn.answer_id:
            turn.answer.replace(frame["content"], frame["seq"])
        elif kind == "done" and frame["message_id"] == turn.answer_id:
            turn.status, turn.seq = frame["status"], frame["seq"]
            turn.server_ttft_ms = frame.get("ttft_ms")
        elif kind == "error" and frame.get("client_id") == turn.client_id:
            turn.error = frame["code"]

    def _stored(self, turn: Turn, message: dict) -> None:
        self.conversation_id = turn.conversation_id = message["conversation_id"]
        if message["role"] == "user":
            turn.question_id = message["id"]
        else:
            turn.answer_id = message["id"]
            turn.answer.replace(message["content"], message["seq"])
