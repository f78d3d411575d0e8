"""Deltas for tabs on other workers, through the channel layer."""

import asyncio
import logging
import time

from conversations import frames

logger = logging.getLogger(__name__)


class RemoteFanout:
    """Deltas for tabs on other workers: sent at once when the line is quiet,
    batched only while deltas arrive faster than the coalescing interval.

    Each watching channel has its own cursor per answer, so a tab that joined
    with a catch-up never gets a batch overlapping what it already has, and
    one sender task sends everything, so frames reach each channel in order.
    """

    def __init__(self, turn) -> None:
        self.turn = turn
        self.cursors: dict[str, dict[str, int | None]] = {}  # channel → answer → seq sent
        self.sender: asyncio.Task | None = None
        self.last_sent = 0.0

    def add(self, channel: str, message_id: str, after: int | None) -> None:
        """Relay an answer to a channel that has its deltas up to `after` (None: nothing)."""
        self.cursors.setdefault(channel, {})[message_id] = after
        self._wake()

    def discard(self, channel: str) -> None:
        self.cursors.pop(channel, None)

    def push(self, choice) -> None:
        if self.cursors:
            self._wake()

    def _wake(self) -> None:
        if self.sender is None or self.sender.done():
            self.sender = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        interval = self.turn.hub.coalesce_interval
        while True:
            wait = self.last_sent + interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            due = self._due()
            if not due:
                return
            self.last_sent = time.monotonic()
            for channel, text in due:
                await self._send(channel, text)

    def _due(self) -> list[tuple[str, str]]:
        """The frame each channel is missing, advancing its cursors."""
        due, encoded = [], {}
        for channel, cursors in self.cursors.items():
            for message_id, after in cursors.items():
                choice = self.turn.choice(message_id)
                if choice is None or after == choice.seq:
                    continue
                if (message_id, after) not in encoded:
                    frame = self.turn.catch_up_frame(message_id, after)
                    encoded[message_id, after] = frames.encode(frame)
                cursors[message_id] = choice.seq
                due.append((channel, encoded[message_id, after]))
        return due

    async def _send(self, channel: str, text: str) -> None:
        try:
            await self.turn.hub.send_remote({channel}, text)
        except Exception:  # full (nobody reads it) or Redis gone: that tab resubscribes
            logger.warning("Dropped the relay to %s", channel, exc_info=True)
            self.discard(channel)

    async def close(self) -> None:
        """Deliver what is pending before the `done` frame goes out."""
        if self.sender is not None and not self.sender.done():
            self.last_sent = 0.0
            try:
                await self.sender
            except Exception:  # a bug in relaying must not keep `done` from going out
                logger.exception("Relaying turn %s failed", self.turn.conversation_id)
