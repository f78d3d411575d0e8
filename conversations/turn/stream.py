"""One running turn: reads the upstream stream and relays it, owned by the worker.

A turn is an asyncio task of the worker runtime, not of the socket that asked
for it: closing the tab does not stop it, `stop` does. Text lives in memory
while streaming; the runtime flushes it to the database at least once a second
and the end stores the final state (finish.finish_turn), tells every tab
(through the hub) and names a new conversation (titles).
"""

import asyncio
import logging
import time
from array import array
from contextlib import aclosing
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from django.conf import settings

from conversations import budgets, errors, frames, llm, upstream
from conversations.moderation import gate as moderation_gate
from conversations.turn import quirks, recovery, seam, titles
from conversations.turn.fanout import RemoteFanout
from conversations.turn.finish import finish_turn
from conversations.turn.hub import Hub
from conversations.turn.plan import Outcome, ReportedUsage, Status, TurnPlan

logger = logging.getLogger(__name__)

STATUS_BY_FINISH_REASON = {
    "stop": Status.COMPLETE,
    "length": Status.TRUNCATED,
    "content_filter": Status.FILTERED,
}
WORKER_STOPPED = "The server stopped while answering; the text so far is kept."
ANSWER_TOO_LONG = "The answer reached the size limit of {limit:,} characters and was cut there."
FINISH_ATTEMPTS = 5  # the final write survives a database restart of a few seconds


class AnswersCapped(Exception):
    """Every answer of the turn reached CHATSITE_MAX_ANSWER_CHARS: stop reading."""


@dataclass
class Pieces:
    """Text that grows a delta at a time and remembers where each delta ends.

    New deltas are kept as they came (`parts`); each compaction joins them into
    one string and the offset where each ends, a few bytes a delta instead of
    a string object each (hundreds of answers stream at once).
    """

    body: str = ""  # the compacted deltas 1 … len(ends)
    ends: array = field(default_factory=lambda: array("L"))  # where each ends in body
    parts: list[str] = field(default_factory=list)  # the deltas after those

    @classmethod
    def empty_deltas(cls, count: int) -> "Pieces":
        """`count` deltas that held none of this text (reasoning that starts late)."""
        return cls(ends=array("L", [0]) * count)

    @property
    def count(self) -> int:
        return len(self.ends) + len(self.parts)

    def append(self, text: str) -> None:
        self.parts.append(text)

    def text(self) -> str:
        self.compact()
        return self.body

    def after(self, done: int) -> str:
        """The text of the deltas after the first `done` (0 <= done <= count)."""
        index = done - len(self.ends)
        if index >= 0:
            return self.parts[-1] if index == len(self.parts) - 1 else "".join(self.parts[index:])
        start = self.ends[index - 1] if -index < len(self.ends) else 0
        return self.body[start:] + "".join(self.parts)

    def compact(self) -> None:
        if self.parts:
            end = len(self.body)
            for part in self.parts:
                end += len(part)
                self.ends.append(end)
            self.body += "".join(self.parts)
            self.parts = []


