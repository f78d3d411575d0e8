"""Token counting for chat requests: the one place that uses tiktoken.

No database and no models, so the consumer, the turn and the admin can all
share it and tests need no database; a prompt that cannot fit is refused here,
with the message people read (see refusals.py).

tiktoken downloads an encoding on first use. When that fails (no network, no
cache), counts fall back to a weaker estimate flagged ``exact=False``, a warning
is logged once per encoding, and the failure is remembered for the process so a
chat turn never waits on a download that already failed.
"""

import functools
import logging
import math
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import tiktoken
from django.utils.translation import gettext as _

from conversations.refusals import Refused

logger = logging.getLogger(__name__)

FALLBACK_ENCODING = "cl100k_base"
ESTIMATE = "estimate"


@dataclass(frozen=True)
class TokenCount:
    tokens: int
    exact: bool
    encoding: str  # tiktoken name, or "estimate" when no encoding could be loaded


@dataclass(frozen=True)
class HistoryItem:
    role: str
    content: str
    content_tokens: int | None = None  # cached count of ``content``; None means count it now
    ref: Any = None  # the caller's id for this message, handed back in ``kept_refs``


@dataclass(frozen=True)
class ContextPlan:
    messages: list[dict]
    prompt_tokens: int
    omitted: int  # earlier history messages left out to fit the window
    exact: bool
    kept_refs: list


class ContextError(Refused, ValueError):
    """The prompt cannot fit the model's window: refused before any upstream call."""

    def __init__(self, code: str, message: str, *, needed: int, available: int) -> None:
        super().__init__(code, message, needed=needed, available=available)
        self.needed, self.available = needed, available


class MessageTooLong(ContextError):
    def __init__(self, *, needed: int, available: int) -> None:
        message = _(
            "Your message is too long for this model: it needs %(needed)s tokens and "
            "%(available)s are available. Shorten it or choose a model with a larger window."
        ) % {"needed": needed, "available": available}
        super().__init__("message_too_long", message, needed=needed, available=available)


class ContextTooSmall(ContextError):
    def __init__(self, *, needed: int, available: int) -> None:
        message = _(
            "The system prompt and answer length leave no room for the conversation "
            "(%(needed)s tokens needed, %(available)s available). Lower max_tokens."
        ) % {"needed": needed, "available": available}
        super().__init__("context_too_small", message, needed=needed, available=available)


class EncodingUnavailable(RuntimeError):
    """Raised where token ids are needed: ids, unlike counts, cannot be estimated."""


class _Rule(NamedTuple):
    per_message: int
    per_name: int
    reply_priming: int


# OpenAI cookbook: <|start|>{role}<|message|>{content}<|end|>, replies primed with
# <|start|>assistant<|message|>; a name costs its tokens and one more. The same for
# gpt-3.5-turbo (after 0301), gpt-4 and every o200k_base model (gpt-4o, gpt-4.1,
# gpt-5, o-series): tests/test_token_names.py checks it against the API's counts.
_CURRENT = _Rule(per_message=3, per_name=1, reply_priming=3)
# gpt-3.5-turbo-0301 framed messages with one more token, a name replaced the role,
# and the reply priming was two tokens.
_LEGACY_0301 = _Rule(per_message=4, per_name=-1, reply_priming=2)
_LEGACY_MODELS = ("gpt-3.5-turbo-0301", "gpt-35-turbo-0301")

# The author name a message may carry, as the API accepts it.
_MESSAGE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

_lock = threading.Lock()
_encodings: dict[str, tiktoken.Encoding | None] = {}  # None remembers a failed load


def estimate_tokens(text: str) -> int:
    """Guess a count without a tokenizer.

    English averages about 4 characters per token; CJK and most other non-ASCII
    text is closer to one token per character. Never 0 for non-empty text.
    """
    ascii_chars = sum(1 for char in text if char.isascii())
    guess = math.ceil(ascii_chars / 4) + (len(text) - ascii_chars)
    return max(guess, 1) if text else 0


