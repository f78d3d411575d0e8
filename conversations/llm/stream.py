"""Turn an open ``text/event-stream`` response into chat events.

The stream is only complete when every choice that spoke has a
finish_reason *and* ``data: [DONE]`` arrived; anything short of that is
``StreamInterrupted``, raised after the text received so far was yielded.
A stream that ends with nothing at all in it (no text, no reasoning, no
finish reason: llama.cpp's answer to a prompt over its context window), by
``[DONE]``, a clean end or a dropped connection, is ``EmptyAnswer`` instead,
so it is not mistaken for an answer cut short.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx

from .deadlines import Deadlines
from .errors import EmptyAnswer, LLMError, ProtocolError, StreamInterrupted
from .events import Delta, Finish, Reasoning, StreamEvent
from .sse import SSEDecodeError, SSEDecoder
from .text import SurrogateMender
from .transport import TRANSPORT_ERRORS, reading_error
from .wire import DONE, chunk_events

# One event's data → its events: chat chunks (wire) or text completions (completions).
ChunkParser = Callable[[str], list[StreamEvent]]

# After [DONE] the terminating chunk is normally already in flight; waiting
# briefly for it lets the connection go back to the pool instead of closing.
DRAIN_SECONDS = 0.5


async def read_batches(
    response: httpx.Response, deadlines: Deadlines, parse: ChunkParser = chunk_events
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
    while (chunk := await _next_chunk(chunks, deadlines, choices)) is not None:
        batch: list[StreamEvent] = []
        failure, finished = None, False
        try:
            finished = _read(decoder, chunk, choices, batch, parse)
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
    choices.check_spoke()
    raise StreamInterrupted("The model provider closed the stream before it finished.")


async def _next_chunk(
    chunks: AsyncIterator[bytes], deadlines: Deadlines, choices: ChoiceTracker
) -> bytes | None:
    try:
        return await next_chunk(chunks, deadlines)
    except StreamInterrupted:
        # llama.cpp's empty answer may end in a cut connection rather than a clean end.
        choices.check_spoke()
        raise


def _read(
    decoder: SSEDecoder, chunk: bytes, choices: ChoiceTracker, batch: list, parse: ChunkParser
) -> bool:
    """Add the chunk's events to batch; True once [DONE] arrived."""
    for event in decode(decoder, chunk):
        if event.data == DONE:
            batch.extend(choices.held_text())
            return True
        for item in parse(event.data):
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

    It also makes each choice's text and reasoning safe where they enter (see
    text.py): a surrogate pair split across two chunks is joined, anything
    unstorable is replaced or dropped, so no delta can poison its answer.
    """

    __slots__ = ("finished", "menders", "seen")

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.finished: set[int] = set()
        # (kind of text, choice index) → its mender: answer and reasoning apart.
        self.menders: dict[tuple[type, int], SurrogateMender] = {}

    def note(self, event: StreamEvent) -> StreamEvent | None:
        """The event to pass on: text made safe (None if nothing is left of it)."""
        kind = type(event)
        if kind is Delta or kind is Reasoning:
            self.seen.add(event.index)
            mender = self.menders.get((kind, event.index))
            if mender is None:
                mender = self.menders[kind, event.index] = SurrogateMender()
            text = mender.mend(event.text)
            if text is not event.text:
                event = kind(event.index, text) if text else None
        elif kind is Finish:
            self.finished.add(event.index)
        return event

    def held_text(self) -> list[Delta | Reasoning]:
        """What is left of a split character when the stream ends: a replacement mark."""
        left = ((key, mender.flush()) for key, mender in self.menders.items())
        return [kind(index, text) for (kind, index), text in left if text]

    def check_spoke(self) -> None:
        """Nothing at all came back: no text, no reasoning, no finish reason."""
        if not self.seen and not self.finished:
            raise EmptyAnswer(
                "The model provider ended the stream without sending anything.",
                detail="HTTP 200 and an empty stream: the prompt may be over the model's window.",
            )

    def check_finished(self) -> None:
        self.check_spoke()
        if not self.finished or not self.seen <= self.finished:
            raise StreamInterrupted("The model provider ended the stream without a finish reason.")
