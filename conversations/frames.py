"""The websocket protocol's frames: parsing what clients send, shaping what we send.

Every inbound frame is checked here before anything else sees it: size, JSON,
its type, the fields that type allows and their kinds. docs/protocol.md
describes each frame and error code.
"""

import itertools
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from conversations import json_input
from conversations.llm.text import clean_text
from conversations.refusals import Refused

CLIENT_ID_PATTERN = re.compile(r"\A[A-Za-z0-9_.:-]{1,64}\Z")
ID_LIMIT = 2**63  # what a database integer holds


class FrameError(Refused):
    """A frame we refuse before it is parsed whole: it may still name its client_id."""

    def __init__(self, code: str, message: str, client_id: str | None = None, **extra: Any):
        super().__init__(code, message, **extra)
        self.client_id = client_id


@dataclass(frozen=True)
class Inbound:
    """A parsed client frame: its type and its checked fields."""

    type: str
    fields: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def client_id(self) -> str | None:
        return self.fields.get("client_id")


_SEND = {
    "conversation_id": ("uuid", False),
    "content": ("content", True),
    "client_id": ("client_id", True),
    "persona_id": ("uuid", False),
    "model": ("model", False),
    "params": ("object", False),
    "parent_id": ("uuid", False),
}

# For each frame type: field name → (kind, required).
SCHEMAS: dict[str, dict[str, tuple[str, bool]]] = {
    "send": _SEND,
    "regenerate": {
        "message_id": ("uuid", True),
        "client_id": ("client_id", True),
        "model": ("model", False),
        "params": ("object", False),
    },
    "edit": {
        "message_id": ("uuid", True),
        "content": ("content", True),
        "client_id": ("client_id", True),
        "model": ("model", False),
        "params": ("object", False),
    },
    "continue": {"message_id": ("uuid", True), "client_id": ("client_id", True)},
    "image": _SEND,  # a prompt for images (docs/protocol.md): the fields of send
    "stop": {"message_id": ("uuid", False), "conversation_id": ("uuid", False)},
    "subscribe": {
        "conversation_id": ("uuid", True),
        "message_id": ("uuid", False),
        "after_seq": ("seq", False),
    },
    "unsubscribe": {},
    "ping": {},
    # A prompt for a completion model: a new completion document, or the next
    # prompt in one (docs/protocol.md).
    "complete": {
        "conversation_id": ("uuid", False),
        "content": ("content", True),
        "client_id": ("client_id", True),
        "persona_id": ("uuid", False),
        "model": ("model", False),
        "params": ("object", False),
        "parent_id": ("uuid", False),
    },
}


def parse(text: str | None) -> Inbound:
    if text is None:
        raise FrameError("invalid_frame", _("Frames must be JSON text."))
    if len(text.encode(errors="surrogatepass")) > settings.CHATSITE_MAX_FRAME_BYTES:
        raise FrameError("frame_too_large", _("The frame is larger than allowed."))
    try:
        data = json_input.loads(text, depth_max=DEPTH_MAX)
    except json_input.TooDeep:
        raise FrameError("invalid_frame", _("The frame nests too deeply.")) from None
    except ValueError:
        raise FrameError("invalid_frame", _("The frame is not valid JSON.")) from None
    kind = data.get("type") if isinstance(data, dict) else None
    if not isinstance(kind, str) or kind not in SCHEMAS:
        raise FrameError("invalid_frame", _("Unknown or missing frame type."))
    return Inbound(kind, _checked_fields(data))


# The deepest frame is {"params": {"logit_bias": {...}}}.
DEPTH_MAX = 8


def _checked_fields(data: dict) -> dict[str, Any]:
    schema = SCHEMAS[data["type"]]
    client_id = _echoed_client_id(data.get("client_id"))
    unknown = sorted(set(data) - set(schema) - {"type"})
    if unknown:
        message = _("Unknown field(s): %s.") % clean_text(", ".join(unknown))
        raise FrameError("invalid_frame", message, client_id)
    fields = {}
    for name, (kind, required) in schema.items():
        value = data.get(name)
        if value is None:
            if required:
                raise FrameError("invalid_frame", _("%s is required.") % name, client_id)
            continue
        fields[name] = _check(kind, name, value, client_id)
    return fields


def _echoed_client_id(value: Any) -> str | None:
    """The client id an error answers to, when it is one: the tab matches errors
    to what it sent, and nothing else it sent is echoed."""
    return value if isinstance(value, str) and CLIENT_ID_PATTERN.match(value) else None


def _check(kind: str, name: str, value: Any, client_id: str | None) -> Any:
    try:
        return CHECKS[kind](value)
    except (TypeError, ValueError) as error:
        raise FrameError("invalid_frame", f"{name}: {error}", client_id) from None


