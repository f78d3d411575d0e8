"""Incremental Server-Sent Events decoder (the WHATWG "event stream" rules).

Fed raw bytes as they come off the socket, split anywhere: inside a UTF-8
character, between the CR and LF of a CRLF, in the middle of a field name.
This sits on the hot path (every delta of every stream), so it works on
whole buffers with C-level ``rfind``/``splitlines`` and never loops per
character. Splitting lines on bytes is safe for UTF-8 because CR and LF
never occur inside a multi-byte sequence; text is decoded once per event.
"""

from __future__ import annotations

from typing import NamedTuple

CR = 0x0D
COLON = 0x3A
BOM = b"\xef\xbb\xbf"
# A line this long is not an SSE stream; stop before memory use grows unbounded.
MAX_LINE_BYTES = 8 * 1024 * 1024


class SSEEvent(NamedTuple):
    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEDecodeError(ValueError):
    pass


class SSEDecoder:
    __slots__ = ("_data", "_event", "_last_id", "_retry", "_skip_lf", "_started", "_tail")

    def __init__(self) -> None:
        self._tail = b""
        self._skip_lf = False  # the last chunk ended in CR; a leading LF belongs to it
        self._started = False
        self._data: list[bytes] = []
        self._event = "message"
        self._last_id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Consume ``chunk`` and return the events it completed, in order."""
        if not chunk:
            return []
        chunk = self._trim_start(chunk)
        buffer = self._tail + chunk if self._tail else chunk
        end = max(buffer.rfind(b"\n"), buffer.rfind(b"\r"))
        if end < 0:
            return self._keep_partial(buffer)
        self._tail = buffer[end + 1 :]
        self._skip_lf = buffer[end] == CR
        return self._lines(buffer[: end + 1].splitlines())

    def close(self) -> bool:
        """End of stream. Returns True if an unfinished event was discarded."""
        pending = bool(self._tail or self._data)
        self._tail, self._data = b"", []
        return pending

    def _trim_start(self, chunk: bytes) -> bytes:
        if self._skip_lf:
            self._skip_lf = False
            if chunk[0] == 0x0A:
                chunk = chunk[1:]
        if not self._started and chunk:
            self._started = True
            chunk = chunk.removeprefix(BOM)
        return chunk

    def _keep_partial(self, buffer: bytes) -> list[SSEEvent]:
        if len(buffer) > MAX_LINE_BYTES:
            raise SSEDecodeError("event stream line is too long")
        self._tail = buffer
        return []

    def _lines(self, lines: list[bytes]) -> list[SSEEvent]:
        events = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(self._dispatch())
                else:
                    self._event = "message"
            elif line[0] != COLON:  # lines starting with ":" are comments (keep-alives)
                self._field(line)
        return events

    def _field(self, line: bytes) -> None:
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id" and b"\0" not in value:
            self._last_id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)

    def _dispatch(self) -> SSEEvent:
        data = b"\n".join(self._data).decode("utf-8", "replace")
        event = SSEEvent(data, self._event, self._last_id, self._retry)
        self._data = []
        self._event = "message"
        return event
