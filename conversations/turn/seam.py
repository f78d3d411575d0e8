"""Joining a continuation to the answer it continues, as the model meant it.

A server that cannot extend the cut-off answer in place (vLLM's
``continue_final_message`` can) writes the rest as a new message, and models
get the seam wrong in three ways:

- they restart with words already written ("…the door opened" + "the door
  opened slowly"): a continuation that begins by repeating the end of the
  answer, at least ``OVERLAP_MIN`` characters from the start of a word, is
  trimmed of the repeat;
- a new message starts without the space a new word needs ("most" + "One
  day", "end." + "Then"): the space is put in between a lowercase letter and a
  capital, and after closing punctuation before a letter;
- a word cut mid-way is finished without a space ("extraordi" + "nary"), a
  finished word is not glued to the next ("upon" + "a time"): the two pieces
  are one word when a BPE tokenizer (cl100k_base) writes them together in
  fewer tokens than apart, as it does for words it has seen ("extraordinary",
  "mostly") and not for two words ("upona", "thatthat"). Without the
  tokenizer's files they are taken for one word: the model was asked to go on
  mid-word.

Nothing is inserted inside an open code block, or next to writing without
spaces between words (Chinese, Japanese, Thai). A shorter repeat than
``OVERLAP_MIN`` is kept, as it may be meant ("that that").

``Seam`` works on the stream as it comes: while the continuation could still
be a restart (it matches the answer's end so far), its text is held back; as
soon as it cannot, or the choice finishes, it is released, mended. A
continuation that repeats nothing is held for at most a delta or two.
"""

import re
from collections.abc import AsyncIterator
from contextlib import aclosing

from conversations import tokens
from conversations.llm import Delta, Finish, LLMError

OVERLAP_MIN = 8  # characters a restart must repeat to be taken for one
OVERLAP_WINDOW = 4000  # how far back in the answer a restart may begin
CLOSING_PUNCTUATION = ".!?;:,)"
WORD_MODEL = "gpt-4"  # whose tokenizer (cl100k_base) tells one word from two
LAST_WORD = re.compile(r"[^\W\d_]+$")
FIRST_WORD = re.compile(r"^[^\W\d_]+")
FENCE = re.compile(r"^\s*(```|~~~)", re.MULTILINE)
# Scripts written without spaces between words.
NO_SPACE_SCRIPTS = re.compile(
    "[\u0e00-\u0e7f\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]"
)


def join(prefix: str, continuation: str) -> str:
    """What to append to ``prefix`` for ``continuation`` (the whole of it at once)."""
    seam = Seam(prefix)
    return seam.feed(continuation) + seam.finish()


class Seam:
    """The mending of one continuation, fed its text as it streams."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.tail = prefix[-OVERLAP_WINDOW:]
        whole = len(self.tail) == len(prefix)
        self.starts = [
            p for p in _word_starts(self.tail, whole) if len(self.tail) - p >= OVERLAP_MIN
        ]
        self.held = ""
        self.released = not prefix

    def feed(self, text: str) -> str:
        """The text to pass on now (maybe none yet)."""
        if self.released:
            return text
        self.held += text
        body = self.held.lstrip(" \t")
        self.starts = [p for p in self.starts if _agrees(self.tail[p:], body)]
        if any(len(body) < len(self.tail) - p for p in self.starts):
            return ""  # still repeating the answer's end: it may be a restart
        if not self.starts and _first_word_unfinished(self.prefix, self.held):
            return ""  # one word or two depends on all of it ("a" + "pple")
        return self._release(body)

    def finish(self) -> str:
        """What is still held when the continuation ends."""
        if self.released:
            return ""
        body = self.held.lstrip(" \t")
        self.starts = [p for p in self.starts if body.startswith(self.tail[p:])]
        return self._release(body)

    def _release(self, body: str) -> str:
        self.released = True
        if self.starts:  # the longest repeat of the answer's end is dropped
            return mend(self.prefix, body[len(self.tail) - min(self.starts) :])
        return mend(self.prefix, self.held)

    def mended(self, batch: list) -> list:
        """A batch of stream events with the first choice's text mended."""
        out = []
        for event in batch:
            kind = type(event)
            if kind is Delta and event.index == 0:
                text = self.feed(event.text)
            elif kind is Finish and event.index == 0:
                text = self.finish()
            else:
                text = ""
            if text:
                out.append(Delta(0, text))
            if kind is not Delta or event.index != 0:
                out.append(event)
        return out


async def mended_stream(batches: AsyncIterator[list], prefix: str) -> AsyncIterator[list]:
    """The batches of a continuation's stream, its text joined to ``prefix``."""
    seam = Seam(prefix)
    async with aclosing(batches) as inner:
        try:
            async for batch in inner:
                if out := seam.mended(batch):
                    yield out
        except LLMError:
            if rest := seam.finish():  # what was held is kept, like all text so far
                yield [Delta(0, rest)]
            raise
    if rest := seam.finish():
        yield [Delta(0, rest)]


def mend(prefix: str, rest: str) -> str:
    """``rest`` with the space the seam needs, or without the one it has twice."""
    if not prefix or not rest or _in_code_block(prefix):
        return rest
    before, after = prefix[-1], rest[0]
    if before == " " and after == " ":
        return rest.lstrip(" ")
    if before.isspace() or after.isspace():
        return rest
    if NO_SPACE_SCRIPTS.match(before) or NO_SPACE_SCRIPTS.match(after):
        return rest
    if before.isalpha() and before.islower() and after.isupper():
        return " " + rest  # "most" + "One day": a new word
    if before in CLOSING_PUNCTUATION and after.isalpha():
        return " " + rest  # "end." + "Then"
    if before.isalpha() and after.isalpha() and not _one_word(prefix, rest):
        return " " + rest  # "upon" + "a time"
    return rest  # "extraordi" + "nary": one word, cut mid-way


def _one_word(prefix: str, rest: str) -> bool:
    """Whether the word the prefix ends with and the one rest begins with are one."""
    head, tail = LAST_WORD.search(prefix), FIRST_WORD.match(rest)
    if not head or not tail:
        return True
    joined = tokens.count_text(f" {head.group()}{tail.group()}", WORD_MODEL)
    if not joined.exact:
        return True
    apart = sum(tokens.count_text(f" {m.group()}", WORD_MODEL).tokens for m in (head, tail))
    return joined.tokens < apart


def _agrees(expected: str, body: str) -> bool:
    """Whether ``body`` so far could be a restart of ``expected`` (or holds all of it)."""
    return expected.startswith(body) or body.startswith(expected)


def _word_starts(text: str, whole: bool) -> list[int]:
    """Where a word begins in ``text`` (its start counts only when it is the whole answer)."""
    starts = [0] if whole and text else []
    starts.extend(p for p in range(1, len(text)) if _begins_word(text[p - 1], text[p]))
    return starts


def _begins_word(before: str, char: str) -> bool:
    if char.isspace():
        return False
    if before.isspace() or NO_SPACE_SCRIPTS.match(char):
        return True
    return char.isalnum() and not before.isalnum()  # "(word", "—word"


def _first_word_unfinished(prefix: str, held: str) -> bool:
    return prefix[-1:].isalpha() and FIRST_WORD.fullmatch(held) is not None


def _in_code_block(text: str) -> bool:
    return len(FENCE.findall(text)) % 2 == 1
