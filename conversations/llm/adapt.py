"""Servers' refusals that a changed request fixes, and the change that fixes each.

Some OpenAI-compatible servers refuse parts of a request that others need:

- OpenAI's reasoning models (o-series, gpt-5) refuse ``max_tokens`` and ask for
  ``max_completion_tokens``: ``{"param": "max_tokens", "code":
  "unsupported_parameter", "message": "Unsupported parameter: 'max_tokens' is
  not supported with this model. Use 'max_completion_tokens' instead."}``;
  they refuse sampling settings too (temperature, top_p, the penalties,
  logit_bias), so those go with the change;
- servers that predate ``max_completion_tokens`` refuse it the same way, the
  other way round;
- vLLM releases, LiteLLM and others refuse ``stream_options`` ("Unrecognized
  request argument supplied: stream_options"; FastAPI servers answer 422
  "stream_options: Extra inputs are not permitted").

The client retries such a refusal once, at once, with the request changed, and
reports what it learnt (a ``Learnt``) so the caller can send the right request
the first time from then on. Any other refusal stays an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import BadRequest, LLMError

TOKEN_LIMIT_PARAMS = ("max_tokens", "max_completion_tokens")
# What OpenAI's reasoning models refuse besides max_tokens (params.SAMPLING_PARAMS).
FIXED_SAMPLING = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "logit_bias")
# "Unsupported parameter: 'max_tokens'", "Unrecognized request argument supplied:
# stream_options", "Unknown parameter: 'x'", "x: Extra inputs are not permitted".
REFUSED_NAME = re.compile(
    r"(?:unsupported parameter|unrecognized request arguments? supplied|unknown parameter"
    r"|unrecognized parameter|unexpected keyword argument)\s*:?\s*['\"`]?([A-Za-z_.]+)"
    r"|([A-Za-z_.]+)['\"`]?\s*:\s*extra (?:inputs|fields) (?:are )?not permitted",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Learnt:
    """What a refusal taught about the server (None: nothing about that)."""

    token_limit_param: str | None = None  # the name it takes for the answer length
    stream_usage: bool | None = None  # False: it refuses stream_options


def adapted(payload: dict[str, Any], error: LLMError) -> tuple[dict[str, Any], Learnt] | None:
    """The payload changed to avoid ``error``, and what that taught; None if no change helps."""
    if not isinstance(error, BadRequest):
        return None
    if "stream_options" in payload and _blames(error, "stream_options"):
        changed = {key: value for key, value in payload.items() if key != "stream_options"}
        return changed, Learnt(stream_usage=False)
    for refused, wanted in (TOKEN_LIMIT_PARAMS, TOKEN_LIMIT_PARAMS[::-1]):
        if refused in payload and wanted not in payload and refused_name(error) == refused:
            return _renamed(payload, refused, wanted), Learnt(token_limit_param=wanted)
    return None


def _renamed(payload: dict[str, Any], refused: str, wanted: str) -> dict[str, Any]:
    dropped = FIXED_SAMPLING if wanted == "max_completion_tokens" else ()
    return {
        (wanted if key == refused else key): value
        for key, value in payload.items()
        if key not in dropped
    }


def refused_name(error: LLMError) -> str | None:
    """The request field the server says it does not take, if it says so plainly.

    A ``param`` alone is not enough: OpenAI names ``max_tokens`` too when its
    value is too large, which another name would not fix.
    """
    if error.upstream_param and error.upstream_code == "unsupported_parameter":
        return error.upstream_param
    match = REFUSED_NAME.search(error.detail)
    return (match.group(1) or match.group(2)) if match else None


def _blames(error: LLMError, name: str) -> bool:
    return name == error.upstream_param or name in error.detail
