"""Typed upstream failures, and the mapping from OpenAI error responses to them.

Every error has a stable ``code`` (the Django side chooses what users read
by it), a ``message`` written here (never text from the provider), a
``detail`` with what the provider or the network said (for logs and staff
only), the provider's own ``upstream_code``, ``upstream_type`` and
``upstream_param`` (the request field it blames), ``retryable``, the HTTP
``status`` when there was one, the provider's ``request_id`` when it sent
one, and ``retry_after`` in seconds when the provider asked for a pause.
``detail`` is redacted and bounded: it must never carry an API key or a
password, even when a provider echoes what it was sent.
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
# user:password@ in a URL (a database URL in a provider's traceback).
URL_PASSWORD_PATTERN = re.compile(r"(?<=://)([^:/@\s]+):[^@/\s]+@")
# password=..., "api_key": "...", secret: ... (config dumps, tracebacks).
ASSIGNED_SECRET_PATTERN = re.compile(
    r"(?i)\b((?:passw(?:or)?d|pwd|secret|api[_-]?key|access[_-]?token|token)[\"']?\s*[=:]\s*[\"']?)"
    r"[^\s\"',;&]+"
)
REDACTED = "[redacted]"
MAX_MESSAGE_CHARS = 500
MAX_DETAIL_CHARS = 1000


def redact(text: str, secret: str = "") -> str:
    """Remove ``secret`` and anything that looks like a key, token or password."""
    if secret:
        text = text.replace(secret, REDACTED)
    text = SECRET_PATTERN.sub(REDACTED, text)
    text = BEARER_PATTERN.sub("Bearer " + REDACTED, text)
    text = URL_PASSWORD_PATTERN.sub(r"\1:" + REDACTED + "@", text)
    return ASSIGNED_SECRET_PATTERN.sub(r"\1" + REDACTED, text)


class LLMError(Exception):
    code = "upstream_error"
    retryable = False
    default_message = "The model provider returned an error."

    def __init__(
        self,
        message: str = "",
        *,
        detail: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        upstream_code: str | None = None,
        upstream_type: str | None = None,
        upstream_param: str | None = None,
        request_id: str | None = None,
    ) -> None:
        # ``message`` is always this package's own words; whatever the provider
        # or the network said goes to ``detail``.
        self.message = redact(message or self.default_message)
        self.detail = redact(detail)[:MAX_DETAIL_CHARS]
        self.status = status
        self.retry_after = retry_after
        self.upstream_code = upstream_code
        self.upstream_type = upstream_type
        self.upstream_param = upstream_param
        self.request_id = request_id
        super().__init__(self.message)

    def redact(self, secret: str) -> LLMError:
        """Scrub the exact API key too (the patterns cannot know it), then shorten.

        Shortening only after the key is gone, so a cut cannot leave part of it.
        """
        self.message = redact(self.message, secret)[:MAX_MESSAGE_CHARS]
        self.detail = redact(self.detail, secret)[:MAX_DETAIL_CHARS]
        self.args = (self.message,)
        return self

    def describe(self) -> str:
        """One line for logs and staff: code, status, request id and the detail."""
        parts = [self.code]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.request_id:
            parts.append(f"request {self.request_id}")
        text = " ".join(parts) + f": {self.message}"
        return f"{text} — {self.detail}" if self.detail else text

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

    def __init__(self, kind: str, message: str = "", *, detail: str = "") -> None:
        self.kind = kind
        super().__init__(message or self.MESSAGES[kind], detail=detail)

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


class EmptyAnswer(LLMError):
    """HTTP 200 and a stream with nothing in it: no text, no reasoning, no finish reason.

    llama.cpp answers so when the prompt is over its context window.
    """

    code = "empty_answer"
    default_message = "The model returned nothing."


class ProviderAddressRefused(LLMError):
    """The provider's address is one this server never calls (see ``address``)."""

    code = "provider_address_refused"
    default_message = "The provider's address is not allowed."


REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "cf-ray")
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:/-]{1,128}$")


def error_from_response(status: int, headers: Mapping[str, str], content: bytes) -> LLMError:
    """Map a non-2xx response to the error it means; the body becomes its ``detail``."""
    details = parse_error_body(content)
    return _error_class(status, details)(
        detail=details.get("message") or "",
        status=status,
        retry_after=retry_after_from_headers(headers),
        upstream_code=details.get("code"),
        upstream_type=details.get("type"),
        upstream_param=details.get("param"),
        request_id=request_id_from_headers(headers),
    )


