"""A real OpenAI-compatible HTTP server for tests, benchmarks and manual runs.

In tests::

    with FakeUpstream(api_key="sk-test") as fake:      # background thread, own loop
        fake.enqueue(Scenario(tokens=["Hi", "!"], delay=0.01))
        ... point the client at fake.base_url ("http://127.0.0.1:PORT/v1") ...
        [request] = fake.wait_for_requests(1)

From the command line (benchmarks, running the app by hand)::

    python -m tests.fakeupstream --port 9100 --tokens 200 --delay-ms 20 [--stamp]

Endpoints: ``GET /v1/models``, ``GET /v1/models/{id}``, ``POST
/v1/chat/completions`` (SSE when ``stream`` is true, a ``chat.completion``
object otherwise), in OpenAI's exact shapes; and files and fine-tuning jobs
(``tests.fakefinetune``, as ``fake.fine_tuning``); and ``POST
/v1/images/generations`` (``tests.fake_images``, as ``fake.images``).

Behaviour of each chat request, first match wins:

1. a directive in the last user message, ``[[fake:ITEM,ITEM,...]]`` (works
   when the app runs in another process); ITEM is ``key=value`` or a word:
   ``tokens=N`` (N generated tokens), ``delay=MS``, ``first_byte_delay=MS``,
   ``stall_after=N``, ``cut_after=N``, ``malformed_after=N``,
   ``error_after=N``, ``error=NAME`` (a canned error, see ``ERRORS``),
   ``status=NNN``, ``retry_after=SECONDS``, ``prompt_tokens=N``,
   ``reasoning=N`` (N reasoning tokens before the answer, as DeepSeek's
   ``reasoning_content``), ``reasoning_tokens=N`` (what usage reports of
   them; by default their number),
   ``times=K`` (only the first K requests with this exact body misbehave;
   later identical ones, i.e. retries, succeed); words: ``stop``,
   ``length``, ``content_filter``, ``no_finish``, ``no_done``, ``no_usage``,
   ``hang``, ``non_sse``, ``comments``, ``split``, ``stamp``, ``crlf``,
   ``cr``, ``echo`` (reply with the user's words), ``vllm_reasoning``
   (reasoning as vLLM's and OpenRouter's ``reasoning`` field), ``empty``
   (HTTP 200 and only ``data: [DONE]``, as llama.cpp answers a prompt over
   its context window), ``empty_close`` (HTTP 200, nothing, then close),
   ``one_choice`` (ignore ``n``: answer with one choice), ``obey_limit``
   (stop at the request's ``max_tokens``/``max_completion_tokens`` with
   ``length``; by default the fake writes its tokens whatever was asked). Example:
   ``[[fake:tokens=50,delay=20,length]]``.
2. the next queued ``Scenario`` (``fake.enqueue``), FIFO;
3. ``fake.default``.

Before any of them, the request meets the server's own rules, as real servers
answer them with a 400 (``refusal``): like OpenAI, models named o1*, o3*, o4*
and gpt-5* refuse ``max_tokens`` and sampling settings; like vLLM,
``continue_final_message`` needs ``add_generation_prompt: false`` and an
assistant message last. Quirks of other servers are turned on for every request
with ``fake.quirks.add(NAME)`` (cleared by ``reset``) or for one request by a
directive word: ``refuse_max_tokens`` (OpenAI's 400 for any model),
``refuse_stream_options`` (vLLM's 400), ``refuse_stream_options_422``
(FastAPI servers' 422, as llama-cpp-python answers). A refusal uses up no
queued scenario.

"After N" counts content chunks (reasoning chunks included, they come
first); the role chunk always goes first.
Stamped streams (``stamp=True``) carry the server's send time as each
content chunk's text, ``"⟦<unix seconds with 6 decimals>⟧"`` (e.g.
``"⟦1732200000.123456⟧"``), so a client can measure per-delta latency.

Every request is recorded (``fake.requests``) with headers and JSON body,
and for chat requests when the response ended and whether the *client*
went away first (``disconnected_at``, ``time.monotonic()``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import itertools
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests import fake_moderation
from tests.fake_completions import FakeCompletions
from tests.fake_images import FakeImages
from tests.fakefinetune import FakeFineTuning

FRIENDLY_REPLY = ["Hello", "!", " 👋", " I'm", " a", " fake", " model", ".", " How", " can"]
FRIENDLY_REPLY += [" I", " help", " you", " today", "?"]
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while"]
WORDS += ["café", "owners", "sip", "crème", "brûlée", "under", "日本", "skies"]
MODELS = ("gpt-4o-mini", "gpt-4o", "fake-model")
CREATED = 1_700_000_000
HANG_SECONDS = 3600.0  # "forever", until the client leaves or the server stops
SPLIT_BYTES = 5


def generated_tokens(count: int) -> list[str]:
    """``count`` word-sized chunks, some multi-byte, for long replies."""
    return [" " + WORDS[i % len(WORDS)] if i else "Lorem" for i in range(count)]


def reasoning_tokens(count: int) -> list[str]:
    """``count`` chunks of a model thinking aloud, markdown included."""
    thoughts = ["Let", " me", " think", " about", " **this**", ":", "\n\n- first", " step"]
    return [thoughts[i % len(thoughts)] for i in range(count)]


def _error(message: str, kind: str, code: str | None, param: str | None = None) -> dict:
    return {"message": message, "type": kind, "param": param, "code": code}


# Canned OpenAI error responses: name -> (status, error object).
ERRORS: dict[str, tuple[int, dict]] = {
    "rate_limited": (
        429,
        _error("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
    ),
    "insufficient_quota": (
        429,
        _error(
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        ),
    ),
    "context_length_exceeded": (
        400,
        _error(
            "This model's maximum context length is 8192 tokens. However, your messages "
            "resulted in 9001 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
            "messages",
        ),
    ),
    "bad_request": (400, _error("Invalid value for 'temperature'.", "invalid_request_error", None)),
    "invalid_api_key": (
        401,
        _error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    ),
    "permission_denied": (
        403,
        _error("You are not allowed to use this model.", "invalid_request_error", None),
    ),
    "model_not_found": (
        404,
        _error(
            "The model does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        ),
    ),
    "server_error": (
        500,
        _error("The server had an error while processing your request.", "server_error", None),
    ),
    "overloaded": (
        503,
        _error("The engine is currently overloaded, please try again later.", "server_error", None),
    ),
}


@dataclass
class Scenario:
    """How the server answers one chat request."""

    tokens: list[str] = field(default_factory=lambda: list(FRIENDLY_REPLY))
    delay: float = 0.0  # seconds before each content chunk but the first
    first_byte_delay: float = 0.0  # headers go out at once, then this pause
    status: int = 200
    error: str | dict | None = None  # a name from ERRORS, or an error object
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: str | bytes | None = None  # send exactly this (with status, content_type)
    content_type: str = "application/json"
    hang_before_first_byte: bool = False  # not even headers
    stall_after: int | None = None  # N content chunks, then silence, connection open
    cut_after: int | None = None  # N content chunks, then close the socket
    malformed_after: int | None = None  # N content chunks, then invalid JSON
    error_after: int | None = None  # N content chunks, then data: {"error": ...}
    finish_reason: str | None = "stop"  # None: omit it (still sends [DONE])
    send_done: bool = True
    include_usage: bool | None = None  # None: as the request's stream_options say
    prompt_tokens: int | None = None  # None: a rough count of the messages
    non_sse: bool = False  # answer a stream request with a JSON completion
    line_ending: str = "\n"  # or "\r\n" or "\r"
    comments: bool = False  # ": keep-alive" lines between events
    split_writes: bool = False  # write events a few bytes at a time
    stamp: bool = False  # content text = send time, see module docstring
    reasoning: list[str] = field(default_factory=list)  # streamed before the answer
    reasoning_field: str = "reasoning_content"  # DeepSeek, llama.cpp; vLLM says "reasoning"
    reasoning_tokens: int | None = None  # usage's count of them; None: len(reasoning)
    empty: str | None = None  # "done": 200 and only [DONE]; "close": 200, nothing, close
    one_choice: bool = False  # ignore the request's n, as many servers do
    # Stop at the request's max_tokens (or max_completion_tokens) with finish_reason
    # "length", as real servers do; without one, write all of ``tokens``.
    obey_limit: bool = False

    def http_error(self) -> tuple[int, dict] | None:
        if isinstance(self.error, str):
            status, body = ERRORS[self.error]
            return (self.status if self.status != 200 else status), body
        if self.error is not None or self.status >= 400:
            status = self.status if self.status >= 400 else 500
            return status, self.error or ERRORS["server_error"][1]
        return None


# Fields reset when a ``times=K`` directive has already misbehaved K times.
FAULTS = ("status", "error", "hang_before_first_byte", "stall_after", "cut_after")
FAULTS += ("malformed_after", "error_after", "non_sse", "raw_body", "empty")
DIRECTIVE = re.compile(r"\[\[fake:([^\]]*)\]\]")
WORD_FLAGS = {
    "stop": ("finish_reason", "stop"),
    "length": ("finish_reason", "length"),
    "content_filter": ("finish_reason", "content_filter"),
    "no_finish": ("finish_reason", None),
    "no_done": ("send_done", False),
    "no_usage": ("include_usage", False),
    "hang": ("hang_before_first_byte", True),
    "non_sse": ("non_sse", True),
    "comments": ("comments", True),
    "split": ("split_writes", True),
    "stamp": ("stamp", True),
    "crlf": ("line_ending", "\r\n"),
    "cr": ("line_ending", "\r"),
    "vllm_reasoning": ("reasoning_field", "reasoning"),
    "empty": ("empty", "done"),
    "empty_close": ("empty", "close"),
    "one_choice": ("one_choice", True),
    "obey_limit": ("obey_limit", True),
}
INT_KEYS = ("stall_after", "cut_after", "malformed_after", "error_after", "status", "prompt_tokens")
INT_KEYS += ("reasoning_tokens",)


MS_KEYS = ("delay", "first_byte_delay")


def parse_directive(text: str, base: Scenario) -> tuple[Scenario, int | None] | None:
    """The scenario a ``[[fake:...]]`` directive asks for, and its ``times`` limit."""
    match = DIRECTIVE.search(text)
    if match is None:
        return None
    changes: dict[str, Any] = {}
    times = None
    for item in filter(None, (part.strip() for part in match.group(1).split(","))):
        key, _, value = item.partition("=")
        try:
            if key == "times":
                times = int(value)
            else:
                changes.update(_directive_item(key, value, text))
        except ValueError:
            raise ValueError(f"bad fake directive item {item!r}") from None
    return dataclasses.replace(base, **changes), times


def _directive_item(key: str, value: str, text: str) -> dict[str, Any]:
    if not value and key in QUIRKS:
        return {}  # a server rule, see refusal()
    if not value and key == "echo":
        return {"tokens": re.findall(r"\s*\S+", DIRECTIVE.sub("", text).strip())}
    if not value and key in WORD_FLAGS:
        name, flag = WORD_FLAGS[key]
        return {name: flag}
    if value and key == "tokens":
        return {"tokens": generated_tokens(int(value))}
    if value and key == "reasoning":
        return {"reasoning": reasoning_tokens(int(value))}
    if value and key in MS_KEYS:
        return {key: float(value) / 1000}
    if value and key in INT_KEYS:
        return {key: int(value)}
    if value in ERRORS and key == "error":
        return {"error": value}
    if value and key == "retry_after":
        return {"headers": {"retry-after": value}}
    raise ValueError(key)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, or None
    raw_body: bytes
    received_at: float  # time.monotonic()
    peer: tuple | None = None  # the client's (host, port): same port = reused connection
    scenario: Scenario | None = None
    status: int | None = None
    outcome: str | None = None  # completed | disconnected | cut | stopped
    ended_at: float | None = None
    disconnected_at: float | None = None  # the client went away before the end
    ended: threading.Event = field(default_factory=threading.Event, repr=False)

    def end(self, outcome: str) -> None:
        if self.outcome is None:
            self.outcome, self.ended_at = outcome, time.monotonic()
            if outcome == "disconnected":
                self.disconnected_at = self.ended_at
            self.ended.set()

    def wait_ended(self, timeout: float = 5.0) -> bool:
        return self.ended.wait(timeout)

    async def wait_ended_async(self, within: float = 5.0) -> bool:
        return await _poll(self.ended.is_set, within)


RECORD = web.RequestKey("record", RecordedRequest)


async def _poll(condition: Any, within: float) -> bool:
    # The server lives on another thread and loop: poll instead of blocking ours.
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.005)
    return True


class StreamWriter:
    """Encodes one reply's chunks in OpenAI's exact format.

    Content chunks are a per-request prefix + the JSON-encoded token (cached
    across requests) + a suffix: no per-chunk ``json.dumps`` on the hot path.
    """

    def __init__(self, request: RecordedRequest, scenario: Scenario) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        self.scenario = scenario
        self.n = 1 if scenario.one_choice else int(body.get("n") or 1)
        self.end = (scenario.line_ending * 2).encode()
        include = (body.get("stream_options") or {}).get("include_usage", False)
        self.usage = include if scenario.include_usage is None else scenario.include_usage
        self.head = {
            "id": f"chatcmpl-fake{next(_ids)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", MODELS[0]),
            "system_fingerprint": "fp_fake",
        }
        self.prompt_tokens = scenario.prompt_tokens or _rough_prompt_tokens(body)
        self.tokens, self.finish_reason = _limited(scenario, body)
        self._prefixes, self._suffix = self._content_template()

    def _content_template(self) -> tuple[list[bytes], bytes]:
        marker = "\x00"
        whole = self.event([_choice(0, {"content": marker})]).decode()
        before, after = whole.split(_dumps(marker).decode())
        split_at = before.index('"index":0') + len('"index":')
        heads = [before[:split_at] + str(i) + before[split_at + 1 :] for i in range(self.n)]
        return [head.encode() for head in heads], after.encode()

    def event(self, choices: list[dict], usage: dict | None = None) -> bytes:
        chunk = {**self.head, "choices": choices}
        if self.usage:
            chunk["usage"] = usage
        return b"data: " + _dumps(chunk) + self.end

    def role(self, index: int) -> bytes:
        return self.event([_choice(index, {"role": "assistant", "content": ""})])

    def content(self, index: int, text: str) -> bytes:
        return self._prefixes[index] + _json_string(text) + self._suffix

    def stamped(self, index: int, _text: str = "") -> bytes:
        return self._prefixes[index] + f'"⟦{time.time():.6f}⟧"'.encode() + self._suffix

    def thought(self, index: int, text: str) -> bytes:
        """A reasoning chunk, in the shape of the server the scenario plays."""
        delta = {self.scenario.reasoning_field: text}
        if self.scenario.reasoning_field == "reasoning_content":
            delta = {"content": None, **delta}  # as DeepSeek sends it
        return self.event([_choice(index, delta)])

    def finish(self, index: int) -> bytes:
        return self.event([_choice(index, {}, self.finish_reason)])

    def usage_event(self) -> bytes:
        return self.event([], self.usage_object())

    def usage_object(self) -> dict:
        completion = len(self.contents()) + len(self.thoughts())
        usage = {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion}
        usage["total_tokens"] = self.prompt_tokens + completion
        reasoning = self.scenario.reasoning_tokens
        if reasoning is None and self.scenario.reasoning:
            reasoning = len(self.thoughts())
        if reasoning is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        return usage

    def done(self) -> bytes:
        return b"data: [DONE]" + self.end

    def thoughts(self) -> list[tuple[int, str]]:
        """(choice index, reasoning text) in send order, before any content."""
        return [(i, token) for token in self.scenario.reasoning for i in range(self.n)]

    def contents(self) -> list[tuple[int, str]]:
        """(choice index, text) in send order: choices interleaved token by token."""
        tokens = self.tokens
        if self.n == 1:
            return [(0, token) for token in tokens]
        # Tell the choices apart: "[0] Hello...", "[1] Hello...".
        rounds = [[f"[{i}] ", *tokens] for i in range(self.n)]
        return [(i, rounds[i][j]) for j in range(len(tokens) + 1) for i in range(self.n)]

    def completion(self) -> dict:
        """The non-streaming ``chat.completion`` object for the same reply."""
        texts: dict[int, str] = {}
        for index, text in self.contents():
            texts[index] = texts.get(index, "") + text
        choices = [_message_choice(i, t, self.finish_reason) for i, t in texts.items()]
        if self.scenario.reasoning:
            thought = "".join(self.scenario.reasoning)
            for choice in choices:
                choice["message"][self.scenario.reasoning_field] = thought
        usage = self.usage_object()
        return {**self.head, "object": "chat.completion", "choices": choices, "usage": usage}


def _limited(scenario: Scenario, body: dict) -> tuple[list[str], str | None]:
    """The reply's tokens and finish reason under the request's answer-length limit."""
    limit = body.get("max_tokens") or body.get("max_completion_tokens")
    if not scenario.obey_limit or not limit or len(scenario.tokens) <= limit:
        return scenario.tokens, scenario.finish_reason
    return scenario.tokens[:limit], "length"


@functools.lru_cache(maxsize=8192)
def _json_string(text: str) -> bytes:
    try:
        return _dumps(text)
    except UnicodeEncodeError:  # a lone surrogate: sent as its JSON escape, as servers do
        return json.dumps(text, separators=(",", ":")).encode()


_ids = itertools.count(1)


def _dumps(value: Any) -> bytes:
    # OpenAI's framing: compact separators, raw UTF-8 rather than \u escapes.
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate: sent as its JSON escape, as servers do
        return json.dumps(value, separators=(",", ":")).encode()


def _choice(index: int, delta: dict, finish_reason: str | None = None) -> dict:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def _message_choice(index: int, text: str, finish_reason: str | None) -> dict:
    message = {"role": "assistant", "content": text, "refusal": None}
    return {"index": index, "message": message, "logprobs": None, "finish_reason": finish_reason}


QUIRKS = ("refuse_max_tokens", "refuse_stream_options", "refuse_stream_options_422")
REASONING_MODEL = re.compile(r"^(o1|o3|o4|gpt-5)", re.IGNORECASE)
FIXED_SAMPLING = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "logit_bias")


def refusal(body: Any, quirks: set[str]) -> tuple[int, dict] | None:
    """The 400 (or 422) a real server answers this request with, if any."""
    if not isinstance(body, dict):
        return None
    quirks = quirks | _directive_words(_last_user_text(body))
    model = str(body.get("model", "")).rsplit("/", 1)[-1]
    reasoning = REASONING_MODEL.match(model) is not None
    if "stream_options" in body and quirks & {"refuse_stream_options", "refuse_stream_options_422"}:
        return _stream_options_refusal("refuse_stream_options_422" in quirks)
    if "max_tokens" in body and (reasoning or "refuse_max_tokens" in quirks):
        return 400, _unsupported("max_tokens", " Use 'max_completion_tokens' instead.")
    for name in FIXED_SAMPLING if reasoning else ():
        if name in body:
            return 400, _unsupported(name, "")
    if body.get("continue_final_message"):
        return _continuation_refusal(body)
    return None


def _directive_words(text: str) -> set[str]:
    match = DIRECTIVE.search(text)
    return set(match.group(1).replace(" ", "").split(",")) & set(QUIRKS) if match else set()


def _unsupported(name: str, advice: str) -> dict:
    message = f"Unsupported parameter: '{name}' is not supported with this model.{advice}"
    return {"error": _error(message, "invalid_request_error", "unsupported_parameter", name)}


def _stream_options_refusal(fastapi: bool) -> tuple[int, dict]:
    if fastapi:
        problem = {"type": "extra_forbidden", "loc": ["body", "stream_options"]}
        return 422, {"detail": [{**problem, "msg": "Extra inputs are not permitted"}]}
    message = "Unrecognized request argument supplied: stream_options"
    return 400, {"error": _error(message, "invalid_request_error", None)}


def _continuation_refusal(body: dict) -> tuple[int, dict] | None:
    """vLLM's checks of a request to extend the last message."""
    messages = body.get("messages") or [{}]
    if body.get("add_generation_prompt", True):
        message = "Cannot set both `continue_final_message` and `add_generation_prompt` to True."
    elif not isinstance(messages[-1], dict) or messages[-1].get("role") != "assistant":
        message = "continue_final_message needs an assistant message last."
    else:
        return None
    return 400, {"error": _error(message, "BadRequestError", None)}


