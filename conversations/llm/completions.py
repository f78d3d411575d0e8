"""The OpenAI text-completions JSON shapes (``/v1/completions``), in and out.

A streamed completion sends ``text_completion`` chunks whose choices carry
``text`` (not a delta), ``logprobs`` (the legacy shape: parallel lists
``tokens``, ``token_logprobs``, ``top_logprobs``, ``text_offset``) and
``finish_reason``; an unstreamed one is the same object whole. Both become
the chat events (Delta, Finish, Usage) plus ``Logprobs``.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import ProtocolError, error_from_event
from .events import Delta, Finish, Logprobs, StreamEvent
from .text import clean_text
from .wire import finish_reason, parse_json, parse_usage

TOKEN_LENGTH_MAX = 200  # a token is short; anything longer is cut before it is stored
ALTERNATIVES_MAX = 5  # the API's own cap on logprobs


def completion_chunk_events(data: str) -> list[StreamEvent]:
    """Translate one streamed ``text_completion`` chunk into events (maybe none)."""
    chunk = parse_json(data, "a stream chunk")
    if not isinstance(chunk, dict):
        raise ProtocolError("The model provider sent a stream chunk that is not an object.")
    if chunk.get("error"):
        raise error_from_event(chunk["error"])
    return _checked_events(chunk)


def completion_result_events(payload: Any) -> list[StreamEvent]:
    """An unstreamed ``text_completion`` object as the events a stream would have sent."""
    if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
        raise ProtocolError("The model provider sent a completion of unknown shape.")
    return _checked_events(payload)


def _checked_events(chunk: dict) -> list[StreamEvent]:
    try:
        return _events(chunk)
    except (AttributeError, TypeError, ValueError, KeyError):
        raise ProtocolError("The model provider sent a completion of unknown shape.") from None


def _events(chunk: dict[str, Any]) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    for choice in chunk.get("choices") or ():
        index = int(choice.get("index") or 0)
        text = choice.get("text")
        if text:
            events.append(Delta(index, clean_text(str(text))))
        entries = logprob_entries(choice.get("logprobs"))
        if entries:
            events.append(Logprobs(index, entries))
        if choice.get("finish_reason"):
            events.append(Finish(index, finish_reason(choice["finish_reason"])))
    usage = parse_usage(chunk.get("usage"))
    if usage is not None:
        events.append(usage)
    return events


def logprob_entries(logprobs: Any) -> tuple:
    """The legacy parallel lists as one entry per token (bounded, numbers checked)."""
    if not isinstance(logprobs, dict):
        return ()
    tokens = logprobs.get("tokens") or []
    values = logprobs.get("token_logprobs") or []
    tops = logprobs.get("top_logprobs") or []
    offsets = logprobs.get("text_offset") or []
    return tuple(
        {
            "token": _token(token),
            "logprob": _logprob(_at(values, i)),
            "top": _alternatives(_at(tops, i)),
            "offset": _offset(_at(offsets, i)),
        }
        for i, token in enumerate(tokens)
    )


def _at(values: list, index: int) -> Any:
    return values[index] if isinstance(values, list) and index < len(values) else None


def _token(value: Any) -> str:
    return clean_text(str(value))[:TOKEN_LENGTH_MAX]


def _logprob(value: Any) -> float | None:
    # The first token of an echoed prompt has none (null), as the API sends it.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(min(0.0, value))


def _offset(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _alternatives(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        return {}
    pairs = ((_token(token), _logprob(lp)) for token, lp in value.items())
    return dict([(token, lp) for token, lp in pairs if lp is not None][: ALTERNATIVES_MAX + 1])
