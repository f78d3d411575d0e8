"""Public ids: UUIDs whose leading bits are a millisecond timestamp (UUIDv7).

Random UUIDv4 primary keys scatter inserts across the whole B-tree; time-ordered
ones append at its right edge, which keeps a table of millions of messages fast.
Within one millisecond the 74 random bits count up (RFC 9562, method 2), so ids
made by one process sort in the order they were made.
"""

import os
import threading
import time
import uuid

_RANDOM_BITS = 74
_lock = threading.Lock()
_last = (0, 0)  # (milliseconds, random part) of the previous id


def _next_parts() -> tuple[int, int]:
    global _last
    millis = time.time_ns() // 1_000_000
    random_part = int.from_bytes(os.urandom(10)) >> (80 - _RANDOM_BITS)
    with _lock:
        last_millis, last_random = _last
        if millis <= last_millis:  # same millisecond, or the clock stepped back
            millis, random_part = last_millis, last_random + 1
            if random_part >> _RANDOM_BITS:
                millis, random_part = millis + 1, 0
        _last = (millis, random_part)
    return millis, random_part


def uuid7() -> uuid.UUID:
    millis, random_part = _next_parts()
    rand_a, rand_b = random_part >> 62, random_part & (2**62 - 1)
    value = (millis & (2**48 - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)