def _rough_prompt_tokens(body: dict) -> int:
    messages = body.get("messages") or []
    return sum(4 + len(_text_of(m)) // 4 for m in messages if isinstance(m, dict)) + 3


def _text_of(message: dict) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content)


def _last_user_text(body: Any) -> str:
    messages = body.get("messages") if isinstance(body, dict) else None
    users = [m for m in messages or [] if isinstance(m, dict) and m.get("role") == "user"]
    return _text_of(users[-1]) if users else ""


class FakeUpstream:
    """The server; ``start()`` runs it on a background thread with its own loop."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        models: tuple[str, ...] | list[str] = MODELS,
        default: Scenario | None = None,
        listing: list[dict] | None = None,
        model_info: dict | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.api_key = api_key  # when set, requests must carry it as a Bearer token
        self.models = list(models)
        self.listing = listing  # /v1/models entries as a server shapes them, instead of models
        self.model_info = model_info  # the body of LiteLLM's /v1/model/info (else 404)
        self.default = default or Scenario()
        self.quirks: set[str] = set()  # server rules for every request, see refusal()
        self._queue: deque[Scenario] = deque()
        self._records: list[RecordedRequest] = []
        self._changed = threading.Condition()
        self._seen_bodies: dict[str, int] = {}
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.fine_tuning = FakeFineTuning(self.models)
        self.completions = FakeCompletions()  # POST /v1/completions (tests.fake_completions)
        self.images = FakeImages(lambda: self.base_url)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # -- control, from any thread ------------------------------------------

    def enqueue(self, *scenarios: Scenario) -> None:
        with self._changed:
            self._queue.extend(scenarios)

    def reset(self) -> None:
        with self._changed:
            self._queue.clear()
            self._records.clear()
            self._seen_bodies.clear()
            self.quirks.clear()
        self.fine_tuning.reset()
        self.images.reset()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._changed:
            return list(self._records)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until ``count`` requests arrived (any path); returns them all."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._records) >= count, timeout):
                raise AssertionError(f"expected {count} requests, got {len(self._records)}")
            return list(self._records)

    async def wait_for_requests_async(
        self, count: int, within: float = 5.0
    ) -> list[RecordedRequest]:
        if not await _poll(lambda: len(self._records) >= count, within):
            raise AssertionError(f"expected {count} requests, got {len(self._records)}")
        return self.requests

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> FakeUpstream:
        ready = threading.Event()
        failures: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(ready, failures), name="fake-upstream", daemon=True
        )
        self._thread.start()
        ready.wait(10)
        if failures:
            raise failures[0]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Run on the calling thread until interrupted (the command line)."""
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(self._serve())

    def _run(self, ready: threading.Event, failures: list[BaseException]) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._open())
        except BaseException as exc:
            failures.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._close())
            loop.close()

    async def _serve(self) -> None:
        await self._open()
        print(f"fake upstream listening on {self.base_url}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await self._close()

    async def _open(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024**2)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/model/info", self._model_info)
        app.router.add_get("/v1/models/{model_id:.+}", self._retrieve_model)
        app.router.add_post("/v1/chat/completions", self._chat)
        self.fine_tuning.routes(app)
        fake_moderation.routes(app, self._json)  # /v1/moderations
        self.completions.routes(app, RECORD)
        self.images.routes(app)
        app.router.add_route("*", "/{tail:.*}", self._unknown_path)
        # handler_cancellation: a client going away cancels its handler,
        # which is how disconnects get recorded (also mid-hang).
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=0.2
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=2048)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _close(self) -> None:
        self._stopping = True
        if self._runner is not None:
            await self._runner.cleanup()

    # -- HTTP ----------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        record = await self._record(request)
        request[RECORD] = record
        provided = request.headers.get("Authorization", "")
        if self.api_key and provided != f"Bearer {self.api_key}":
            return self._auth_error(record, provided.removeprefix("Bearer "))
        return await handler(request)

    async def _record(self, request: web.Request) -> RecordedRequest:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        peer = request.transport.get_extra_info("peername") if request.transport else None
        record = RecordedRequest(
            request.method, request.path, headers, body, raw, time.monotonic(), peer
        )
        with self._changed:
            self._records.append(record)
            self._changed.notify_all()
        return record

    def _auth_error(self, record: RecordedRequest, provided: str) -> web.Response:
        # Echoes the whole key it was given (OpenAI masks most of it) so tests
        # can prove the client redacts keys from messages it surfaces.
        message = f"Incorrect API key provided: {provided}. You can find your API key at "
        message += "https://platform.openai.com/account/api-keys."
        if not provided:
            message = "You didn't provide an API key."
        error = _error(message, "invalid_request_error", "invalid_api_key" if provided else None)
        return self._json(record, {"error": error}, status=401)

    def _json(
        self, record: RecordedRequest, body: Any, status: int = 200, headers: Any = None
    ) -> web.Response:
        record.status = status
        record.end("completed")
        return web.Response(
            body=_dumps(body), status=status, headers=headers, content_type="application/json"
        )

    async def _list_models(self, request: web.Request) -> web.Response:
        data = [_model(model_id) for model_id in self.models]
        data = data if self.listing is None else self.listing
        return self._json(request[RECORD], {"object": "list", "data": data})

    async def _model_info(self, request: web.Request) -> web.Response:
        if self.model_info is None:
            return await self._unknown_path(request)
        return self._json(request[RECORD], self.model_info)

    async def _retrieve_model(self, request: web.Request) -> web.Response:
        model_id = request.match_info["model_id"]
        if model_id in self.models:
            return self._json(request[RECORD], _model(model_id))
        message = f"The model '{model_id}' does not exist"
        error = _error(message, "invalid_request_error", "model_not_found", "model")
        return self._json(request[RECORD], {"error": error}, status=404)

    async def _unknown_path(self, request: web.Request) -> web.Response:
        message = f"Invalid URL ({request.method} {request.path})"
        error = _error(message, "invalid_request_error", None)
        return self._json(request[RECORD], {"error": error}, status=404)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        record = request[RECORD]
        refused = refusal(record.body, self.quirks)
        if refused is not None:
            return self._json(record, refused[1], status=refused[0])
        try:
            scenario = record.scenario = self._scenario_for(record)
        except ValueError as exc:
            error = _error(str(exc), "invalid_request_error", "fake_directive")
            return self._json(record, {"error": error}, status=400)
        try:
            return await self._answer(request, record, scenario)
        except asyncio.CancelledError:  # the client left (handler_cancellation) or we stop
            record.end("stopped" if self._stopping else "disconnected")
            raise

    def _scenario_for(self, record: RecordedRequest) -> Scenario:
        directive = parse_directive(_last_user_text(record.body), self.default)
        if directive is not None:
            scenario, times = directive
            if times is not None and self._count(record.raw_body) > times:
                scenario = dataclasses.replace(scenario, **{f: getattr(PLAIN, f) for f in FAULTS})
            return scenario
        with self._changed:
            return self._queue.popleft() if self._queue else self.default

    def _count(self, raw_body: bytes) -> int:
        key = hashlib.sha256(raw_body).hexdigest()
        with self._changed:
            self._seen_bodies[key] = self._seen_bodies.get(key, 0) + 1
            return self._seen_bodies[key]

    async def _answer(
        self, request: web.Request, record: RecordedRequest, scenario: Scenario
    ) -> web.StreamResponse:
        if scenario.hang_before_first_byte:
            await asyncio.sleep(HANG_SECONDS)
        if scenario.raw_body is not None:
            return self._raw(record, scenario)
        failure = scenario.http_error()
        if failure is not None:
            status, error = failure
            return self._json(record, {"error": error}, status=status, headers=scenario.headers)
        writer = StreamWriter(record, scenario)
        if not (isinstance(record.body, dict) and record.body.get("stream")) or scenario.non_sse:
            await asyncio.sleep(scenario.first_byte_delay)
            return self._json(record, writer.completion(), headers=scenario.headers)
        return await Streamer(request, record, writer).run()

    def _raw(self, record: RecordedRequest, scenario: Scenario) -> web.Response:
        record.status = scenario.status
        record.end("completed")
        body = scenario.raw_body
        return web.Response(
            body=body.encode() if isinstance(body, str) else body,
            status=scenario.status,
            headers={"Content-Type": scenario.content_type, **scenario.headers},
        )


