"""A request for a turn, whichever door it came through (a socket frame, the HTTP API)."""

from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

Kind = Literal["send", "regenerate", "edit", "continue", "complete", "image"]
KINDS: tuple[Kind, ...] = ("send", "regenerate", "edit", "continue", "complete", "image")


@dataclass(frozen=True)
class TurnRequest:
    """What to answer and how; every field already checked for its type.

    - send: ``content`` into ``conversation_id`` (None: a new conversation),
      after ``parent_id`` (None: the current leaf);
    - regenerate: another answer beside ``message_id`` (an answer);
    - edit: ``content`` beside ``message_id`` (a user message), then its answer;
    - continue: carry on ``message_id`` (an answer cut by the length limit);
    - complete: ``content`` is a prompt for a completion model, in a completion
      document (turn.completion); ``params`` take the completion rules.
    - image: ``content`` as the prompt of images from an image model
      (conversations.turn.images); a send, edit or regenerate whose model is
      an image model is one too.

    ``client_id`` makes a resent request safe: one the conversation already
    has creates nothing new. The user is not part of the request: it is who
    asks, passed beside it to ``start_turn``.
    """

    kind: Kind
    client_id: str
    conversation_id: UUID | None = None
    parent_id: UUID | None = None
    message_id: UUID | None = None
    content: str = ""
    model: int | None = None  # a ModelConfig primary key
    persona_id: UUID | None = None
    params: dict[str, Any] | None = None

    @classmethod
    def from_frame(cls, frame) -> "TurnRequest":
        """From a checked socket frame (frames.Inbound) of one of the turn kinds."""
        fields = frame.fields
        return cls(
            kind=frame.type,
            client_id=fields["client_id"],
            conversation_id=fields.get("conversation_id"),
            parent_id=fields.get("parent_id"),
            message_id=fields.get("message_id"),
            content=fields.get("content", ""),
            model=fields.get("model"),
            persona_id=fields.get("persona_id"),
            params=fields.get("params"),
        )
