"""The fake upstream's text completions endpoint, ``POST /v1/completions`` (see ``FakeUpstream``).

In OpenAI's shapes: a ``text_completion`` object, or with ``stream`` a
``text/event-stream`` of ``text_completion`` chunks (each choice's ``text``,
``logprobs`` in the legacy parallel lists, ``finish_reason`` on its last
chunk), a usage chunk when ``stream_options.include_usage`` asks, then
``data: [DONE]``. It honours ``max_tokens`` (default 16; more tokens to say
than that ends with ``finish_reason: "length"``), ``n``, ``best_of`` (``n``
of ``best_of`` candidates, never streamed), ``logprobs`` (0–5 alternatives),
``echo`` (the prompt first, its first token without a logprob), ``stop`` and
``suffix`` (recorded; the text leads into it with " …"). Bad values get the
API's 400 ``invalid_request_error`` body naming the parameter.

A directive in the prompt, ``[[fake:tokens=N,delay=MS]]``, says how many
tokens the model has to say (default 6) and the pause before each (an
unstreamed answer waits for all of them before it is sent); ``status=NNN``
answers with the API's error body for that status instead.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from aiohttp import web

WORDS = (" Once", " upon", " a", " time", " there", " was", " a", " fox", " and", " a", " hen")
DEFAULT_TOKENS = 6
DIRECTIVE = re.compile(r"\[\[fake:([^\]]*)\]\]")
CREATED = 1_700_000_000


def error_body(message: str, param: str | None, code: str | None = None) -> dict:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }


def canned_error(status: int) -> dict:
    """The error body OpenAI sends with ``status`` (a ``[[fake:status=NNN]]`` prompt)."""
    if status == 429:
        return {"error": {"message": "Rate limit reached for requests.", "type": "requests",
                          "param": None, "code": "rate_limit_exceeded"}}  # fmt: skip
    if status >= 500:
        return {"error": {"message": "The server had an error while processing your request.",
                          "type": "server_error", "param": None, "code": None}}  # fmt: skip
    return error_body("This model's request was refused by the fake.", None)


def refusal(body: Any) -> dict | None:
    """The API's 400 body for a request it refuses, or None."""
    if not isinstance(body, dict):
        return error_body("We could not parse the JSON body of your request.", None)
    if not isinstance(body.get("prompt", ""), str):
        return error_body("This fake takes a prompt that is a string.", "prompt")
    checks = (
        ("max_tokens", 1, None),
        ("n", 1, 128),
        ("best_of", 1, 20),
        ("logprobs", 0, 5),
    )
    for name, low, high in checks:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            return error_body(f"'{value}' is not of type 'integer' - '{name}'", name)
        if value < low:
            return error_body(f"{value} is less than the minimum of {low} - '{name}'", name)
        if high is not None and value > high:
            return error_body(f"{value} is greater than the maximum of {high} - '{name}'", name)
    for name, low, high in (("temperature", 0, 2), ("top_p", 0, 1)):
        value = body.get(name)
        if value is not None and not low <= value <= high:
            return error_body(f"{value} is greater than the maximum of {high} - '{name}'", name)
    n, best_of = body.get("n") or 1, body.get("best_of") or 1
    if best_of < n:
        return error_body("best_of must be greater than or equal to n.", "best_of")
    if best_of > 1 and body.get("stream"):
        return error_body("Cannot stream results with best_of > 1.", "best_of")
    stop = body.get("stop")
    if isinstance(stop, list) and len(stop) > 4:
        return error_body(f"{stop} is too long - 'stop'", "stop")
    return None


def _directive(prompt: str) -> dict[str, int]:
    found = DIRECTIVE.search(prompt)
    items = {}
    for item in found.group(1).split(",") if found else []:
        key, _sep, value = item.partition("=")
        if value.isdigit():
            items[key.strip()] = int(value)
    return items


class Candidate:
    """One choice's tokens, each with its log probability and alternatives."""

    def __init__(self, body: dict, index: int, say: int) -> None:
        limit = body.get("max_tokens") or 16
        words = [WORDS[(i + index) % len(WORDS)] for i in range(say)]
        if body.get("suffix"):
            words.append(" …")
        self.tokens = words[:limit]
        self.finish_reason = "length" if len(words) > limit else "stop"
        self._cut_at_stop(body.get("stop"))
        self.logprobs = [-0.05 * (i + 1) - 0.3 * index for i in range(len(self.tokens))]

    def _cut_at_stop(self, stop: Any) -> None:
        sequences = [stop] if isinstance(stop, str) else list(stop or [])
        text = "".join(self.tokens)
        cuts = [text.find(s) for s in sequences if s and s in text]
        if not cuts:
            return
        cut, kept, length = min(cuts), [], 0
        for token in self.tokens:
            if length + len(token) > cut:
                break
            kept.append(token)
            length += len(token)
        self.tokens, self.finish_reason = kept, "stop"

    @property
    def score(self) -> float:
        return sum(self.logprobs) / max(1, len(self.logprobs))


def _alternatives(token: str, logprob: float, count: int) -> dict[str, float]:
    top = {token: logprob}
    for k in range(count - 1):
        top[f" alt{k + 1}"] = round(logprob - 1.0 - k, 4)
    return top if count else {}