PLAIN = Scenario()


def _model(model_id: str) -> dict:
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": "fake-upstream"}


class Streamer:
    """Writes one SSE reply, acting out the scenario's faults on the way."""

    def __init__(self, request: web.Request, record: RecordedRequest, writer: StreamWriter):
        self.request, self.record, self.w = request, record, writer
        self.s = writer.scenario
        self.response = web.StreamResponse(headers=self._headers())
        plain = not (self.s.comments or self.s.split_writes)
        self.send = self.response.write if plain else self._send_dressed

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        return {**headers, "X-Request-Id": self.w.head["id"], **self.s.headers}

    async def run(self) -> web.StreamResponse:
        await self.response.prepare(self.request)
        self.record.status = 200
        try:
            await self._write_all()
        except ConnectionError:  # the client left while we were writing
            self.record.end("disconnected")
        return self.response  # aiohttp finishes a broken response quietly

    async def _write_all(self) -> None:
        if self.s.comments:
            await self.response.write(b": keep-alive" + self.w.end)
        await asyncio.sleep(self.s.first_byte_delay)
        if self.s.empty is not None:
            return await self._empty()
        for index in range(self.w.n):
            await self.send(self.w.role(index))
        if await self._body():
            await self._tail()

    async def _empty(self) -> None:
        """What llama.cpp sends for a prompt over its context window: nothing."""
        if self.s.empty == "done":
            await self.send(self.w.done())
            return await self._finish("completed")
        self.request.transport.close()
        self.record.end("cut")

    async def _body(self) -> bool:
        """Reasoning, then content chunks; False when a fault ended the reply early."""
        w, s = self.w, self.s
        items = [(w.thought, i, t) for i, t in w.thoughts()]
        items += [(w.stamped if s.stamp else w.content, i, t) for i, t in w.contents()]
        for sent, (encode, index, text) in enumerate(items):
            if await self._fault(sent):
                return False
            if s.delay and sent:
                await asyncio.sleep(s.delay)
            await self.send(encode(index, text))
        return not await self._fault(len(items))

    async def _tail(self) -> None:
        if self.s.finish_reason:
            for index in range(self.w.n):
                await self.send(self.w.finish(index))
        if self.w.usage:
            await self.send(self.w.usage_event())
        if self.s.send_done:
            await self.send(self.w.done())
        await self._finish("completed")

    async def _fault(self, sent: int) -> bool:
        s = self.s
        if s.stall_after == sent:
            await asyncio.sleep(HANG_SECONDS)
        if s.cut_after == sent:
            # close(), not abort(): what was written still reaches the client.
            self.request.transport.close()
            self.record.end("cut")
            return True
        if sent in (s.malformed_after, s.error_after):
            await self.send(self._bad_event(sent))
            await self._finish("completed")
            return True
        return False

    def _bad_event(self, sent: int) -> bytes:
        if self.s.malformed_after == sent:
            return b'data: {"id":"chatcmpl-fake","choices":[{"delta":{"content":"oops' + self.w.end
        return b"data: " + _dumps({"error": ERRORS["server_error"][1]}) + self.w.end

    async def _finish(self, outcome: str) -> None:
        await self.response.write_eof()
        self.record.end(outcome)

    async def _send_dressed(self, data: bytes) -> None:
        if self.s.comments:
            data = b": keep-alive" + self.s.line_ending.encode() + data
        if not self.s.split_writes:
            return await self.response.write(data)
        for start in range(0, len(data), SPLIT_BYTES):
            await self.response.write(data[start : start + SPLIT_BYTES])
            await asyncio.sleep(0)  # let each piece leave as its own segment


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--tokens", type=int, help="reply with N generated tokens")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="pause between chunks")
    parser.add_argument("--first-byte-delay-ms", type=float, default=0.0)
    parser.add_argument("--stamp", action="store_true", help="content = send time ⟦secs⟧")
    parser.add_argument("--api-key", help="require this Bearer token")
    parser.add_argument("--models", help="comma-separated model ids")
    parser.add_argument("--finetune-step", type=float, default=5.0, help="seconds per job stage")
    args = parser.parse_args(argv)
    default = Scenario(
        delay=args.delay_ms / 1000,
        first_byte_delay=args.first_byte_delay_ms / 1000,
        stamp=args.stamp,
    )
    if args.tokens is not None:
        default.tokens = generated_tokens(args.tokens)
    models = args.models.split(",") if args.models else MODELS
    fake = FakeUpstream(
        host=args.host, port=args.port, api_key=args.api_key, models=models, default=default
    )
    fake.fine_tuning.step = args.finetune_step
    fake.serve_forever()


if __name__ == "__main__":
    main()
