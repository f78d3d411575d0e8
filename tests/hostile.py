"""Hypothesis strategies for input nobody should send: the fuzz tests' vocabulary.

Text carries what breaks databases and encoders (lone surrogates, NUL, other
control characters, RTL marks, backslashes); numbers run past 64 bits; JSON
nests and mixes types; raw bodies are not even JSON.
"""

import base64
import json
import re
from pathlib import Path
from urllib.parse import quote

from hypothesis import strategies as st

NASTY_CHARS = [
    "\x00", "\x01", "\x1b", "\x7f", "\ud800", "\udc00", "\ud83d", "\udfff", "\u2028",
    "\u202e", "\ufeff", "\uffff", "\U0001f99c", "\\", '"', "'", "%", "\n", "\t", " ",
]  # fmt: skip
HUGE_NUMBERS = [2**31, 2**63, 2**64, -(2**63) - 1, 10**30, 1e308, -1e308, 1e-320, -0.0]

text = st.lists(st.one_of(st.characters(), st.sampled_from(NASTY_CHARS)), max_size=24).map("".join)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(HUGE_NUMBERS),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, text)


def json_values(keys=text, leaves=scalars):
    """Any JSON value, nested a few levels, with ``keys`` as object keys."""
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=12,
    )


def dumps(value) -> str:
    """JSON as a browser writes it: lone surrogates as ``\\ud800`` escapes."""
    return json.dumps(value)


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


raw_texts = st.one_of(
    text,
    st.integers(min_value=1, max_value=200_000).map(deep),
    st.integers(min_value=1, max_value=50_000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.sampled_from(["NaN", "[Infinity]", '{"a": -Infinity}', "", "{", "null", "1e999"]),
    st.integers(min_value=4000, max_value=6000).map(lambda n: "9" * n),
)
raw_bodies = st.one_of(raw_texts.map(lambda s: s.encode("utf-8", "surrogatepass")), st.binary())


def query_value(value: str) -> str:
    """Percent-encoded as sent on the wire (a lone surrogate becomes invalid UTF-8)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def cursor_of(value) -> str:
    return base64.urlsafe_b64encode(dumps(value).encode()).decode()


QUERY_KEYS = ["q", "cursor", "archived", "page", "scope", "next", "model", "lang"]
ISO_TIMES = ["2024-01-01T00:00:00+00:00", "2024-01-01", "0001-01-01T00:00:00+14:00", "9999-12-31"]
# Shaped like the sidebar's cursor (pinned, updated, id), so the fuzz gets past its first check.
cursor_like = st.tuples(scalars, st.one_of(st.sampled_from(ISO_TIMES), text), scalars).map(list)
query_values = st.one_of(
    text,
    numbers.map(str),
    st.one_of(json_values(), cursor_like).map(cursor_of),
    st.sampled_from(["1", "0", "-1", "mine", "all", "", "W10=", "e30="]),
)
query_strings = st.dictionaries(
    st.one_of(st.sampled_from(QUERY_KEYS), text), query_values, max_size=4
).map(lambda d: "&".join(f"{query_value(k)}={query_value(v)}" for k, v in d.items()))


def documented_error_codes() -> set[str]:
    """The error codes of docs/protocol.md's table: the only ones a frame may answer."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text()
    table = doc.split("## Error codes", 1)[1].split("\n\n", 2)[1]
    return set(re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE))
