"""What a chat call produces, independent of the wire format."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Delta:
    """New text for choice ``index``; never empty."""

    index: int
    text: str


@dataclass(frozen=True, slots=True)
class Reasoning:
    """New reasoning text for choice ``index`` (what a reasoning model thinks
    before it answers, streamed apart from the answer); never empty."""

    index: int
    text: str


@dataclass(frozen=True, slots=True)
class Finish:
    """Choice ``index`` ended: stop, length, content_filter, tool_calls, ..."""

    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts reported by the provider; when several arrive, the last wins."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    reasoning_tokens: int | None = None  # the part of completion_tokens spent reasoning


@dataclass(frozen=True, slots=True)
class Logprobs:
    """Per-token log probabilities of the text of choice ``index`` (completions):
    entries ``{"token", "logprob", "top": {token: logprob}, "offset"}``, in order."""

    index: int
    entries: tuple


StreamEvent = Delta | Reasoning | Finish | Usage | Logprobs


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A non-streaming answer (first choice only)."""

    text: str
    finish_reason: str | None
    usage: Usage | None
    reasoning: str = ""
