"""``LLMClient``: chat streams, short completions and model listing for one provider.

Use it through ``get_client(settings)`` so requests share one pool per
provider and event loop. Iterate streams inside ``contextlib.aclosing`` so
an early ``break`` closes the upstream request at once::

    async with aclosing(client.stream_chat(body)) as events:
        async for event in events: ...

Cancelling the task that iterates (the user pressed Stop) closes the HTTP
connection immediately, also while still waiting for response headers, so
the provider sees the disconnect and stops generating. It also ends a wait
between two attempts at once.

``on_retry(delay, code, attempt)``, when given, is called (and awaited when
it returns an awaitable) before each wait between attempts, so the caller can
tell the person waiting why nothing arrives yet.

A refusal that a changed request avoids (``adapt``: ``max_tokens`` where the
model takes ``max_completion_tokens``, ``stream_options`` where the server
takes none) is retried once at once with the change, whatever ``max_retries``
says; ``on_learn(learnt)``, when given, is called (and awaited) with what it
taught, so the caller sends the right request the first time from then on.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any
from urllib.parse import quote

import httpx

from . import address
from .adapt import Learnt, adapted
from .completions import completion_chunk_events, completion_result_events
from .config import ProviderSettings
from .deadlines import Deadlines
from .errors import LLMError, ProtocolError, ProviderAddressRefused, error_from_response
from .events import ChatResult, StreamEvent
from .moderation import ModerationResult, moderation_body, moderation_results
from .retry import retry_delay
from .stream import read_batches
from .transport import TRANSPORT_ERRORS, build_http_client, opening_error, reading_error
from .wire import chat_result, model_list, model_object, parse_json, plain_body, stream_body

logger = logging.getLogger(__name__)

ERROR_BODY_LIMIT = 64 * 1024
JSON_BODY_LIMIT = 32 * 1024 * 1024
SSE_TYPE = "text/event-stream"

# (delay in seconds, error code, attempt number from 1) → None or an awaitable.
OnRetry = Callable[[float, str, int], Awaitable[None] | None]
OnLearn = Callable[[Learnt], Awaitable[None] | None]


class LLMClient:
    def __init__(self, settings: ProviderSettings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._http = http or build_http_client(settings)

    @property
    def closed(self) -> bool:
        return self._http.is_closed

    async def aclose(self) -> None:
        await self._http.aclose()

    async def stream_chat(
        self,
        body: dict[str, Any],
        on_retry: OnRetry | None = None,
        on_learn: OnLearn | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Stream a chat completion as Delta, Finish and Usage events.

        Ends normally only after ``[DONE]``; raises an ``LLMError`` otherwise.
        """
        async with aclosing(self.stream_chat_batches(body, on_retry, on_learn)) as batches:
            async for batch in batches:
                for event in batch:
                    yield event

    async def stream_chat_batches(
        self,
        body: dict[str, Any],
        on_retry: OnRetry | None = None,
        on_learn: OnLearn | None = None,
    ) -> AsyncIterator[list[StreamEvent]]:
        """The same events, a list per piece of the body that arrived (for relays)."""
        deadlines = Deadlines(self.settings)
        try:
            payload = stream_body(body)
            response = await self._open(
                "POST", "/chat/completions", payload, deadlines, on_retry, on_learn
            )
            try:
                async for batch in read_batches(response, deadlines):
                    yield batch
            finally:
                await response.aclose()
        except LLMError as error:
            raise error.redact(self.settings.api_key) from None

    async def stream_completion_batches(
        self,
        body: dict[str, Any],
        on_retry: OnRetry | None = None,
        on_learn: OnLearn | None = None,
    ) -> AsyncIterator[list[StreamEvent]]:
        """A text completion (``/completions``) as batches of Delta, Logprobs, Finish and
        Usage events: streamed when ``body["stream"]`` is true, else one batch of the
        whole result (``best_of`` cannot stream)."""
        deadlines = Deadlines(self.settings)
        try:
            if not body.get("stream"):
                payload = plain_body(body)
                result = await self._json("POST", "/completions", payload, on_learn)
                yield completion_result_events(result)
                return
            payload = stream_body(body)
            response = await self._open(
                "POST", "/completions", payload, deadlines, on_retry, on_learn
            )
            try:
                async for batch in read_batches(response, deadlines, completion_chunk_events):
                    yield batch
            finally:
                await response.aclose()
        except LLMError as error:
            raise error.redact(self.settings.api_key) from None

    async def complete_chat(
        self, body: dict[str, Any], on_learn: OnLearn | None = None
    ) -> ChatResult:
        """A non-streaming completion, for short calls such as titles."""
        payload = plain_body(body)
        return chat_result(await self._json("POST", "/chat/completions", payload, on_learn))

    async def list_models(self) -> list[dict[str, Any]]:
        return model_list(await self._json("GET", "/models"))

    async def model_info(self) -> Any:
        """LiteLLM's ``GET /model/info`` (each model's mode and limits); others answer 404."""
        return await self._json("GET", "/model/info")

    async def retrieve_model(self, model_id: str) -> dict[str, Any]:
        # Like the OpenAI SDK, keep "/" and ":" as-is (vLLM ids look like org/name).
        return model_object(await self._json("GET", f"/models/{quote(model_id, safe='/:@')}"))

    async def moderate(self, inputs: list[str], model: str) -> list[ModerationResult]:
        """The moderations endpoint's verdict on each input (an LLMError if it fails)."""
        payload = moderation_body(inputs, model)
        try:
            answer = await self._json("POST", "/moderations", payload)
            return moderation_results(answer, len(inputs))
        except LLMError as error:
            raise error.redact(self.settings.api_key) from None

    async def _json(
        self, method: str, path: str, payload: dict | None = None, on_learn: OnLearn | None = None
    ) -> Any:
        deadlines = Deadlines(self.settings)
        try:
            response = await self._open(method, path, payload, deadlines, on_learn=on_learn)
            deadlines.progress()  # headers arrived; the body may now only go quiet for idle
            try:
                content = await self._read(response, deadlines, JSON_BODY_LIMIT)
            finally:
                await response.aclose()
            return parse_json(content, "the response")
        except LLMError as error:
            raise error.redact(self.settings.api_key) from None

    async def _open(
        self,
        method: str,
        path: str,
        payload: dict | None,
        deadlines: Deadlines,
        on_retry: OnRetry | None = None,
        on_learn: OnLearn | None = None,
    ) -> httpx.Response:
        """Send until a 2xx arrives, retrying what may be retried."""
        self._check_address()
        attempt, learnt = 0, set()
        while True:
            try:
                return await self._attempt(method, path, payload, deadlines)
            except LLMError as error:
                change = adapted(payload, error) if payload is not None else None
                if change is not None and change[1] not in learnt:
                    payload, lesson = change
                    learnt.add(lesson)  # each lesson once: a server that still refuses is wrong
                    logger.info("Retrying %s %s at once after %s", method, path, lesson)
                    if on_learn is not None:
                        await _call(on_learn, lesson)
                    continue
                delay = retry_delay(error, attempt, self.settings, deadlines.remaining())
                if delay is None:
                    raise
                code = error.code
                logger.info("Retrying %s %s in %.2fs after %s", method, path, delay, code)
            attempt += 1
            if on_retry is not None:
                await _call(on_retry, delay, code, attempt)
            await asyncio.sleep(delay)  # Stop (cancelling the task) ends this wait at once

    def _check_address(self) -> None:
        """Refuse a base URL whose own text names a forbidden host, before any socket."""
        try:
            address.check_url(self.settings.base_url, self.settings.allow_local_network)
        except address.AddressRefused as refusal:
            raise ProviderAddressRefused(detail=str(refusal)) from None

    async def _attempt(
        self, method: str, path: str, payload: dict | None, deadlines: Deadlines
    ) -> httpx.Response:
        deadlines.start_attempt()
        request = self._request(method, path, payload)
        deadline = deadlines.deadline()
        try:
            async with asyncio.timeout_at(deadline):
                response = await self._http.send(request, stream=True)
        except TimeoutError:
            raise deadlines.expired(deadline) from None
        except TRANSPORT_ERRORS as exc:
            raise opening_error(exc) from None
        await self._check(response, deadlines)
        return response

    def _request(self, method: str, path: str, payload: dict | None) -> httpx.Request:
        streaming = bool(payload and payload.get("stream"))
        headers = {"Accept": SSE_TYPE, "Accept-Encoding": "identity"} if streaming else None
        url = self.settings.base_url + path
        return self._http.build_request(method, url, json=payload, headers=headers)

    async def _check(self, response: httpx.Response, deadlines: Deadlines) -> None:
        """Raise the error a response stands for (closing it), or return."""
        error = None
        if not response.is_success:
            content = await self._error_body(response, deadlines)
            error = error_from_response(response.status_code, response.headers, content)
        elif _wants_stream(response) and not _is_sse(response):
            kind = response.headers.get("content-type", "no content type")
            error = ProtocolError(
                "The model provider answered a stream request without an event stream.",
                detail=f"Content type: {kind}",
            )
        if error is not None:
            await response.aclose()
            raise error

    async def _error_body(self, response: httpx.Response, deadlines: Deadlines) -> bytes:
        try:
            return await self._read(response, deadlines, ERROR_BODY_LIMIT)
        except LLMError:
            return b""  # the status alone still says what went wrong

    async def _read(self, response: httpx.Response, deadlines: Deadlines, limit: int) -> bytes:
        """The body, up to ``limit`` bytes, bounded by the current deadline."""
        deadline = deadlines.deadline()
        parts: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout_at(deadline):
                async for part in response.aiter_bytes():
                    parts.append(part)
                    size += len(part)
                    if size >= limit:
                        break
        except TimeoutError:
            raise deadlines.expired(deadline) from None
        except TRANSPORT_ERRORS as exc:
            raise reading_error(exc) from None
        return b"".join(parts)[:limit]


async def _call(callback: Callable[..., Awaitable[None] | None], *args: Any) -> None:
    result = callback(*args)
    if inspect.isawaitable(result):
        await result


def _wants_stream(response: httpx.Response) -> bool:
    return SSE_TYPE in response.request.headers.get("accept", "")


def _is_sse(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith(SSE_TYPE)
