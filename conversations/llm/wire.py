"""The OpenAI chat-completions JSON shapes, in and out."""

from __future__ import annotations

import json
from typing import Any

from .errors import ProtocolError, error_from_event
from .events import ChatResult, Delta, Finish, Reasoning, StreamEvent, Usage
from .text import clean_text

DONE = "[DONE]"


def stream_body(body: dict[str, Any]) -> dict[str, Any]:
    """The caller's body, asking for a stream that ends with a usage chunk.

    ``stream_options: {"include_usage": False}`` asks for none, for servers
    that refuse the option: then no ``stream_options`` is sent at all.
    """
    options = {"include_usage": True, **(body.get("stream_options") or {})}
    if options["include_usage"] is False:
        del options["include_usage"]
    payload = {**body, "stream": True, "stream_options": options}
    if not options:
        del payload["stream_options"]
    return payload


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
        thought = reasoning_text(choice.get("delta") or {})
        if thought:
            events.append(Reasoning(index, thought))
        text = (choice.get("delta") or {}).get("content")
        if text:  # role-only and empty deltas carry nothing to show
            events.append(Delta(index, str(text)))
        if choice.get("finish_reason"):
            events.append(Finish(index, finish_reason(choice["finish_reason"])))
    usage = parse_usage(chunk.get("usage"))
    if usage is not None:
        events.append(usage)
    return events


# Where servers put reasoning text: DeepSeek and llama.cpp say reasoning_content,
# vLLM and OpenRouter reasoning; a server sends one of them.
REASONING_FIELDS = ("reasoning_content", "reasoning")


def reasoning_text(delta_or_message: dict) -> str:
    for name in REASONING_FIELDS:
        value = delta_or_message.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


# The API's reasons are short words; anything else is bounded before it is stored.
MAX_FINISH_REASON = 32


def finish_reason(value: Any) -> str:
    return clean_text(str(value))[:MAX_FINISH_REASON] or "unknown"


MAX_TOKEN_COUNT = 2**31 - 1  # what a database integer column holds


def parse_usage(usage: Any) -> Usage | None:
    """Reported counts, or None when they are missing or nonsense (then we estimate)."""
    if not isinstance(usage, dict) or not usage:
        return None
    prompt = _token_count(usage.get("prompt_tokens") or 0)
    completion = _token_count(usage.get("completion_tokens") or 0)
    if prompt is None or completion is None:
        return None
    total = _token_count(usage.get("total_tokens") or prompt + completion)
    total = prompt + completion if total is None else total
    return Usage(prompt, completion, total, _reasoning_tokens(usage, completion))


def _reasoning_tokens(usage: dict, completion: int) -> int | None:
    """``completion_tokens_details.reasoning_tokens``: part of completion, never more."""
    details = usage.get("completion_tokens_details")
    if not isinstance(details, dict) or details.get("reasoning_tokens") is None:
        return None
    count = _token_count(details["reasoning_tokens"])
    return None if count is None else min(count, completion)


def _token_count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not 0 <= value <= MAX_TOKEN_COUNT or value != int(value):
        return None
    return int(value)


def chat_result(payload: Any) -> ChatResult:
    """Read a non-streaming ``chat.completion`` object."""
    try:
        choice = payload["choices"][0]
        usage = payload.get("usage")
        message = choice.get("message") or {}
        return ChatResult(
            text=clean_text(str(message.get("content") or "")),
            reasoning=clean_text(reasoning_text(message)),
            finish_reason=finish_reason(choice["finish_reason"])
            if choice.get("finish_reason")
            else None,
            usage=parse_usage(usage),
        )
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        raise ProtocolError("The model provider sent a completion of unknown shape.") from None


def model_list(payload: Any) -> list[dict[str, Any]]:
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise ProtocolError("The model provider sent a model list of unknown shape.")
    # Ids end up in the database and in pages: the same text rule as model output.
    return [
        {**item, "id": clean_text(item["id"])}
        for item in data
        if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"].strip()
    ]


def model_object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict) or "id" not in payload:
        raise ProtocolError("The model provider sent a model of unknown shape.")
    return payload
