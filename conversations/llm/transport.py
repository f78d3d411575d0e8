"""The pooled httpx client for one provider, and what its failures mean.

httpx stays the interface, but by default it rides on aiohttp's connection
pool (``httpx_aiohttp.AiohttpTransport``): httpcore's pool handed one idle
connection to many waiters under a burst of 100 requests (p99 TTFT ~5 s,
encode/httpcore#822) and spent about twice the CPU per chunk. The httpcore
transport stays selectable so a benchmark can compare the two.

Both transports check every address they connect to against the provider's
address policy (``address``): a resolver that drops forbidden addresses from
each lookup (so the error says why) and, on aiohttp, a socket factory that
refuses a forbidden address at the very moment of connecting (IP literals
skip the resolver). Through an outbound proxy from the environment
(``HTTPS_PROXY``) the proxy resolves names itself and only the URL's text can
be checked here: give such a proxy an egress policy of its own.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable

import aiohttp
import httpcore
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from httpx_aiohttp import AiohttpTransport, HttpxAiohttpClient

from . import address
from .config import ProviderSettings
from .errors import (
    LLMError,
    ProtocolError,
    ProviderAddressRefused,
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
    allow_local = settings.allow_local_network
    if settings.transport == "httpcore":
        transport = httpx.AsyncHTTPTransport(limits=options["limits"])
        guard_httpcore(transport, allow_local)
        return httpx.AsyncClient(transport=transport, **options)
    # The session is created lazily, inside the loop of the first request.
    # The subclass keeps proxy transports from the environment on aiohttp too.
    limits = options["limits"]
    transport = AiohttpTransport(limits=limits, client=lambda: _session(limits, allow_local))
    return HttpxAiohttpClient(transport=transport, **options)


def _session(limits: httpx.Limits, allow_local: bool) -> aiohttp.ClientSession:
    """What AiohttpTransport would build (no per-host cap), plus the address guard."""
    connector = aiohttp.TCPConnector(
        limit=limits.max_connections or 0,
        keepalive_timeout=limits.keepalive_expiry,
        ssl=httpx.create_ssl_context(),
        resolver=PolicyResolver(allow_local),
        socket_factory=lambda info: _guarded_socket(info, allow_local),
    )
    return aiohttp.ClientSession(connector=connector)


class PolicyResolver(AbstractResolver):
    """aiohttp's own resolver, keeping only the addresses the policy allows."""

    def __init__(self, allow_local: bool, inner: AbstractResolver | None = None) -> None:
        self.allow_local = allow_local
        self.inner = inner or aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        return keep_allowed(host, results, lambda r: r["host"], self.allow_local)

    async def close(self) -> None:
        await self.inner.close()


def keep_allowed(host: str, items: list, address_of, allow_local: bool) -> list:
    """The items whose address is allowed; raise AddressRefused when none is."""
    kept, refusal = [], None
    for item in items:
        try:
            address.check(host, address_of(item), allow_local)
        except address.AddressRefused as error:
            refusal = refusal or error
        else:
            kept.append(item)
    if refusal is not None and not kept:
        raise refusal
    return kept


def _guarded_socket(info: tuple, allow_local: bool) -> socket.socket:
    family, kind, proto, _name, sockaddr = info
    address.check(sockaddr[0], sockaddr[0], allow_local)
    return socket.socket(family=family, type=kind, proto=proto)


def guard_httpcore(transport: httpx.AsyncHTTPTransport, allow_local: bool) -> None:
    """Put the policy between httpcore's pool and its network backend.

    httpx does not expose the pool's backend, so this reaches into
    ``_pool`` (httpx 0.28 / httpcore 1.0, pinned in pyproject); the tests
    of both transports fail if that ever moves.
    """
    pool = transport._pool
    pool._network_backend = PolicyBackend(pool._network_backend, allow_local)


class PolicyBackend(httpcore.AsyncNetworkBackend):
    """Resolve the host here, and connect only to allowed addresses."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, allow_local: bool) -> None:
        self.inner = inner
        self.allow_local = allow_local

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable | None = None,
    ) -> httpcore.AsyncNetworkStream:
        options = {"timeout": timeout, "local_address": local_address}
        addresses = await self._addresses(host, port)
        error: Exception | None = None
        for ip in addresses:
            try:
                return await self.inner.connect_tcp(
                    ip, port, socket_options=socket_options, **options
                )
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError(f"No address for {host}")

    async def _addresses(self, host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        ips = list(dict.fromkeys(info[4][0] for info in infos))
        try:
            return keep_allowed(host, ips, lambda ip: ip, self.allow_local)
        except address.AddressRefused as exc:
            raise httpcore.ConnectError(str(exc)) from exc

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):  # noqa: ASYNC109
        raise httpcore.ConnectError("Unix sockets are not used for providers.")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def auth_headers(settings: ProviderSettings) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT}
    if settings.api_key:  # Ollama, vLLM, llama.cpp: no key, no header
        headers["Authorization"] = f"Bearer {settings.api_key}"
    if settings.organization:
        headers["OpenAI-Organization"] = settings.organization
    return headers


def opening_error(exc: Exception) -> LLMError:
    """A failure before response headers: the request may never have arrived."""
    refusal = address_refusal(exc)
    if refusal is not None:
        return ProviderAddressRefused(detail=str(refusal))
    if _is_connect_timeout(exc):
        return UpstreamTimeout("connect", detail=_describe(exc))
    if isinstance(exc, aiohttp.ClientResponseError | httpx.DecodingError):
        return ProtocolError(detail=f"An invalid HTTP response ({_describe(exc)}).")
    return UpstreamConnectError(detail=_describe(exc))


def address_refusal(exc: BaseException) -> address.AddressRefused | None:
    """The policy refusal behind a connection failure, however the libraries wrapped it."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, address.AddressRefused):
            return current
        pending += [current.__cause__, current.__context__, getattr(current, "os_error", None)]
    return None


def reading_error(exc: Exception) -> LLMError:
    """A failure while the body was arriving: the answer is incomplete."""
    if isinstance(exc, httpx.DecodingError):
        return ProtocolError(
            "The model provider sent a body that could not be decoded.", detail=_describe(exc)
        )
    return StreamInterrupted(
        "The connection to the model provider was lost mid-answer.", detail=_describe(exc)
    )


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
