"""Logit bias as people write it: words or token ids, each with a bias.

``hello: -100, 50256: 5`` means "never say hello, slightly prefer token 50256".
A bare whole number is a token id; anything else is text, turned into the
model's token ids (a word may be several tokens: each gets the bias). Text
with a comma, a colon, leading spaces or digits only is written in double
quotes, JSON style: ``" hello": -100``, ``"42": -50``.

Ranges are not checked here: ``params.validate_params`` holds the one set of
rules (bias -100..100, at most 300 ids, ids of the model's tokenizer).
"""

import json
import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

from conversations import tokens

_ENTRY = re.compile(
    r"""[\s,]*
    (?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^:,\n"]+?))
    \s*:\s*
    (?P<bias>[-+]?(?:\d+(?:\.\d*)?|\.\d+))
    [^\S\n]*(?:[,\n]|$)""",
    re.VERBOSE,
)
_SEPARATORS = re.compile(r"[\s,]*")
ENTRIES_TEXT_MAX = 20_000


class BiasSyntaxError(ValueError):
    """The text is not a list of ``key: bias`` entries."""


@dataclass(frozen=True)
class Token:
    id: int
    text: str | None  # decoded with the model's tokenizer; None when unavailable


@dataclass(frozen=True)
class Entry:
    key: str  # the word as typed (without quotes), or the id
    is_word: bool
    bias: int | float
    tokens: tuple[Token, ...] = ()


def parse(text: str) -> list[Entry]:
    """The entries written in ``text``, not yet turned into token ids."""
    if len(text) > ENTRIES_TEXT_MAX:
        raise BiasSyntaxError(_("The list is too long."))
    entries, position = [], _SEPARATORS.match(text).end()
    while position < len(text):
        match = _ENTRY.match(text, position)
        if match is None:
            raise BiasSyntaxError(_syntax_message(text, position))
        entries.append(_entry(match))
        position = _SEPARATORS.match(text, match.end()).end()
    return entries


def _syntax_message(text: str, position: int) -> str:
    snippet = text[position:].splitlines()[0][:40] if text[position:].strip() else ""
    return _(
        'Cannot read "%(snippet)s". Write entries like hello: -100, 50256: 5 '
        "(put text with commas, colons or spaces in double quotes)."
    ) % {"snippet": snippet}


def _entry(match: re.Match) -> Entry:
    bias_text = match["bias"]
    bias = float(bias_text) if "." in bias_text else int(bias_text)
    if match["quoted"] is not None:
        try:
            word = json.loads(f'"{match["quoted"]}"')
        except ValueError:
            raise BiasSyntaxError(
                _("Bad escape in %(text)s.") % {"text": match[0].strip()}
            ) from None
        if not word:
            raise BiasSyntaxError(_("An entry has empty quotes."))
        return Entry(word, True, bias)
    key = match["bare"].strip()
    return Entry(key, not _is_id(key), bias)


def _is_id(key: str) -> bool:
    # ASCII digits only: "²" and "١٢" are digits to str.isdigit, and words here.
    return key.isascii() and key.isdigit()


def resolve(entries: list[Entry], model: str) -> list[Entry]:
    """Each entry with its token ids and their text.

    Raises tokens.EncodingUnavailable when a word needs a tokenizer the server
    does not have; ids alone always work (their text is then unknown).
    """
    return [_resolved(entry, model) for entry in entries]


def _resolved(entry: Entry, model: str) -> Entry:
    ids = tokens.token_ids(entry.key, model) if entry.is_word else [int(entry.key)]
    found = tuple(Token(token_id, tokens.decode_token(token_id, model)) for token_id in ids)
    return Entry(entry.key, entry.is_word, entry.bias, found)


def to_param(entries: list[Entry]) -> dict[str, int | float]:
    """The ``logit_bias`` request parameter; one id with two biases is refused."""
    biases: dict[str, int | float] = {}
    sources: dict[str, str] = {}
    for entry in entries:
        for token in entry.tokens:
            key = str(token.id)
            if key in biases and biases[key] != entry.bias:
                raise BiasSyntaxError(
                    _("Token %(id)s gets two different biases (from %(a)s and %(b)s).")
                    % {"id": token.id, "a": sources[key], "b": entry.key}
                )
            biases[key], sources[key] = entry.bias, entry.key
    return biases


def describe(logit_bias: dict, model: str) -> list[Entry]:
    """Stored ids with their text, for showing a saved parameter."""
    return [
        Entry(str(key), False, bias, (Token(int(key), tokens.decode_token(int(key), model)),))
        for key, bias in (logit_bias or {}).items()
    ]


def as_text(logit_bias: dict) -> str:
    """A saved parameter written back the way it is typed: ``50256: 5, 15339: -100``."""
    return ", ".join(f"{key}: {bias}" for key, bias in (logit_bias or {}).items())
