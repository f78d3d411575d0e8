"""Typed upstream failures, and the mapping from OpenAI error responses to them.

Every error has a stable ``code`` (sent to browsers in websocket error
frames), a human ``message``, ``retryable``, the HTTP ``status`` when there
was one, and ``retry_after`` in seconds when the provider asked for a pause.
Messages that come from the provider are redacted: they must never carry an
API key, even when a provider echoes the key it was sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .retry import retry_after_from_headers

# Looks like an OpenAI-style secret (sk-..., sk-proj-...), masked or not.
SECRET_PATTERN = re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-*.]{4,}")
BEARER_PATTERN = re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=*-]{8,}")
REDACTED = "[redacted]"
MAX_MESSAGE_CHARS = 500


def redact(text: str, secret: str = "") -> str:
    """Remove ``secret`` and anything that looks like a bearer token or key."""
    if secret:
        text = text.replace(secret, REDACTED)
    text = SECRET_PATTERN.sub(REDACTED, text)
    return BEARER_PATTERN.sub("Bearer " + REDACTED, text)


class LLMError(Exception):
    code = "upstream_error"
    retryable = False
    default_message = "The model provider returned an error."

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        retry_after: float | None = None,
        upstream_code: str | None = None,
        upstream_type: str | None = None,
    ) -> None:
        self.message = redact(message or self.default_message)
        self.status = status
        self.retry_after = retry_after
        self.upstream_code = upstream_code
        self.upstream_type = upstream_type
        super().__init__(self.message)

    def redact(self, secret: str) -> LLMError:
        """Scrub the exact API key too (the patterns cannot know it), then shorten.

        Shortening only after the key is gone, so a cut cannot leave part of it.
        """
        self.message = redact(self.message, secret)[:MAX_MESSAGE_CHARS]
        self.args = (self.message,)
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status!r})"


class UpstreamConnectError(LLMError):
    code = "upstream_unreachable"
    retryable = True
    default_message = "Could not connect to the model provider."


class UpstreamTimeout(LLMError):
    """``kind`` is connect, first_byte, idle or total; only connect is retried.

    A first-byte timeout is not retried: the provider accepted the request
    and may be generating (and billing) it, and a retry would multiply a
    wait the administrator already chose as the longest acceptable.
    """

    code = "upstream_timeout"
    MESSAGES = {
        "connect": "Timed out connecting to the model provider.",
        "first_byte": "The model provider did not start answering in time.",
        "idle": "The model provider stopped sending the answer.",
        "total": "The answer took longer than the time allowed.",
    }

    def __init__(self, kind: str, message: str = "") -> None:
        self.kind = kind
        super().__init__(message or self.MESSAGES[kind])

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.kind == "connect"


class RateLimited(LLMError):
    code = "rate_limited"
    retryable = True
    default_message = "The model provider is rate limiting requests."


class QuotaExceeded(LLMError):
    code = "insufficient_quota"
    default_message = "The provider account has run out of quota."


class AuthenticationFailed(LLMError):
    code = "upstream_auth"
    default_message = "The model provider rejected the API key."


class PermissionDenied(LLMError):
    code = "upstream_forbidden"
    default_message = "The API key is not allowed to use this model or endpoint."


class ModelNotFound(LLMError):
    code = "model_not_found"
    default_message = "The model provider does not know this model."


class ContextLengthExceeded(LLMError):
    code = "context_length_exceeded"
    default_message = "The conversation is too long for this model."


class BadRequest(LLMError):
    code = "bad_request"
    default_message = "The model provider rejected the request."


class ServerError(LLMError):
    code = "upstream_error"
    retryable = True
    default_message = "The model provider had an internal error."


class ProtocolError(LLMError):
    code = "upstream_protocol"
    default_message = "The model provider sent an answer this client cannot read."


class StreamErrorEvent(LLMError):
    code = "upstream_stream_error"
    default_message = "The model provider reported an error while answering."


class StreamInterrupted(LLMError):
    code = "interrupted"
    default_message = "The answer was cut off before it finished."


def error_from_response(status: int, headers: Mapping[str, str], content: bytes) -> LLMError:
    """Map a non-2xx response to the error it means."""
    details = parse_error_body(content)
    kwargs = {
        "status": status,
        "retry_after": retry_after_from_headers(headers),
        "upstream_code": details.get("code"),
        "upstream_type": details.get("type"),
    }
    return _error_class(status, details)(details.get("message") or "", **kwargs)


def error_from_event(error: Any) -> StreamErrorEvent:
    """An ``{"error": {...}}`` object that arrived inside a stream."""
    details = _error_details({"error": error})
    return StreamErrorEvent(
        details.get("message") or "",
        upstream_code=details.get("code"),
        upstream_type=details.get("type"),
    )


def _error_class(status: int, details: dict[str, str]) -> type[LLMError]:
    if status == 429:
        return QuotaExceeded if _mentions(details, "insufficient_quota") else RateLimited
    if status in (400, 413) and _is_context_overflow(details):
        return ContextLengthExceeded
    if status >= 500:
        return ServerError
    by_status: dict[int, type[LLMError]] = {
        401: AuthenticationFailed,
        403: PermissionDenied,
        404: ModelNotFound,
    }
    if status in by_status:
        return by_status[status]
    return BadRequest if 400 <= status < 500 else ProtocolError


def _mentions(details: dict[str, str], word: str) -> bool:
    return word in (details.get("code"), details.get("type"))


def _is_context_overflow(details: dict[str, str]) -> bool:
    # vLLM and older proxies say it only in prose, without the code.
    message = (details.get("message") or "").lower()
    return _mentions(details, "context_length_exceeded") or "maximum context length" in message


def parse_error_body(content: bytes) -> dict[str, str]:
    """Read ``{"error": {"message","type","param","code"}}`` and common variants."""
    try:
        body = json.loads(content)
    except ValueError:
        return {"message": _snippet(content)} if content.strip() else {}
    return _error_details(body) if isinstance(body, dict) else {}


def _error_details(body: dict) -> dict[str, str]:
    error = body.get("error", body)
    if isinstance(error, str):  # Ollama: {"error": "model 'x' not found"}
        return {"message": error}
    if not isinstance(error, dict):
        return {}
    fields = ("message", "type", "code", "param")
    return {name: str(error[name]) for name in fields if error.get(name) is not None}


def _snippet(content: bytes) -> str:
    # An HTML error page from a proxy: keep a short, single-line excerpt.
    text = content[:2000].decode("utf-8", "replace")
    text = re.sub(r"<[^>]*>", " ", text)
    return " ".join(text.split())[:200]
