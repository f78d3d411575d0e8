"""Turn an open ``text/event-stream`` response into chat events.

The stream is only complete when every choice that spoke has a
finish_reason *and* ``data: [DONE]`` arrived; anything short of that is
``StreamInterrupted``, raised after the text received so far was yielded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx

from .deadlines import Deadlines
from .errors import LLMError, ProtocolError, StreamInterrupted
from .events import Delta, Finish, StreamEvent
from .sse import SSEDecodeError, SSEDecoder
from .text import SurrogateMender
from .transport import TRANSPORT_ERRORS, reading_error
from .wire import DONE, chunk_events

# After [DONE] the terminating chunk is normally already in flight; waiting
# briefly for it lets the connection go back to the pool instead of closing.
DRAIN_SECONDS = 0.5


async def read_batches(
    response: httpx.Response, deadlines: Deadlines
) -> AsyncIterator[list[StreamEvent]]:
    """The events of each piece of body that arrived, together.

    A relay sends one frame for all the text of one read: when the provider
    is faster than we are, several chunks arrive together and go out as one,
    and nothing ever waits for more. A failure mid-read comes after the
    events before it.
    """
    chunks = response.aiter_bytes()
    decoder = SSEDecoder()
    choices = ChoiceTracker()
    while (chunk := await next_chunk(chunks, deadlines)) is not None:
        batch: list[StreamEvent] = []
        failure, finished = None, False
        try:
            finished = _read(decoder, chunk, choices, batch)
        except LLMError as error:
            failure = error
        deadlines.progress()
        if batch:
            yield batch
            deadlines.progress()
        if failure is not None:
            raise failure
        if finished:
            choices.check_finished()
            await drain(chunks)
            return
    raise StreamInterrupted("The model provider closed the stream before it finished.")


def _read(decoder: SSEDecoder, chunk: bytes, choices: ChoiceTracker, batch: list) -> bool:
    """Add the chunk's events to batch; True once [DONE] arrived."""
    for event in decode(decoder, chunk):
        if event.data == DONE:
            batch.extend(choices.held_text())
            return True
        for item in chunk_events(event.data):
            item = choices.note(item)
            if item is not None:
                batch.append(item)
    return False


async def next_chunk(chunks: AsyncIterator[bytes], deadlines: Deadlines) -> bytes | None:
    """The next piece of body, None at its end; bounded by the phase deadline."""
    deadline = deadlines.deadline()
    try:
        async with asyncio.timeout_at(deadline):
            return await anext(chunks, None)
    except TimeoutError:
        raise deadlines.expired(deadline) from None
    except TRANSPORT_ERRORS as exc:
        raise reading_error(exc) from None


def decode(decoder: SSEDecoder, chunk: bytes) -> list:
    try:
        return decoder.feed(chunk)
    except SSEDecodeError:
        raise ProtocolError("The model provider sent an unreadable event stream.") from None


async def drain(chunks: AsyncIterator[bytes]) -> None:
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in chunks:
                pass
    except (TimeoutError, *TRANSPORT_ERRORS):
        pass  # the caller closes the response; the connection is just not reused


class ChoiceTracker:
    """Which choices spoke and which finished, to tell complete from cut short.

    It also makes each choice's text safe where it enters (see text.py): a
    surrogate pair split across two chunks is joined, anything unstorable is
    replaced or dropped, so no delta can poison the answer it belongs to.
    """

    __slots__ = ("finished", "menders", "seen")

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.finished: set[int] = set()
        self.menders: dict[int, SurrogateMender] = {}

    def note(self, event: StreamEvent) -> StreamEvent | None:
        """The event to pass on: a delta made safe (None if nothing is left of it)."""
        kind = type(event)
        if kind is Delta:
            self.seen.add(event.index)
            mender = self.menders.get(event.index)
            if mender is None:
                mender = self.menders[event.index] = SurrogateMender()
            text = mender.mend(event.text)
            if text is not event.text:
                event = Delta(event.index, text) if text else None
        elif kind is Finish:
            self.finished.add(event.index)
        return event

    def held_text(self) -> list[Delta]:
        """What is left of a split character when the stream ends: a replacement mark."""
        left = ((index, mender.flush()) for index, mender in self.menders.items())
        return [Delta(index, text) for index, text in left if text]

    def check_finished(self) -> None:
        if not self.finished or not self.seen <= self.finished:
            raise StreamInterrupted("The model provider ended the stream without a finish reason.")
