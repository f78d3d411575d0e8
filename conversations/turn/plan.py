"""What a started turn carries from the database side to the streaming side, and back."""

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from conversations.llm import ProviderSettings
from conversations.models import Message

Status = Message.Status
ERROR_MESSAGE_MAX = 2000


@dataclass
class Choice:
    """One assistant message the turn fills (several when n > 1)."""

    message_id: UUID
    prefix: str = ""  # text already there when continuing a cut-off answer
    seq: int = 0  # its last delta's number before this turn
    reasoning_prefix: str = ""  # and the reasoning that came with it


@dataclass
class TurnPlan:
    owner_id: int
    conversation_id: UUID
    model_config_id: int
    model_name: str
    provider: ProviderSettings
    body: dict[str, Any]
    choices: list[Choice]
    prompt_tokens: int
    prompt_exact: bool
    omitted: int
    frames: list[dict] = field(default_factory=list)  # messages to announce
    continuing: bool = False
    mend_seam: bool = False  # a continuation the server wrote afresh: join it (turn.seam)
    uncached_counts: dict[UUID, tuple[int, str]] = field(default_factory=dict)
    moderation: Any = None  # a conversations.moderation.policy.Check, when the question is checked
    endpoint: str = "chat"  # "completions": a completion document (turn.completion)
    images: bool = False  # a turn of images (conversations.turn.images), not a stream


@dataclass
class Replay:
    """A request resent with a client_id we already have: no new turn."""

    conversation_id: UUID
    frames: list[dict]
    streaming: list[UUID]


@dataclass
class Outcome:
    """How one choice ended, as the streaming side saw it."""

    message_id: UUID
    content: str
    seq: int
    status: str
    finish_reason: str = ""
    error_code: str = ""
    error_message: str = ""
    ttft_ms: int | None = None
    reasoning: str = ""  # the whole reasoning, prefix included
    reasoning_ms: int | None = None  # this turn's time reasoning
    logprobs: list | None = None  # a completion's per-token log probabilities, when asked


@dataclass
class ReportedUsage:
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int | None = None  # part of completion_tokens


def message_dicts(messages: list) -> list[dict]:
    """Fresh dicts of messages (rows or ids), in the order given."""
    ids = [UUID(str(getattr(m, "id", m))) for m in messages]
    by_id = {UUID(row["id"]): row for row in Message.objects.filter(pk__in=ids).as_dicts()}
    return [by_id[i] for i in ids if i in by_id]  # deleted meanwhile: skipped
