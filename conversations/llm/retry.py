"""When to try a request again, and how long to wait first.

Only failures that happened before the provider produced any content are
candidates (rate limits, 5xx, connection failures, connect timeouts); the
error classes say which via ``retryable``. Waits honour ``retry-after-ms``
and ``Retry-After`` (seconds or an HTTP date). When the provider asks for a
longer pause than ``retry_cap`` we give up at once instead of retrying early
into another refusal; the error keeps ``retry_after`` for the user.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Protocol

MAX_BACKOFF = 8.0


class Retryable(Protocol):
    retryable: bool
    retry_after: float | None


class RetryPolicy(Protocol):
    max_retries: int
    retry_cap: float
    backoff_base: float


def retry_delay(
    error: Retryable, attempt: int, policy: RetryPolicy, remaining: float
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or None to give up.

    ``remaining`` is what is left of the total timeout: a wait that would
    outlast it only delays the inevitable failure.
    """
    if not error.retryable or attempt >= policy.max_retries:
        return None
    if error.retry_after is None:
        delay = backoff(attempt, policy.backoff_base)
    elif error.retry_after <= policy.retry_cap:
        delay = error.retry_after
    else:
        return None
    return delay if delay < remaining else None


def backoff(attempt: int, base: float) -> float:
    """Exponential back-off with jitter, so clients that failed together spread out."""
    delay = min(base * 2**attempt, MAX_BACKOFF)
    return delay * (1 - 0.25 * random.random())


def retry_after_from_headers(headers: Mapping[str, str]) -> float | None:
    """Parse ``retry-after-ms`` (OpenAI) or ``Retry-After`` into seconds."""
    milliseconds = _number(headers.get("retry-after-ms"))
    if milliseconds is not None:
        return milliseconds / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    return seconds if seconds is not None else _seconds_until(value)


def _number(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and 0 <= number < float("inf") else None


def _seconds_until(http_date: str) -> float | None:
    try:
        moment = parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
