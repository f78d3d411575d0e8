"""JSON from outside (socket frames, request bodies), read within bounds.

Python's JSON decoder recurses once per nesting level, so ``[[[[…`` a few
thousand deep raises RecursionError from deep inside it; the depth is checked
before decoding instead. ``NaN`` and ``Infinity``, which Python accepts but
JSON has not, are refused: PostgreSQL's JSON cannot store them.
"""

import json
import re
from typing import Any

# A string runs to its closing quote or, unterminated, to the end of the text:
# every match consumes what it scanned, so the pass stays linear whatever the
# input (an unclosed string must not be rescanned from each quote inside it).
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\Z)', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class TooDeep(ValueError):
    """The text nests arrays and objects deeper than allowed."""


def loads(text: str | bytes, *, depth_max: int) -> Any:
    """``json.loads`` for untrusted text; any refusal is a ValueError."""
    if isinstance(text, bytes):
        text = text.decode()  # UnicodeDecodeError is a ValueError
    # Fewer brackets than the limit cannot nest past it: the usual case, two C scans.
    brackets = text.count("[") + text.count("{")
    if brackets > depth_max and nesting(text) > depth_max:
        raise TooDeep(f"nested deeper than {depth_max}")
    return json.loads(text, parse_constant=_no_constant)


def nesting(text: str) -> int:
    """How deep the arrays and objects of ``text`` nest, brackets in strings aside."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