@dataclass(frozen=True)
class _Tokenizer:
    encoding: tiktoken.Encoding | None
    exact: bool

    @property
    def name(self) -> str:
        return self.encoding.name if self.encoding else ESTIMATE

    def count(self, text: str) -> int:
        if self.encoding is None:
            return estimate_tokens(text)
        # User text may contain "<|endoftext|>" literally; it is plain text to the API too.
        return len(self.encoding.encode(text, disallowed_special=()))


def _base_model(model: str) -> str:
    # "openai/gpt-4o" (routers), "ft:gpt-3.5-turbo-0125:org::id" and "davinci:ft-org-..."
    # all name the base model tiktoken knows.
    name = model.strip().lower().rsplit("/", 1)[-1]
    return name.removeprefix("ft:").split(":", 1)[0]


@functools.lru_cache(maxsize=256)
def _encoding_name(model: str) -> tuple[str, bool]:
    """Return (encoding name, whether it is the model's own tokenizer)."""
    try:
        return tiktoken.encoding_name_for_model(_base_model(model)), True
    except KeyError:
        # Llama, Mistral, Qwen... have their own tokenizers; cl100k_base is only close.
        return FALLBACK_ENCODING, False


def _load(name: str) -> tiktoken.Encoding | None:
    if name in _encodings:
        return _encodings[name]
    with _lock:
        if name not in _encodings:
            _encodings[name] = _try_load(name)
        return _encodings[name]


def _try_load(name: str) -> tiktoken.Encoding | None:
    try:
        return _slimmed(tiktoken.get_encoding(name))
    # Broad on purpose: the download raises requests errors, a bad cache ValueError,
    # a missing plugin ImportError; none of them may break a chat turn.
    except Exception as exc:
        logger.warning(
            "Cannot load tiktoken encoding %s, token counts are estimates: %s", name, exc
        )
        return None


def _slimmed(encoding: tiktoken.Encoding) -> tiktoken.Encoding:
    """Drop tiktoken's Python copy of the merge ranks (100k+ entries, 13 MB for
    cl100k_base, twice that for o200k_base): only pickling reads it; encoding
    and decoding use the Rust tokenizer's own tables. Every worker loads it."""
    if isinstance(getattr(encoding, "_mergeable_ranks", None), dict):
        encoding._mergeable_ranks = {}
    return encoding


def _tokenizer(model: str) -> _Tokenizer:
    name, own = _encoding_name(model)
    encoding = _load(name)
    if encoding is not None:
        return _Tokenizer(encoding, exact=own)
    # A related encoding still estimates far better than counting characters.
    return _Tokenizer(_load(FALLBACK_ENCODING), exact=False)


def _rule(model: str) -> _Rule:
    return _LEGACY_0301 if _base_model(model).startswith(_LEGACY_MODELS) else _CURRENT


def _own_encoding(model: str) -> tiktoken.Encoding | None:
    """The model's real tokenizer, or None: for ids a stand-in would be wrong."""
    name, own = _encoding_name(model)
    return _load(name) if own else None


def own_encoding_name(model: str) -> str | None:
    """The model's own encoding, without loading it; None when tiktoken does not
    know the model (its counts then use a stand-in)."""
    name, own = _encoding_name(model)
    return name if own else None


def encoding_name(model: str) -> str:
    """The encoding counts for this model use ("estimate" when none loads)."""
    return _tokenizer(model).name


def count_text(text: str, model: str) -> TokenCount:
    tokenizer = _tokenizer(model)
    return TokenCount(tokenizer.count(text), tokenizer.exact, tokenizer.name)


def message_overhead(model: str, role: str, name: str | None = None) -> int:
    """Tokens a message costs beyond its content, to add to a cached content count."""
    return _overhead(_tokenizer(model), _rule(model), role, name)


def _overhead(tokenizer: _Tokenizer, rule: _Rule, role: str, name: str | None) -> int:
    tokens = rule.per_message + tokenizer.count(role)
    if name:
        tokens += rule.per_name + tokenizer.count(name)
    return tokens


def reply_priming(model: str) -> int:
    return _rule(model).reply_priming


def _message_tokens(tokenizer: _Tokenizer, rule: _Rule, message: dict) -> int:
    overhead = _overhead(tokenizer, rule, message["role"], message.get("name"))
    return overhead + tokenizer.count(message.get("content") or "")


