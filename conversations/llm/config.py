"""How to reach one provider: the plain-data view of a Provider row.

The service layer builds a ``ProviderSettings`` from its Django model; this
package never imports Django, so it stays usable from benchmarks and tests.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import astuple, dataclass, field, replace
from typing import Literal

# More attempts only multiply the user's wait and the provider's load; the
# issue caps retries at two and the Provider model validates against this.
MAX_RETRIES_LIMIT = 2

TransportKind = Literal["aiohttp", "httpcore"]


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """Connection settings for one OpenAI-compatible endpoint.

    Timeouts are seconds:

    - ``connect_timeout``: TCP (and TLS) connect of one attempt.
    - ``first_byte_timeout``: from the start of an attempt (connecting
      included) until the first SSE data event, or until the response
      headers of a non-streaming call.
    - ``idle_timeout``: the longest silence between two SSE data events once
      the stream has started. Keep-alive comments do not count as progress.
    - ``total_timeout``: the whole call, all attempts and back-off waits
      included.
    """

    base_url: str
    api_key: str = field(default="", repr=False)  # repr=False: never in logs
    organization: str = ""
    connect_timeout: float = 5.0
    first_byte_timeout: float = 60.0
    idle_timeout: float = 30.0
    total_timeout: float = 600.0
    max_retries: int = MAX_RETRIES_LIMIT
    retry_cap: float = 20.0
    backoff_base: float = 0.5
    max_connections: int = 500
    transport: TransportKind = "aiohttp"
    # Loopback and private addresses (see ``address``); link-local and
    # metadata addresses are refused whatever this says.
    allow_local_network: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", self.base_url.strip().rstrip("/"))
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        if not 0 <= self.max_retries <= MAX_RETRIES_LIMIT:
            raise ValueError(f"max_retries must be between 0 and {MAX_RETRIES_LIMIT}")
        if self.transport not in ("aiohttp", "httpcore"):
            raise ValueError("transport must be 'aiohttp' or 'httpcore'")
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._check_durations()

    def _check_durations(self) -> None:
        for name in ("connect_timeout", "first_byte_timeout", "idle_timeout", "total_timeout"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.retry_cap < 0 or self.backoff_base < 0:
            raise ValueError("retry_cap and backoff_base cannot be negative")

    def cache_key(self) -> tuple:
        """Identify the pool this configuration needs, without holding the raw key."""
        digest = hashlib.sha256(self.api_key.encode()).hexdigest()
        return astuple(replace(self, api_key=digest))