@dataclass
class ChoiceStream:
    """The growing text of one assistant message, its reasoning and its delta numbering.

    Answer text and reasoning share one numbering (docs/protocol.md): each
    delta adds to one of them, so catching up, fan-out and flushes cover both.
    Reasoning is kept only once a model sends some.
    """

    message_id: str
    prefix: str  # text stored before this turn (a continued answer)
    base_seq: int  # seq of the prefix
    limit: int = 1 << 62  # most characters the answer may hold (CHATSITE_MAX_ANSWER_CHARS)
    length: int = 0  # characters it holds now
    capped: bool = False  # it reached the limit: what comes after is dropped
    finish_reason: str = ""
    first_token_at: float | None = None
    flushed_seq: int = -1
    frame_head: str = ""  # see frames.delta_head
    answer: Pieces = field(default_factory=Pieces)
    reasoning_prefix: str = ""  # reasoning stored before this turn (a continued answer)
    reasoning: Pieces | None = None
    reasoning_length: int = 0  # bounded by `limit` too, on its own
    reasoning_started_at: float | None = None
    reasoning_ended_at: float | None = None  # the first answer text after reasoning
    logprobs: list | None = None  # a completion's token entries, when the API sends them

    @property
    def seq(self) -> int:
        return self.base_seq + self.answer.count

    @property
    def started(self) -> bool:
        """The model said anything for this choice: text, reasoning or its end."""
        return bool(self.answer.count or self.finish_reason)

    def add(self, text: str) -> bool:
        """Take a delta; False when nothing of it fits (the answer is full)."""
        if self.capped:
            return False
        room = self.limit - self.length
        if len(text) >= room:
            text, self.capped = text[:room], True
            if not text:
                return False
        if self.reasoning is not None:
            self.reasoning.append("")
            if self.reasoning_ended_at is None:
                self.reasoning_ended_at = time.monotonic()
        self.answer.append(text)
        self.length += len(text)
        return True

    def add_reasoning(self, text: str) -> bool:
        """Take a reasoning delta; False when nothing of it fits (then it is dropped)."""
        room = self.limit - self.reasoning_length
        text = text[:room]
        if not text:
            return False
        if self.reasoning is None:
            self.reasoning = Pieces.empty_deltas(self.answer.count)
            self.reasoning_started_at = time.monotonic()
        self.reasoning.append(text)
        self.reasoning_length += len(text)
        self.answer.append("")
        return True

    def text(self) -> str:
        return self.prefix + self.answer.text()

    def reasoning_text(self) -> str:
        return self.reasoning_prefix + (self.reasoning.text() if self.reasoning else "")

    def text_after(self, seq: int) -> str:
        """The text of the deltas after `seq` (base_seq <= seq <= self.seq)."""
        return self.answer.after(seq - self.base_seq)

    def reasoning_after(self, seq: int) -> str:
        return self.reasoning.after(seq - self.base_seq) if self.reasoning else ""

    def reasoning_ms(self) -> int | None:
        """From the first reasoning delta to the first answer text after it (or now)."""
        if self.reasoning_started_at is None:
            return None
        end = self.reasoning_ended_at or time.monotonic()
        return round((end - self.reasoning_started_at) * 1000)