def is_valid_name(name: object) -> bool:
    """Whether the API accepts this as a message's ``name``: 1 to 64 letters,
    digits, underscores or hyphens."""
    return isinstance(name, str) and _MESSAGE_NAME.fullmatch(name) is not None


def count_messages(messages: list[dict], model: str) -> TokenCount:
    """Prompt tokens of a chat request, as the API reports them in usage; a
    message's ``name``, where it has one, counts too."""
    tokenizer, rule = _tokenizer(model), _rule(model)
    tokens = rule.reply_priming + sum(_message_tokens(tokenizer, rule, m) for m in messages)
    return TokenCount(tokens, tokenizer.exact, tokenizer.name)


def build_context(
    *,
    system: list[dict],
    history: list[HistoryItem],
    model: str,
    context_window: int,
    max_tokens: int,
) -> ContextPlan:
    """Keep every system message and the newest history that fits beside the reply."""
    budget = _prompt_budget(context_window, max_tokens)
    tokenizer, rule = _tokenizer(model), _rule(model)
    used = rule.reply_priming + sum(_message_tokens(tokenizer, rule, m) for m in system)
    if used > budget:
        raise ContextTooSmall(needed=used, available=budget)
    kept, total = _newest_that_fit(history, tokenizer, rule, used, budget)
    if history and not kept:
        newest = _item_tokens(tokenizer, rule, history[-1])
        raise MessageTooLong(needed=newest, available=budget - used)
    messages = [*system, *({"role": item.role, "content": item.content} for item in kept)]
    refs = [item.ref for item in kept]
    return ContextPlan(messages, total, len(history) - len(kept), tokenizer.exact, refs)


def _prompt_budget(context_window: int, max_tokens: int) -> int:
    if max_tokens >= context_window:
        raise ContextTooSmall(needed=max_tokens, available=context_window)
    return context_window - max_tokens


def _newest_that_fit(
    history: list[HistoryItem], tokenizer: _Tokenizer, rule: _Rule, used: int, budget: int
) -> tuple[list[HistoryItem], int]:
    """Walk back from the newest message; stop at the first that does not fit, so the
    model never sees a conversation with a hole in it."""
    kept: list[HistoryItem] = []
    for item in reversed(history):
        cost = _item_tokens(tokenizer, rule, item)
        if used + cost > budget:
            break
        kept.append(item)
        used += cost
    return kept[::-1], used


def _item_tokens(tokenizer: _Tokenizer, rule: _Rule, item: HistoryItem) -> int:
    content = item.content_tokens
    if content is None:
        content = tokenizer.count(item.content)
    return _overhead(tokenizer, rule, item.role, None) + content


def token_ids(text: str, model: str) -> list[int]:
    encoding = _own_encoding(model)
    if encoding is None:
        raise EncodingUnavailable(
            f"The tokenizer of model {model!r} is not available, so words cannot be "
            f"turned into token ids; enter token ids instead."
        )
    return encoding.encode(text, disallowed_special=())


def vocab_size(model: str) -> int | None:
    encoding = _own_encoding(model)
    return encoding.n_vocab if encoding else None


def is_valid_token_id(token_id: int, model: str) -> bool | None:
    encoding = _own_encoding(model)
    if encoding is None:
        return None
    return _token_bytes(encoding, token_id) is not None


def decode_token(token_id: int, model: str) -> str | None:
    encoding = _own_encoding(model)
    data = _token_bytes(encoding, token_id) if encoding else None
    # One token may be part of a multi-byte character; show it rather than fail.
    return data.decode("utf-8", errors="replace") if data is not None else None


def _token_bytes(encoding: tiktoken.Encoding, token_id: int) -> bytes | None:
    # Vocabularies have gaps (cl100k_base has none at 100256, 100261-100275).
    if not 0 <= token_id < encoding.n_vocab:
        return None
    try:
        return encoding.decode_single_token_bytes(token_id)
    except KeyError:
        return None


def preload(models: Iterable[str]) -> None:
    """Load the encodings these models need now, not during the first chat turn."""
    for model in models:
        _tokenizer(model)


def _reset_cache_for_tests() -> None:
    with _lock:
        _encodings.clear()
