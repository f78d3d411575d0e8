"""The pooled httpx client for one provider, and what its failures mean.

httpx stays the interface, but by default it rides on aiohttp's connection
pool (``httpx_aiohttp.AiohttpTransport``): httpcore's pool handed one idle
connection to many waiters under a burst of 100 requests (p99 TTFT ~5 s,
encode/httpcore#822) and spent about twice the CPU per chunk. The httpcore
transport stays selectable so a benchmark can compare the two.
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport, HttpxAiohttpClient

from .config import ProviderSettings
from .errors import (
    LLMError,
    ProtocolError,
    StreamInterrupted,
    UpstreamConnectError,
    UpstreamTimeout,
)

# Both libraries can raise outside httpx's hierarchy (httpx_aiohttp re-raises
# aiohttp errors it has no mapping for, e.g. a malformed status line).
TRANSPORT_ERRORS = (httpx.TransportError, httpx.DecodingError, aiohttp.ClientError)

# Providers close idle connections after tens of seconds; reusing one they
# already closed costs a (retried) failure, so do not keep them longer.
KEEPALIVE_EXPIRY = 15.0
USER_AGENT = "chatsite"


def build_http_client(settings: ProviderSettings) -> httpx.AsyncClient:
    """A client whose own timeouts only bound connecting; the rest is ours."""
    options = {
        "headers": auth_headers(settings),
        "timeout": httpx.Timeout(None, connect=settings.connect_timeout),
        "limits": httpx.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=settings.max_connections,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        ),
    }
    if settings.transport == "httpcore":
        return httpx.AsyncClient(**options)
    # AiohttpTransport sizes aiohttp's TCPConnector from limits (limit =
    # max_connections, no per-host cap) and creates its ClientSession lazily,
    # inside the loop of the first request. The subclass keeps proxy
    # transports from the environment on aiohttp as well.
    transport = AiohttpTransport(limits=options["limits"])
    return HttpxAiohttpClient(transport=transport, **options)


def auth_headers(settings: ProviderSettings) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT}
    if settings.api_key:  # Ollama, vLLM, llama.cpp: no key, no header
        headers["Authorization"] = f"Bearer {settings.api_key}"
    if settings.organization:
        headers["OpenAI-Organization"] = settings.organization
    return headers


def opening_error(exc: Exception) -> LLMError:
    """A failure before response headers: the request may never have arrived."""
    if _is_connect_timeout(exc):
        return UpstreamTimeout("connect")
    if isinstance(exc, aiohttp.ClientResponseError | httpx.DecodingError):
        return ProtocolError(f"The model provider sent an invalid HTTP response ({_name(exc)}).")
    return UpstreamConnectError(f"Could not reach the model provider ({_describe(exc)}).")


def reading_error(exc: Exception) -> LLMError:
    """A failure while the body was arriving: the answer is incomplete."""
    if isinstance(exc, httpx.DecodingError):
        return ProtocolError("The model provider sent a body that could not be decoded.")
    return StreamInterrupted("The connection to the model provider was lost mid-answer.")


def _is_connect_timeout(exc: Exception) -> bool:
    cause = exc.__cause__
    # httpx_aiohttp maps every aiohttp ClientConnectionError (refused, reset,
    # server disconnected) to httpx.ConnectTimeout, so trust the original.
    if isinstance(cause, aiohttp.ClientError):
        return isinstance(cause, aiohttp.ConnectionTimeoutError)
    return isinstance(exc, httpx.ConnectTimeout)


def _describe(exc: Exception) -> str:
    cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
    detail = str(cause).strip()
    return f"{_name(cause)}: {detail}"[:200] if detail else _name(cause)


def _name(exc: BaseException) -> str:
    return type(exc).__name__
