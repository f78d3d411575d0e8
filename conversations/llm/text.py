"""Text that is safe to store, send and show, whoever wrote it.

Model output, user messages and titles may carry what no database or socket
takes: unpaired UTF-16 surrogates (a ``\\ud83d`` escape without its partner),
NUL bytes (PostgreSQL refuses them in text) and other C0 control characters.
``clean_text`` is the one rule, applied where text enters: unpaired surrogates
become U+FFFD, control characters other than tab, line feed and carriage
return are removed. Clean text, the common case, is returned as it is after
one C-level scan.

``SurrogateMender`` joins a surrogate pair that a provider split across two
stream chunks (each chunk escapes half of an emoji), so the character survives
instead of becoming two replacement characters.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SURROGATE_PAIR = re.compile(r"[\ud800-\udbff][\udc00-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` with unpaired surrogates replaced and control characters removed."""
    if _UNSAFE.search(text) is None:
        return text
    text = _CONTROLS.sub("", text)
    text = _SURROGATE_PAIR.sub(_join_pair, text)
    return _SURROGATE.sub(REPLACEMENT, text)


def _join_pair(match: re.Match) -> str:
    return match.group().encode("utf-16-le", "surrogatepass").decode("utf-16-le")


def is_high_surrogate(char: str) -> bool:
    return "\ud800" <= char <= "\udbff"


class SurrogateMender:
    """Per stream: holds a trailing high surrogate until the next piece of text.

    ``mend(text)`` returns the text that can go out now (clean); ``flush()``
    what is left at the end of the stream.
    """

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = ""

    def mend(self, text: str) -> str:
        if self._held:
            text, self._held = self._held + text, ""
        if text and is_high_surrogate(text[-1]):
            text, self._held = text[:-1], text[-1]
        return clean_text(text)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return REPLACEMENT if held else ""