def _logprobs(body: dict, tokens: list[str], values: list, offset: int) -> dict | None:
    count = body.get("logprobs")
    if count is None:
        return None
    offsets, position = [], offset
    for token in tokens:
        offsets.append(position)
        position += len(token)
    return {
        "tokens": tokens,
        "token_logprobs": values,
        "top_logprobs": [
            None if lp is None else _alternatives(t, lp, count)
            for t, lp in zip(tokens, values, strict=True)
        ],
        "text_offset": offsets,
    }


def _prompt_tokens(body: dict) -> list[str]:
    return re.findall(r"\s*\S+", body.get("prompt") or "")


def _chunk(body: dict, choices: list[dict], usage: dict | None = None) -> bytes:
    payload = {
        "id": "cmpl-fake",
        "object": "text_completion",
        "created": CREATED,
        "model": body.get("model"),
        "choices": choices,
    }
    if usage is not None:
        payload["usage"] = usage
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


class FakeCompletions:
    def __init__(self) -> None:
        self.record_key: Any = None

    def routes(self, app: web.Application, record_key: Any) -> None:
        self.record_key = record_key
        app.router.add_post("/v1/completions", self._complete)

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        record = request[self.record_key]
        body = record.body
        refused = refusal(body)
        if refused is not None:
            return self._json(record, refused, 400)
        directive = _directive(body.get("prompt") or "")
        if "status" in directive:  # the API's error body for that status
            return self._json(record, canned_error(directive["status"]), directive["status"])
        say = directive.get("tokens", DEFAULT_TOKENS)
        n, best_of = body.get("n") or 1, body.get("best_of") or 1
        candidates = [Candidate(body, i, say) for i in range(max(n, best_of))]
        chosen = sorted(candidates, key=lambda c: -c.score)[:n] if best_of > n else candidates
        if body.get("stream"):
            return await self._stream(request, record, body, chosen)
        delay = _directive(body.get("prompt") or "").get("delay", 0) / 1000
        await asyncio.sleep(delay * say)  # the whole result takes as long as its tokens
        return self._json(record, self._whole(body, chosen, candidates))

    def _json(self, record, payload: dict, status: int = 200) -> web.Response:
        record.status = status
        record.end("completed")
        return web.json_response(payload, status=status)

    def _usage(self, body: dict, candidates: list[Candidate]) -> dict:
        prompt = len(_prompt_tokens(body))
        completion = sum(len(c.tokens) for c in candidates)
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion}  # fmt: skip

    def _echoed(self, body: dict) -> tuple[list[str], list]:
        if not body.get("echo"):
            return [], []
        words = _prompt_tokens(body)
        return words, [None, *[-1.5] * (len(words) - 1)][: len(words)]

    def _whole(self, body: dict, chosen: list[Candidate], candidates: list[Candidate]) -> dict:
        echo_tokens, echo_values = self._echoed(body)
        start = 0 if echo_tokens else len(body.get("prompt") or "")
        choices = []
        for index, candidate in enumerate(chosen):
            tokens = [*echo_tokens, *candidate.tokens]
            values = [*echo_values, *candidate.logprobs]
            choices.append({
                "text": "".join(tokens),
                "index": index,
                "logprobs": _logprobs(body, tokens, values, start),
                "finish_reason": candidate.finish_reason,
            })  # fmt: skip
        return {"id": "cmpl-fake", "object": "text_completion", "created": CREATED,
                "model": body.get("model"), "choices": choices,
                "usage": self._usage(body, candidates)}  # fmt: skip

    async def _stream(self, request, record, body: dict, chosen: list[Candidate]):
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        delay = _directive(body.get("prompt") or "").get("delay", 0) / 1000
        echo_tokens, echo_values = self._echoed(body)
        offset = 0 if echo_tokens else len(body.get("prompt") or "")
        try:
            if echo_tokens:
                for index in range(len(chosen)):
                    text = "".join(echo_tokens)
                    lp = _logprobs(body, echo_tokens, echo_values, 0)
                    choice = {"text": text, "index": index, "logprobs": lp, "finish_reason": None}
                    await response.write(_chunk(body, [choice]))
                offset = len("".join(echo_tokens))
            longest = max((len(c.tokens) for c in chosen), default=0)
            for position in range(max(longest, 1)):
                if delay:
                    await asyncio.sleep(delay)
                for index, candidate in enumerate(chosen):
                    await self._stream_token(response, body, candidate, index, position, offset)
            options = body.get("stream_options") or {}
            if options.get("include_usage"):
                await response.write(_chunk(body, [], self._usage(body, chosen)))
            await response.write(b"data: [DONE]\n\n")
            record.status = 200
            record.end("completed")
        except asyncio.CancelledError:
            record.disconnected_at = time.monotonic()
            record.end("disconnected")
            raise
        return response

    async def _stream_token(self, response, body, candidate, index, position, offset) -> None:
        if position >= len(candidate.tokens) and position > 0:
            return
        last = position >= len(candidate.tokens) - 1
        if candidate.tokens:
            token = candidate.tokens[position]
            start = offset + len("".join(candidate.tokens[:position]))
            lp = _logprobs(body, [token], [candidate.logprobs[position]], start)
        else:
            token, lp = "", None
        finish = candidate.finish_reason if last else None
        choice = {"text": token, "index": index, "logprobs": lp, "finish_reason": finish}
        await response.write(_chunk(body, [choice]))
