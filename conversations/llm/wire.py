"""The OpenAI chat-completions JSON shapes, in and out."""

from __future__ import annotations

import json
from typing import Any

from .errors import ProtocolError, error_from_event
from .events import ChatResult, Delta, Finish, StreamEvent, Usage

DONE = "[DONE]"


def stream_body(body: dict[str, Any]) -> dict[str, Any]:
    """The caller's body, asking for a stream that ends with a usage chunk."""
    options = {**(body.get("stream_options") or {}), "include_usage": True}
    return {**body, "stream": True, "stream_options": options}


def plain_body(body: dict[str, Any]) -> dict[str, Any]:
    payload = {**body, "stream": False}
    payload.pop("stream_options", None)  # providers reject it without stream
    return payload


def parse_json(content: str | bytes, what: str) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        raise ProtocolError(f"The model provider sent malformed JSON in {what}.") from None


def chunk_events(data: str) -> list[StreamEvent]:
    """Translate one ``chat.completion.chunk`` into events (maybe none)."""
    chunk = parse_json(data, "a stream chunk")
    if not isinstance(chunk, dict):
        raise ProtocolError("The model provider sent a stream chunk that is not an object.")
    if chunk.get("error"):
        raise error_from_event(chunk["error"])
    try:
        return _events(chunk)
    except (AttributeError, TypeError, ValueError):
        raise ProtocolError("The model provider sent a stream chunk of unknown shape.") from None


def _events(chunk: dict[str, Any]) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    for choice in chunk.get("choices") or ():
        index = int(choice.get("index") or 0)
        text = (choice.get("delta") or {}).get("content")
        if text:  # role-only and empty deltas carry nothing to show
            events.append(Delta(index, str(text)))
        if choice.get("finish_reason"):
            events.append(Finish(index, str(choice["finish_reason"])))
    usage = chunk.get("usage")
    if usage:
        events.append(parse_usage(usage))
    return events


def parse_usage(usage: dict[str, Any]) -> Usage:
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    total = int(usage.get("total_tokens") or prompt + completion)
    return Usage(prompt, completion, total)


def chat_result(payload: Any) -> ChatResult:
    """Read a non-streaming ``chat.completion`` object."""
    try:
        choice = payload["choices"][0]
        usage = payload.get("usage")
        return ChatResult(
            text=(choice.get("message") or {}).get("content") or "",
            finish_reason=choice.get("finish_reason"),
            usage=parse_usage(usage) if usage else None,
        )
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        raise ProtocolError("The model provider sent a completion of unknown shape.") from None


def model_list(payload: Any) -> list[dict[str, Any]]:
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise ProtocolError("The model provider sent a model list of unknown shape.")
    return [item for item in data if isinstance(item, dict)]


def model_object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict) or "id" not in payload:
        raise ProtocolError("The model provider sent a model of unknown shape.")
    return payload
