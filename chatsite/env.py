"""Reading settings from the environment, failing loudly on malformed values.

A typo such as ``DJANGO_DEBUG=ture`` must stop the process at start-up rather
than silently fall back to a default that may be the insecure one.
"""

import os
from collections.abc import Callable
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


def _raw(name: str) -> str | None:
    """The variable's value, or None when it is unset or blank."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _invalid(name: str, value: str, expected: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{name}={value!r} is not valid: expected {expected}.")


def env_str(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise _invalid(name, value, "one of true/false, yes/no, on/off, 1/0")


def _env_number(name: str, default, convert: Callable, minimum, maximum):
    value = _raw(name)
    if value is None:
        return default
    try:
        number = convert(value)
    except ValueError:
        raise _invalid(name, value, f"a number from {minimum} to {maximum}") from None
    if not minimum <= number <= maximum:
        raise _invalid(name, value, f"a number from {minimum} to {maximum}")
    return number


def env_int(name: str, default: int, *, minimum: int = 0, maximum: int = 2**31 - 1) -> int:
    return _env_number(name, default, int, minimum, maximum)


def env_float(name: str, default: float, *, minimum: float = 0.0, maximum: float = 1e9) -> float:
    return _env_number(name, default, float, minimum, maximum)


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; blank items are dropped."""
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_url(name: str, default: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
    value = env_str(name, default)
    if value and not is_url(value, schemes):
        raise _invalid(name, value, f"a URL starting with {' or '.join(schemes)}://")
    return value


def env_origins(name: str) -> list[str]:
    """Origins such as ``https://chat.example.com`` (Django needs the scheme)."""
    origins = env_list(name, [])
    for origin in origins:
        if not is_url(origin.replace("*.", "x."), ("http", "https")):
            raise _invalid(name, origin, "origins with a scheme, e.g. https://chat.example.com")
    return origins


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).lower()
    if value not in choices:
        raise _invalid(name, value, f"one of {', '.join(choices)}")
    return value


def is_url(value: str, schemes: tuple[str, ...]) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in schemes and bool(parts.netloc)