class Turn:
    def __init__(self, plan: TurnPlan, hub: Hub, on_end=lambda turn: None) -> None:
        self.plan = plan
        self.hub = hub
        self.on_end = on_end  # the runtime forgets the turn before its end is announced
        self.conversation_id = str(plan.conversation_id)
        self.choices = [
            ChoiceStream(
                str(c.message_id),
                c.prefix,
                c.seq,
                limit=settings.CHATSITE_MAX_ANSWER_CHARS,
                length=len(c.prefix),
                flushed_seq=c.seq,
                frame_head=frames.delta_head(self.conversation_id, str(c.message_id)),
                reasoning_prefix=c.reasoning_prefix,
            )
            for c in plan.choices
        ]
        self.usage: llm.Usage | None = None
        self.remote = RemoteFanout(self)
        self.stop_requested = False
        self.task: asyncio.Task | None = None
        self.started_at = time.monotonic()

    def choice(self, message_id: str) -> ChoiceStream | None:
        return next((c for c in self.choices if c.message_id == message_id), None)

    def stop(self) -> None:
        """Stop at once, also before the first token: cancels the upstream request."""
        if self.task and not self.task.done():
            self.stop_requested = True
            self.task.cancel()

    async def run(self) -> None:
        status, error = None, None
        try:
            await moderation_gate.check_question(self.plan.moderation, self.hub)
            await self._stream()
        except asyncio.CancelledError:
            status = Status.STOPPED if self.stop_requested else None
            if status is None:  # the worker is stopping, not the user
                status, error = Status.INTERRUPTED, llm.StreamInterrupted(WORKER_STOPPED)
        except AnswersCapped:  # leaving the stream closed the upstream request
            pass
        except moderation_gate.Moderated as exc:
            status, error = Status.MODERATED, exc
        except llm.StreamInterrupted as exc:
            status, error = Status.INTERRUPTED, exc
        except llm.LLMError as exc:
            status, error = Status.ERROR, exc
        except Exception as exc:  # never leave a row streaming because of a bug
            logger.exception("Turn %s failed", self.conversation_id)
            status, error = Status.ERROR, exc
        await asyncio.shield(self._finish(status, error))

    async def _stream(self) -> None:
        client = llm.get_client(self.plan.provider)
        read = client.stream_chat_batches
        if self.plan.endpoint == "completions":
            read = client.stream_completion_batches
        stream = read(self.plan.body, on_retry=self._announce_retry, on_learn=self._remember)
        if self.plan.mend_seam:
            stream = seam.mended_stream(stream, self.plan.choices[0].prefix)
        try:
            async with aclosing(stream) as batches:
                async for batch in batches:
                    await self._take(batch)
        except llm.LLMError as error:
            await self._report(error)
            raise

    async def _remember(self, learnt: llm.Learnt) -> None:
        """What the server's refusal taught, for the next request (llm.adapt)."""
        try:
            await database_sync_to_async(quirks.remember)(
                learnt, model_config_id=self.plan.model_config_id
            )
        except Exception:  # the retry goes on; the next turn learns it again
            logger.exception("Could not remember %s for %s", learnt, self.conversation_id)

    async def _announce_retry(self, delay: float, code: str, attempt: int) -> None:
        """Tell every tab why nothing arrives yet (the wait after a 429 or 503)."""
        ids = [choice.message_id for choice in self.choices]
        frame = frames.retrying_frame(self.conversation_id, ids, delay, code, attempt)
        await self.hub.announce(self.conversation_id, frame)

    async def _report(self, error: llm.LLMError) -> None:
        """The provider's own words go to the log and its admin page, never to users."""
        ids = ", ".join(choice.message_id for choice in self.choices)
        logger.warning(
            "Provider error in conversation %s (answers %s): %s",
            self.conversation_id,
            ids,
            error.describe(),
        )
        try:
            await database_sync_to_async(upstream.record_provider_error)(
                error, model_config_id=self.plan.model_config_id
            )
        except Exception:  # the answer's own end matters more than this note
            logger.exception("Could not record the provider error of %s", self.conversation_id)

    async def _take(self, batch: list) -> None:
        """The events of one network read: each choice's new text goes out as one delta.

        Only a provider faster than this worker puts several chunks in one
        read, so this batches under pressure and never delays a delta.
        """
        fresh: dict[int, int] = {}  # choice index → its seq before this read
        try:
            for event in batch:
                kind = type(event)
                if kind is llm.Delta:
                    choice = self._choice_at(event.index)
                    after = choice.seq
                    if choice.add(event.text):
                        fresh.setdefault(event.index, after)
                    elif self._all_capped():
                        raise AnswersCapped
                elif kind is llm.Reasoning:
                    choice = self._choice_at(event.index)
                    after = choice.seq
                    if choice.add_reasoning(event.text):
                        fresh.setdefault(event.index, after)
                elif kind is llm.Finish:
                    self._choice_at(event.index).finish_reason = event.reason
                elif kind is llm.Usage:
                    self.usage = event
                elif kind is llm.Logprobs:
                    choice = self._choice_at(event.index)
                    choice.logprobs = [*(choice.logprobs or []), *event.entries]
        finally:  # what arrived before a bad chunk is still relayed
            for index, after in fresh.items():
                await self._relay(self.choices[index], after)

    def _all_capped(self) -> bool:
        return all(c.capped or c.finish_reason for c in self.choices) and any(
            c.capped for c in self.choices
        )

    def _choice_at(self, index: int) -> ChoiceStream:
        if not 0 <= index < len(self.choices):
            raise llm.ProtocolError(f"The provider answered choice {index}, never asked for.")
        return self.choices[index]

    async def _relay(self, choice: ChoiceStream, after: int) -> None:
        if choice.first_token_at is None:
            choice.first_token_at = time.monotonic()
        text, reasoning = choice.text_after(after), choice.reasoning_after(after)
        frame = frames.delta_text(choice.frame_head, after, choice.seq, text, reasoning)
        await self.hub.send_local(self.conversation_id, frame)
        self.remote.push(choice)

    # --- Catching up a subscriber -------------------------------------------------

    def catch_up_frame(self, message_id: str, after: int | None) -> dict | None:
        """What a subscriber that has seen deltas up to `after` is missing."""
        choice = self.choice(message_id)
        if choice is None:
            return None
        if after is None or after < choice.base_seq or after > choice.seq:
            return frames.snapshot_frame(
                self.conversation_id, message_id, choice.text(), choice.seq, choice.reasoning_text()
            )
        if after == choice.seq:
            return None
        return frames.delta_frame(
            self.conversation_id,
            message_id,
            after,
            choice.seq,
            choice.text_after(after),
            choice.reasoning_after(after),
        )

    def live_fields(self, message_id: str) -> dict:
        """What a stored message dict of a running answer lags behind in."""
        choice = self.choice(message_id)
        if choice is None:
            return {}
        return {"content": choice.text(), "reasoning": choice.reasoning_text(), "seq": choice.seq}

    def partials(self) -> list[recovery.Partial]:
        """Rows for the runtime's batch flush: choices with text not yet stored."""
        rows = []
        for choice in self.choices:
            if choice.seq != choice.flushed_seq:
                reasoning = choice.reasoning_text() if choice.reasoning is not None else None
                rows.append(
                    recovery.Partial(choice.message_id, choice.text(), choice.seq, reasoning)
                )
        return rows

    def mark_flushed(self, rows: list[tuple]) -> None:
        for message_id, _text, seq, *_reasoning in rows:
            choice = self.choice(message_id)
            if choice:
                choice.flushed_seq = seq

    # --- The end ---------------------------------------------------------------------

    async def _finish(self, status: str | None, error: Exception | None) -> None:
        outcomes = [self._outcome(choice, status, error) for choice in self.choices]
        usage = self.usage and ReportedUsage(
            self.usage.prompt_tokens, self.usage.completion_tokens, self.usage.reasoning_tokens
        )
        messages = await self._store(outcomes, usage)
        self.on_end(self)
        await self.remote.close()
        for message in messages or []:
            await self.hub.announce(self.conversation_id, frames.done_frame(message))
        if messages:
            await self._name_conversation()
            await self._warn_of_budget()
            await self._moderate_answers(messages)

    async def _moderate_answers(self, messages: list[dict]) -> None:
        try:
            await moderation_gate.check_answers(self.plan.moderation, messages, self.hub)
        except Exception:  # the answer is stored and shown; only its review flag is missing
            logger.exception("Moderating the answers of %s failed", self.conversation_id)

    async def _warn_of_budget(self) -> None:
        """Tell the tabs when a budget of the owner is 80 % used (the page shows it too)."""
        try:
            warning = await database_sync_to_async(budgets.warning_for_user)(self.plan.owner_id)
        except Exception:  # a warning is a nicety; the answer is already stored
            logger.exception("Reading the budgets of turn %s failed", self.conversation_id)
            return
        if warning:
            frame = {"type": "budget", "conversation_id": self.conversation_id, "warning": warning}
            await self.hub.announce(self.conversation_id, frame)

    async def _name_conversation(self) -> None:
        if self.plan.endpoint == "completions":
            return  # a document is named after its prompt when it starts
        try:
            await titles.name_conversation(self.plan, self.hub)
        except Exception:  # a title is a nicety; the answer is already stored
            logger.exception("Naming conversation %s failed", self.conversation_id)

    def _outcome(self, choice: ChoiceStream, status, error) -> Outcome:
        outcome = Outcome(
            message_id=choice.message_id,
            content=choice.text(),
            seq=choice.seq,
            status=status or self._status_from_finish(choice),
            finish_reason=choice.finish_reason,
            ttft_ms=self._ttft(choice),
            reasoning=choice.reasoning_text(),
            reasoning_ms=choice.reasoning_ms(),
            logprobs=choice.logprobs,
        )
        if choice.capped:  # cut by us, whatever the stream did after
            outcome.status = Status.TRUNCATED
            outcome.error_code = "answer_too_long"
            outcome.error_message = ANSWER_TOO_LONG.format(limit=choice.limit)
        elif status is None and self._never_started(choice):
            # The stream ended normally with other choices only: the server ignores `n`.
            outcome.status = Status.ERROR
            outcome.error_code = "n_unsupported"
            outcome.error_message = errors.user_message(outcome.error_code)
        elif error is not None:
            outcome.error_code = error.code if isinstance(error, llm.LLMError) else "internal_error"
            # Chosen by code: what the provider (or a bug) said stays in the log.
            outcome.error_message = errors.user_message(outcome.error_code)
        return outcome

    def _never_started(self, choice: ChoiceStream) -> bool:
        return not choice.started and any(other.started for other in self.choices)

    @staticmethod
    def _status_from_finish(choice: ChoiceStream) -> str:
        if not choice.finish_reason:
            return Status.INTERRUPTED  # the stream never said this choice ended
        return STATUS_BY_FINISH_REASON.get(choice.finish_reason, Status.COMPLETE)

    def _ttft(self, choice: ChoiceStream) -> int | None:
        if choice.first_token_at is None:
            return None
        return round((choice.first_token_at - self.started_at) * 1000)

    async def _store(self, outcomes, usage) -> list[dict] | None:
        for attempt in range(FINISH_ATTEMPTS):
            try:
                return await database_sync_to_async(finish_turn)(
                    plan=self.plan, outcomes=outcomes, usage=usage
                )
            except Exception:
                logger.exception("Storing the end of turn %s failed", self.conversation_id)
                await asyncio.sleep(0.5 * 2**attempt)
        # The rows stay `streaming` without a heartbeat; the sweeper marks them
        # interrupted, keeping the text of the last flush.
        return None
