"""One pooled client per provider configuration and event loop.

A pool belongs to the loop that opened its connections: reusing it from
another loop (each test has its own; a worker could run several) fails in
obscure ways, so the cache is keyed by the running loop first. Entries of a
loop that is gone are dropped with it (weak keys).
"""

from __future__ import annotations

import asyncio
import weakref

from .client import LLMClient
from .config import ProviderSettings

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, LLMClient]] = (
    weakref.WeakKeyDictionary()
)


def get_client(settings: ProviderSettings) -> LLMClient:
    """The shared client for ``settings`` on the running loop (created on first use)."""
    clients = _clients.setdefault(asyncio.get_running_loop(), {})
    key = settings.cache_key()
    client = clients.get(key)
    if client is None or client.closed:
        client = clients[key] = LLMClient(settings)
    return client


async def close_all() -> None:
    """Close every client of the running loop (at shutdown and in test teardown)."""
    clients = _clients.pop(asyncio.get_running_loop(), {})
    for client in clients.values():
        await client.aclose()