def request_id_from_headers(headers: Mapping[str, str]) -> str | None:
    """The provider's id of the request, when it sent a sane one (for its support)."""
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value and REQUEST_ID_PATTERN.match(value):
            return value
    return None


def error_from_event(error: Any) -> StreamErrorEvent:
    """An ``{"error": {...}}`` object that arrived inside a stream."""
    details = _error_details({"error": error})
    return StreamErrorEvent(
        detail=details.get("message") or "",
        upstream_code=details.get("code"),
        upstream_type=details.get("type"),
    )


def _error_class(status: int, details: dict[str, str]) -> type[LLMError]:
    if status == 429:
        return QuotaExceeded if _mentions(details, "insufficient_quota") else RateLimited
    if status in (400, 413, 422) and is_context_overflow(details):
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


# How servers other than OpenAI say the prompt is over the model's window, most
# only in prose: vLLM ("This model's maximum context length is N tokens. However,
# you requested M tokens", "longer than the maximum model length", "is too long
# and exceeds limit"), llama.cpp's server ("the request exceeds the available
# context size", "Requested tokens (N) exceed context window of M"), Ollama
# ("exceeds the context length", "exceeded max context length"), LiteLLM
# ("ContextWindowExceededError"), OpenRouter and Mistral ("maximum context
# length"), Gemini ("exceeds the maximum number of tokens allowed"), Anthropic
# behind a proxy ("prompt is too long"), Hugging Face TGI ("`inputs` tokens +
# `max_new_tokens` must be <=").
CONTEXT_OVERFLOW_CODES = ("context_length_exceeded", "exceed_context_size_error")
CONTEXT_OVERFLOW_PATTERN = re.compile(
    r"maximum context length|max(?:imum)? context length|context window|context size"
    r"|context length|maximum model length|contextwindowexceeded|context_window_exceeded"
    r"|exceeds? the maximum number of tokens|prompt is too long|is too long and exceeds"
    r"|tokens \+ `?max_new_tokens`? must be"
)
# Words that make one of the phrases above mean "too long" and not, say, a
# question about a setting.
OVERFLOW_WORDS = re.compile(r"exceed|too long|too large|reduce|longer than|maximum|must be|>")


def is_context_overflow(details: dict[str, str]) -> bool:
    if any(_mentions(details, code) for code in CONTEXT_OVERFLOW_CODES):
        return True
    message = (details.get("message") or "").lower()
    return bool(CONTEXT_OVERFLOW_PATTERN.search(message) and OVERFLOW_WORDS.search(message))


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
    if isinstance(error.get("detail"), list):
        return _validation_details(error["detail"])
    fields = ("message", "type", "code", "param")
    return {name: str(error[name]) for name in fields if error.get(name) is not None}


def _validation_details(problems: list) -> dict[str, str]:
    """FastAPI's 422 (llama-cpp-python and other Python servers): a list of
    ``{"loc": ["body", "stream_options"], "msg": "Extra inputs are not permitted"}``."""
    lines, fields = [], []
    for problem in problems[:10]:
        if not isinstance(problem, dict):
            continue
        loc = [str(part) for part in problem.get("loc") or () if part != "body"]
        fields.extend(loc[:1])
        lines.append(f"{'.'.join(loc)}: {problem.get('msg', '')}".strip(": "))
    details = {"message": "; ".join(lines)} if lines else {}
    if len(set(fields)) == 1:
        details["param"] = fields[0]
    return details


def _snippet(content: bytes) -> str:
    # An HTML error page from a proxy: keep a short, single-line excerpt.
    text = content[:2000].decode("utf-8", "replace")
    text = re.sub(r"<[^>]*>", " ", text)
    return " ".join(text.split())[:200]


class ResourceNotFound(LLMError):
    """A file or fine-tuning job the provider does not know (404 on /files, /fine_tuning)."""

    code = "not_found"
    default_message = "The model provider does not know this file or job."


class InvalidFile(BadRequest):
    """The provider refused a training file or a job's use of one (400)."""

    code = "invalid_file"
    default_message = "The model provider refused the file."


def for_resource(error: LLMError) -> LLMError:
    """The error a files or jobs call means: a 404 names the object, not a model."""
    if error.status == 404:
        kind = ResourceNotFound
    elif error.status == 400 and "file" in f"{error.upstream_code} {error.upstream_param}":
        kind = InvalidFile
    else:
        return error
    return kind(
        detail=error.detail,
        status=error.status,
        upstream_code=error.upstream_code,
        upstream_type=error.upstream_type,
        upstream_param=error.upstream_param,
        request_id=error.request_id,
    )
