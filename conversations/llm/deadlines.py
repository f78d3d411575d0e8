"""The four timeouts of one call, as absolute loop-clock deadlines.

Every wait on the network is wrapped in ``asyncio.timeout_at(deadline())``
so a limit covers the whole phase, not each socket read. The deadline is
never held across a ``yield`` to the caller: time the caller spends with an
event is not the provider's silence, and a timeout armed across a yield
would cancel the caller's own code.
"""

from __future__ import annotations

import asyncio

from .config import ProviderSettings
from .errors import UpstreamTimeout


class Deadlines:
    def __init__(self, settings: ProviderSettings) -> None:
        self._loop = asyncio.get_running_loop()
        now = self._loop.time()
        self._total = now + settings.total_timeout
        self._first_byte = settings.first_byte_timeout
        self._idle = settings.idle_timeout
        self._attempt_start = now
        self._quiet_since: float | None = None  # set once data flows

    def start_attempt(self) -> None:
        self._attempt_start = self._loop.time()
        self._quiet_since = None

    def progress(self) -> None:
        """Data arrived, or the caller handed control back: restart the idle clock."""
        self._quiet_since = self._loop.time()

    def deadline(self) -> float:
        if self._quiet_since is None:
            phase_end = self._attempt_start + self._first_byte
        else:
            phase_end = self._quiet_since + self._idle
        return min(phase_end, self._total)

    def remaining(self) -> float:
        return self._total - self._loop.time()

    def expired(self, deadline: float) -> UpstreamTimeout:
        """The error for a wait bounded by ``deadline`` that ran out."""
        if deadline >= self._total:
            return UpstreamTimeout("total")
        return UpstreamTimeout("first_byte" if self._quiet_since is None else "idle")
