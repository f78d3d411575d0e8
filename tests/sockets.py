"""A websocket client for consumer tests: the real ASGI application, real sessions."""

import asyncio
import json
import uuid

from channels.testing import WebsocketCommunicator

from chatsite.asgi import application
from tests.parts import PartJoiner

ORIGIN = "http://localhost"


class ChatSocket:
    """One browser tab's socket. Frames are kept in order in `seen`."""

    def __init__(self, cookie: str | None, origin: str = ORIGIN) -> None:
        headers = [(b"origin", origin.encode()), (b"host", b"localhost")]
        if cookie:
            headers.append((b"cookie", cookie.encode()))
        self.communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
        self.seen: list[dict] = []
        self.parts = PartJoiner()  # large frames come as parts
        self.ready: list[dict] = []
        self.raw_count = 0  # websocket messages received, parts counted one by one

    async def connect(self) -> tuple[bool, int | None]:
        return await self.communicator.connect()

    async def close(self) -> None:
        await self.communicator.disconnect()

    async def send(self, **frame) -> None:
        await self.communicator.send_to(text_data=json.dumps(frame))

    async def send_raw(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def receive(self, timeout: float = 5.0) -> dict:
        while not self.ready:
            raw = json.loads(await self.communicator.receive_from(timeout=timeout))
            self.raw_count += 1
            self.ready.extend(self.parts.feed(raw))
        frame = self.ready.pop(0)
        self.seen.append(frame)
        return frame

    async def receive_until(self, predicate, timeout: float = 10.0) -> dict:
        """Frames up to and including the first that matches (all kept in `seen`)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no matching frame; seen: {self.seen[-5:]}")
            frame = await self.receive(timeout=remaining)
            if predicate(frame):
                return frame

    async def next_of(self, kind: str, timeout: float = 10.0, **match) -> dict:
        return await self.receive_until(
            lambda f: f["type"] == kind and all(f.get(k) == v for k, v in match.items()),
            timeout,
        )

    async def nothing_more(self, within: float = 0.3) -> bool:
        return await self.communicator.receive_nothing(timeout=within)

    async def send_message(self, content: str, conversation_id=None, **extra) -> str:
        client_id = extra.pop("client_id", None) or uuid.uuid4().hex
        frame = {"type": "send", "content": content, "client_id": client_id, **extra}
        if conversation_id:
            frame["conversation_id"] = str(conversation_id)
        await self.send(**frame)
        return client_id

    async def turn(self, content: str, conversation_id=None, **extra) -> "TurnResult":
        """Send and read everything up to the answer's `done`."""
        await self.send_message(content, conversation_id, **extra)
        answer = await self.next_of_answer()
        done = await self.next_of("done", message_id=answer["id"], timeout=20)
        return TurnResult(answer, done, self.text_of(answer["id"]))

    async def next_of_answer(self) -> dict:
        frame = await self.receive_until(
            lambda f: (
                f["type"] == "error"
                or (f["type"] == "message" and f["message"]["role"] == "assistant")
            )
        )
        if frame["type"] == "error":
            raise AssertionError(f"turn refused: {frame}")
        return frame["message"]

    def text_of(self, message_id: str) -> str:
        """The answer's text as this tab assembled it from its frames, checking order."""
        text, seq = "", None
        for frame in self.seen:
            if frame.get("type") == "message" and frame["message"]["id"] == message_id:
                text, seq = frame["message"]["content"], frame["message"]["seq"]
            elif frame.get("type") == "snapshot" and frame["id"] == message_id:
                text, seq = frame["content"], frame["seq"]
            elif frame.get("type") == "delta" and frame["message_id"] == message_id:
                if seq is not None and frame["seq"] <= seq:
                    continue  # already have it
                assert seq is None or frame["after"] == seq, f"gap: {frame} after {seq}"
                text, seq = text + frame["text"], frame["seq"]
        return text


class TurnResult:
    def __init__(self, answer: dict, done: dict, text: str) -> None:
        self.answer, self.done, self.text = answer, done, text
        self.message_id = answer["id"]
        self.conversation_id = answer["conversation_id"]
        self.status = done["status"]