def _uuid(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise TypeError(_("must be an id."))
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValueError(_("must be an id.")) from None


def _content(value: Any) -> str:
    # The same text rule as model output: what a browser or script sends is stored as-is
    # on SQLite and PostgreSQL alike, less what neither can hold.
    value = clean_text(value) if isinstance(value, str) else value
    if not isinstance(value, str) or not value.strip():
        raise ValueError(_("must be non-empty text."))
    if len(value) > settings.CHATSITE_MAX_MESSAGE_CHARS:
        raise ValueError(
            _("is longer than %(max)s characters.") % {"max": settings.CHATSITE_MAX_MESSAGE_CHARS}
        )
    return value


def _client_id(value: Any) -> str:
    if not isinstance(value, str) or not CLIENT_ID_PATTERN.match(value):
        raise ValueError(_("must be 1 to 64 letters, digits or _.:-"))
    return value


def _model(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(_("must be a model id."))
    try:
        model = int(value)
    except ValueError:
        raise ValueError(_("must be a model id.")) from None
    if not 0 < model < ID_LIMIT:
        raise ValueError(_("must be a model id."))
    return model


def _object(value: Any) -> dict:
    if not isinstance(value, dict):
        raise TypeError(_("must be an object."))
    return value


def _seq(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < ID_LIMIT:
        raise ValueError(_("must be a whole number, 0 or more."))
    return value


CHECKS = {
    "uuid": _uuid,
    "content": _content,
    "client_id": _client_id,
    "model": _model,
    "object": _object,
    "seq": _seq,
}


# --- Outbound ---------------------------------------------------------------


def refusal_frame(refused: Refused, client_id: str | None = None) -> dict:
    """The `error` frame of any refusal, echoing the client id of the frame it refuses."""
    client_id = getattr(refused, "client_id", None) or client_id
    return error_frame(client_id=client_id, **refused.as_error())


def error_frame(code: str, message: str, client_id: str | None = None, **extra: Any) -> dict:
    frame = {"type": "error", "code": code, "message": message, **extra}
    if client_id:
        frame["client_id"] = client_id
    return frame


def delta_frame(
    conversation_id: str, message_id: str, after: int, seq: int, text: str, reasoning: str = ""
) -> dict:
    """Text (and reasoning, when there is some) of the deltas after+1 … seq of one message."""
    frame = {
        "type": "delta",
        "conversation_id": conversation_id,
        "message_id": message_id,
        "after": after,
        "seq": seq,
        "text": text,
    }
    if reasoning:
        frame["reasoning"] = reasoning
    return frame


def delta_head(conversation_id: str, message_id: str) -> str:
    """The start of every delta frame of one message, encoded once per message."""
    head = encode({"type": "delta", "conversation_id": conversation_id, "message_id": message_id})
    return head[:-1] + ',"after":'


def delta_text(head: str, after: int, seq: int, text: str, reasoning: str = "") -> str:
    """``encode(delta_frame(...))``, built from the message's head: the relay's hot path."""
    if reasoning:
        return f'{head}{after},"seq":{seq},"text":{_dumps(text)},"reasoning":{_dumps(reasoning)}}}'
    return f'{head}{after},"seq":{seq},"text":{_dumps(text)}}}'


def snapshot_frame(
    conversation_id: str, message_id: str, content: str, seq: int, reasoning: str
) -> dict:
    """The whole text and reasoning so far of a running answer, up to delta `seq`."""
    return {
        "type": "snapshot",
        "conversation_id": conversation_id,
        "id": message_id,
        "content": content,
        "reasoning": reasoning,
        "seq": seq,
    }


def message_frame(message: dict, client_id: str | None = None) -> dict:
    frame = {"type": "message", "conversation_id": message["conversation_id"], "message": message}
    if client_id:
        frame["client_id"] = client_id
    return frame


def done_frame(message: dict) -> dict:
    return {
        "type": "done",
        "conversation_id": message["conversation_id"],
        "message_id": message["id"],
        "status": message["status"],
        "finish_reason": message["finish_reason"] or None,
        "seq": message["seq"],
        "usage": {
            "prompt_tokens": message["prompt_tokens"],
            "completion_tokens": message["completion_tokens"],
            "reasoning_tokens": message["reasoning_tokens"],
            "estimated": message["usage_estimated"],
        },
        "ttft_ms": message["ttft_ms"],
        "reasoning_ms": message["reasoning_ms"],
        "error": (
            {"code": message["error_code"], "message": message["error_message"]}
            if message["error_code"]
            else None
        ),
        "moderation": message.get("moderation"),
        **_logprobs(message),
        "images": message.get("images", []),  # an image answer's own URLs on this site
    }


def _logprobs(message: dict) -> dict:
    """A completion's token log probabilities, when it asked for them (docs/protocol.md)."""
    return {"logprobs": message["logprobs"]} if message.get("logprobs") is not None else {}


def retrying_frame(
    conversation_id: str, message_ids: list[str], delay: float, code: str, attempt: int
) -> dict:
    """The provider refused for now (429/503…); the answers are tried again in ``delay_s``."""
    return {
        "type": "retrying",
        "conversation_id": conversation_id,
        "message_ids": message_ids,
        "delay_s": round(delay, 1),
        "code": code,
        "attempt": attempt,
    }


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_dumps = _ENCODER.encode


def encode(frame: dict) -> str:
    return _dumps(frame)


# --- Frames too large for one websocket message -------------------------------
# Daphne (autobahn) refuses to send a message over 1 MiB and the frame is lost
# without an error reaching us. A frame longer than PART_CHARS characters goes
# out as several `part` frames instead, which the tab joins and then reads as
# the frame they carry (docs/protocol.md). At most 4 bytes a character in
# UTF-8, so a part stays well under the limit.
PART_CHARS = 200_000
_part_ids = itertools.count(1)


def split(text: str) -> list[str]:
    """``text`` as `part` frames, in order (only for text over PART_CHARS)."""
    pieces = [text[i : i + PART_CHARS] for i in range(0, len(text), PART_CHARS)]
    part_id = f"p{next(_part_ids)}"
    return [
        encode({"type": "part", "id": part_id, "n": n, "of": len(pieces), "text": piece})
        for n, piece in enumerate(pieces)
    ]
