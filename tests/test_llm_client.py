"""The upstream client against a real local OpenAI-compatible server (tests/fakeupstream.py)."""

import asyncio
import re
import socket
import time
from contextlib import aclosing

import httpx
import pytest

from conversations.llm import (
    AuthenticationFailed,
    BadRequest,
    ChatResult,
    ContextLengthExceeded,
    Delta,
    Finish,
    ModelNotFound,
    PermissionDenied,
    ProtocolError,
    ProviderSettings,
    QuotaExceeded,
    RateLimited,
    ServerError,
    StreamErrorEvent,
    StreamInterrupted,
    UpstreamConnectError,
    UpstreamTimeout,
    Usage,
    close_all,
    get_client,
    redact,
)
from conversations.llm.retry import retry_after_from_headers
from conversations.llm.transport import opening_error
from tests.fakeupstream import (
    FRIENDLY_REPLY,
    FakeUpstream,
    RecordedRequest,
    Scenario,
    StreamWriter,
)

KEY = "sk-test-key-0123456789"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi there"}]}
REPLY = "".join(FRIENDLY_REPLY)


@pytest.fixture(scope="module")
def fake():
    with FakeUpstream(api_key=KEY) as server:
        yield server


@pytest.fixture(scope="module")
def keyless_fake():
    with FakeUpstream() as server:
        yield server


@pytest.fixture(autouse=True)
async def fresh_state(fake):
    fake.reset()
    yield
    await close_all()


@pytest.fixture(params=["aiohttp", "httpcore"])
def transport(request):
    return request.param


def settings(fake: FakeUpstream, **overrides) -> ProviderSettings:
    values = {
        "base_url": fake.base_url,
        "api_key": KEY,
        "connect_timeout": 1.0,
        "first_byte_timeout": 0.4,
        "idle_timeout": 0.3,
        "total_timeout": 5.0,
        "backoff_base": 0.01,
        "retry_cap": 2.0,
        "allow_local_network": True,  # the fake listens on 127.0.0.1
    }
    return ProviderSettings(**{**values, **overrides})


def client_for(fake: FakeUpstream, **overrides):
    return get_client(settings(fake, **overrides))


async def collect(stream, into: list | None = None) -> list:
    events = [] if into is None else into
    async with aclosing(stream) as items:
        async for event in items:
            events.append(event)
    return events


def text_of(events: list, index: int = 0) -> str:
    return "".join(e.text for e in events if isinstance(e, Delta) and e.index == index)


async def stream_until_error(client, error_class):
    """The events yielded before the stream failed, and the error."""
    events: list = []
    with pytest.raises(error_class) as failure:
        await collect(client.stream_chat(BODY), into=events)
    return events, failure.value


# -- normal streams ---------------------------------------------------------


async def test_it_streams_text_finish_and_usage_until_done(fake, transport):
    events = await collect(client_for(fake, transport=transport).stream_chat(BODY))

    assert text_of(events) == REPLY
    assert [e for e in events if not isinstance(e, Delta)] == [
        Finish(0, "stop"),
        Usage(prompt_tokens=9, completion_tokens=len(FRIENDLY_REPLY), total_tokens=24),
    ]


async def test_it_asks_for_a_stream_with_usage_without_changing_the_callers_body(fake):
    body = {**BODY, "stream_options": {"continuous_usage_stats": False}, "temperature": 0.2}
    await collect(client_for(fake).stream_chat(body))

    [request] = fake.requests
    assert request.body == {
        **body,
        "stream": True,
        "stream_options": {"continuous_usage_stats": False, "include_usage": True},
    }
    assert "stream" not in body
    assert request.headers["accept"] == "text/event-stream"


async def test_it_yields_no_delta_for_role_only_or_empty_chunks(fake):
    fake.enqueue(Scenario(tokens=["", "Hi", "", "!"]))
    events = await collect(client_for(fake).stream_chat(BODY))

    assert [e for e in events if isinstance(e, Delta)] == [Delta(0, "Hi"), Delta(0, "!")]


async def test_it_separates_interleaved_choices_when_n_is_2(fake):
    events = await collect(client_for(fake).stream_chat({**BODY, "n": 2}))

    assert text_of(events, 0) == "[0] " + REPLY
    assert text_of(events, 1) == "[1] " + REPLY
    assert [e.index for e in events if isinstance(e, Delta)][:4] == [0, 1, 0, 1]
    assert {e for e in events if isinstance(e, Finish)} == {Finish(0, "stop"), Finish(1, "stop")}


@pytest.mark.parametrize("reason", ["length", "content_filter"])
async def test_it_surfaces_the_finish_reason(fake, reason):
    fake.enqueue(Scenario(finish_reason=reason))
    events = await collect(client_for(fake).stream_chat(BODY))

    assert Finish(0, reason) in events
    assert text_of(events) == REPLY


@pytest.mark.parametrize("ending", ["\r\n", "\r"])
async def test_it_reads_other_line_endings_comments_and_tiny_writes(fake, ending):
    fake.enqueue(Scenario(line_ending=ending, comments=True, split_writes=True))
    events = await collect(client_for(fake).stream_chat(BODY))

    assert text_of(events) == REPLY
    assert Finish(0, "stop") in events


async def test_it_reuses_the_connection_after_a_complete_stream(fake, transport):
    client = client_for(fake, transport=transport)
    for _ in range(3):
        await collect(client.stream_chat(BODY))

    assert len({request.peer for request in fake.requests}) == 1


async def test_it_follows_a_directive_in_the_last_user_message(fake):
    body = {"model": "m", "messages": [{"role": "user", "content": "x [[fake:tokens=5,length]]"}]}
    events = await collect(client_for(fake).stream_chat(body))

    assert len([e for e in events if isinstance(e, Delta)]) == 5
    assert Finish(0, "length") in events


async def test_it_receives_stamped_chunks_carrying_the_send_time(fake):
    fake.enqueue(Scenario(tokens=["x"] * 3, stamp=True))
    events = await collect(client_for(fake).stream_chat(BODY))

    stamps = [
        float(re.fullmatch(r"⟦(\d+\.\d{6})⟧", e.text)[1]) for e in events if isinstance(e, Delta)
    ]
    assert len(stamps) == 3
    assert all(0 <= time.time() - stamp < 5 for stamp in stamps)


# -- retries ----------------------------------------------------------------


async def test_it_retries_a_429_honouring_retry_after(fake):
    fake.enqueue(Scenario(error="rate_limited", headers={"Retry-After": "0.3"}))
    started = time.monotonic()
    events = await collect(client_for(fake).stream_chat(BODY))

    assert text_of(events) == REPLY
    first, second = fake.requests
    assert second.received_at - first.received_at >= 0.3
    assert time.monotonic() - started < 1.5


async def test_it_honours_retry_after_ms(fake):
    fake.enqueue(Scenario(error="rate_limited", headers={"retry-after-ms": "200"}))
    await collect(client_for(fake).stream_chat(BODY))

    first, second = fake.requests
    assert second.received_at - first.received_at >= 0.2


async def test_it_gives_up_on_429_after_two_retries(fake):
    fake.enqueue(*[Scenario(error="rate_limited", headers={"retry-after": "0"})] * 3)
    _, error = await stream_until_error(client_for(fake), RateLimited)

    assert len(fake.requests) == 3
    assert (error.code, error.status, error.retryable) == ("rate_limited", 429, True)


async def test_it_does_not_retry_when_asked_to_wait_beyond_the_cap(fake):
    fake.enqueue(Scenario(error="rate_limited", headers={"retry-after": "60"}))
    started = time.monotonic()
    _, error = await stream_until_error(client_for(fake), RateLimited)

    assert len(fake.requests) == 1
    assert error.retry_after == 60
    assert time.monotonic() - started < 0.5


async def test_it_does_not_wait_past_the_total_timeout(fake):
    fake.enqueue(Scenario(error="rate_limited", headers={"retry-after": "1.5"}))
    started = time.monotonic()
    await stream_until_error(client_for(fake, total_timeout=1.0), RateLimited)

    assert len(fake.requests) == 1
    assert time.monotonic() - started < 0.5


async def test_it_retries_500_and_503_before_the_first_byte(fake):
    fake.enqueue(Scenario(error="server_error"), Scenario(error="overloaded"))
    events = await collect(client_for(fake).stream_chat(BODY))

    assert text_of(events) == REPLY
    assert [r.status for r in fake.requests] == [500, 503, 200]


async def test_it_raises_the_last_server_error_when_retries_run_out(fake):
    fake.enqueue(*[Scenario(error="overloaded")] * 3)
    _, error = await stream_until_error(client_for(fake), ServerError)

    assert (error.code, error.status) == ("upstream_error", 503)
    assert "overloaded" in error.detail
    assert len(fake.requests) == 3


async def test_it_never_retries_insufficient_quota(fake):
    fake.enqueue(Scenario(error="insufficient_quota"))
    _, error = await stream_until_error(client_for(fake), QuotaExceeded)

    assert len(fake.requests) == 1
    assert (error.code, error.status, error.retryable) == ("insufficient_quota", 429, False)


@pytest.mark.parametrize(
    ("name", "error_class", "code", "status"),
    [
        ("context_length_exceeded", ContextLengthExceeded, "context_length_exceeded", 400),
        ("bad_request", BadRequest, "bad_request", 400),
        ("invalid_api_key", AuthenticationFailed, "upstream_auth", 401),
        ("permission_denied", PermissionDenied, "upstream_forbidden", 403),
        ("model_not_found", ModelNotFound, "model_not_found", 404),
    ],
)
async def test_it_never_retries_client_errors(fake, name, error_class, code, status):
    fake.enqueue(Scenario(error=name))
    _, error = await stream_until_error(client_for(fake), error_class)

    assert len(fake.requests) == 1
    assert (error.code, error.status, error.retryable) == (code, status, False)


async def test_it_reads_the_provider_message_from_the_error_body(fake):
    fake.enqueue(Scenario(error="context_length_exceeded"))
    _, error = await stream_until_error(client_for(fake), ContextLengthExceeded)

    assert error.detail.startswith("This model's maximum context length is 8192 tokens.")
    assert error.upstream_code == "context_length_exceeded"


async def test_it_summarises_an_html_error_page(fake):
    page = "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
    fake.enqueue(*[Scenario(status=502, raw_body=page, content_type="text/html")] * 3)
    _, error = await stream_until_error(client_for(fake), ServerError)

    assert error.detail == "502 Bad Gateway nginx"


async def test_it_retries_a_directive_failure_and_then_succeeds(fake):
    text = "hello [[fake:error=rate_limited,retry_after=0,times=1]]"
    body = {"model": "m", "messages": [{"role": "user", "content": text}]}
    events = await collect(client_for(fake).stream_chat(body))

    assert text_of(events) == REPLY
    assert [r.status for r in fake.requests] == [429, 200]


async def test_it_reports_an_unreachable_provider():
    client = get_client(
        ProviderSettings("http://127.0.0.1:9/v1", backoff_base=0.01, allow_local_network=True)
    )
    with pytest.raises(UpstreamConnectError) as failure:
        await collect(client.stream_chat(BODY))

    assert failure.value.code == "upstream_unreachable"


@pytest.fixture
def unanswered_port():
    """A port whose accept queue is full: the kernel drops new SYNs, so connecting hangs."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        fillers = [socket.socket() for _ in range(4)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        yield port
        for filler in fillers:
            filler.close()


async def test_it_times_out_connecting_and_retries_the_connection(unanswered_port, transport):
    base_url = f"http://127.0.0.1:{unanswered_port}/v1"
    client = get_client(
        ProviderSettings(
            base_url,
            connect_timeout=0.2,
            max_retries=1,
            transport=transport,
            allow_local_network=True,
        )
    )
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout) as failure:
        await collect(client.stream_chat(BODY))

    assert failure.value.kind == "connect"
    assert 0.4 <= time.monotonic() - started < 1.5  # two attempts + a back-off


def test_it_tells_a_connect_timeout_from_a_refused_connection():
    import aiohttp

    def mapped(cause: Exception) -> Exception:
        # httpx_aiohttp raises httpx.ConnectTimeout for both, from the aiohttp error.
        error = httpx.ConnectTimeout(str(cause))
        error.__cause__ = cause
        return error

    timeout = aiohttp.ConnectionTimeoutError("timed out")
    refused = aiohttp.ClientConnectionError("refused")
    assert isinstance(opening_error(mapped(timeout)), UpstreamTimeout)
    assert opening_error(mapped(timeout)).kind == "connect"
    assert isinstance(opening_error(mapped(refused)), UpstreamConnectError)
    assert opening_error(httpx.ConnectTimeout("slow")).retryable


def test_it_reads_retry_after_as_seconds_or_http_date():
    assert retry_after_from_headers({"retry-after": "2"}) == 2
    assert retry_after_from_headers({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 28 <= retry_after_from_headers({"retry-after": later}) <= 30
    assert retry_after_from_headers({"retry-after": "soon"}) is None


# -- broken streams ---------------------------------------------------------


async def test_it_times_out_waiting_for_the_first_byte_without_retrying(fake):
    fake.enqueue(Scenario(hang_before_first_byte=True))
    started = time.monotonic()
    _, error = await stream_until_error(client_for(fake), UpstreamTimeout)

    assert error.kind == "first_byte"
    assert 0.35 < time.monotonic() - started < 1.0
    assert len(fake.requests) == 1


async def test_it_times_out_after_yielding_the_text_received_before_a_stall(fake):
    fake.enqueue(Scenario(stall_after=3))
    events, error = await stream_until_error(client_for(fake), UpstreamTimeout)

    assert error.kind == "idle"
    assert text_of(events) == "".join(FRIENDLY_REPLY[:3])
    [request] = fake.requests
    assert await request.wait_ended_async(1.0)
    assert request.outcome == "disconnected"


async def test_it_does_not_count_keep_alive_comments_as_progress(fake):
    fake.enqueue(Scenario(stall_after=2, comments=True))
    events, error = await stream_until_error(client_for(fake), UpstreamTimeout)

    assert error.kind == "idle"
    assert text_of(events) == "Hello!"


async def test_it_enforces_the_total_timeout_on_a_slow_but_steady_stream(fake, transport):
    fake.enqueue(Scenario(delay=0.1))
    started = time.monotonic()
    client = client_for(fake, transport=transport, total_timeout=0.5)
    events, error = await stream_until_error(client, UpstreamTimeout)

    assert error.kind == "total"
    assert 0.45 < time.monotonic() - started < 0.8
    assert 3 <= len(events) < len(FRIENDLY_REPLY)


async def test_it_reports_a_cut_connection_after_the_partial_text(fake, transport):
    fake.enqueue(Scenario(cut_after=4))
    events, error = await stream_until_error(
        client_for(fake, transport=transport), StreamInterrupted
    )

    assert text_of(events) == "".join(FRIENDLY_REPLY[:4])
    assert error.code == "interrupted"
    assert len(fake.requests) == 1


async def test_it_treats_done_without_a_finish_reason_as_interrupted(fake):
    fake.enqueue(Scenario(finish_reason=None))
    events, _ = await stream_until_error(client_for(fake), StreamInterrupted)

    assert text_of(events) == REPLY


async def test_it_treats_a_stream_that_ends_without_done_as_interrupted(fake):
    fake.enqueue(Scenario(send_done=False))
    events, _ = await stream_until_error(client_for(fake), StreamInterrupted)

    assert Finish(0, "stop") in events


async def test_it_rejects_a_malformed_chunk(fake):
    fake.enqueue(Scenario(malformed_after=2))
    events, error = await stream_until_error(client_for(fake), ProtocolError)

    assert text_of(events) == "Hello!"
    assert error.code == "upstream_protocol"


async def test_it_surfaces_an_error_object_sent_mid_stream(fake):
    fake.enqueue(Scenario(error_after=2))
    events, error = await stream_until_error(client_for(fake), StreamErrorEvent)

    assert text_of(events) == "Hello!"
    assert error.detail == "The server had an error while processing your request."
    assert error.upstream_type == "server_error"


async def test_it_rejects_a_json_answer_to_a_stream_request(fake):
    fake.enqueue(Scenario(non_sse=True))
    _, error = await stream_until_error(client_for(fake), ProtocolError)

    assert "application/json" in error.detail
    assert len(fake.requests) == 1


async def test_it_rejects_an_html_page_with_status_200(fake):
    fake.enqueue(Scenario(raw_body="<html>Sign in</html>", content_type="text/html"))
    _, error = await stream_until_error(client_for(fake), ProtocolError)

    assert "text/html" in error.detail


# -- cancellation -----------------------------------------------------------


async def cancel_soon(task: asyncio.Task, request) -> float:
    """Cancel once the request has reached the server; returns when."""
    await asyncio.sleep(0.05)
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await request.wait_ended_async(1.0), "the server never saw the client leave"
    return cancelled_at


async def test_it_closes_the_upstream_request_when_cancelled_while_waiting_for_headers(
    fake, transport
):
    fake.enqueue(Scenario(hang_before_first_byte=True))
    client = client_for(fake, transport=transport, first_byte_timeout=5.0)
    task = asyncio.create_task(collect(client.stream_chat(BODY)))
    [request] = await fake.wait_for_requests_async(1)
    cancelled_at = await cancel_soon(task, request)

    assert request.outcome == "disconnected"
    assert request.disconnected_at - cancelled_at < 1.0


async def test_it_closes_the_upstream_request_when_cancelled_mid_stream(fake, transport):
    fake.enqueue(Scenario(delay=0.05, tokens=["x"] * 100))
    events: list = []
    client = client_for(fake, transport=transport)
    task = asyncio.create_task(collect(client.stream_chat(BODY), into=events))
    [request] = await fake.wait_for_requests_async(1)
    cancelled_at = await cancel_soon(task, request)

    assert request.outcome == "disconnected"
    assert request.disconnected_at - cancelled_at < 1.0
    assert 0 < len(events) < 100


async def test_it_closes_the_upstream_request_when_the_caller_stops_reading(fake):
    fake.enqueue(Scenario(delay=0.05, tokens=["x"] * 100))
    async with aclosing(client_for(fake).stream_chat(BODY)) as events:
        async for _ in events:
            break
    [request] = fake.requests

    assert await request.wait_ended_async(1.0)
    assert request.outcome == "disconnected"


# -- keys and headers -------------------------------------------------------


async def test_it_sends_the_api_key_as_a_bearer_token_and_the_organization(fake):
    await collect(client_for(fake, organization="org-42").stream_chat(BODY))

    [request] = fake.requests
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["openai-organization"] == "org-42"
    assert KEY not in request.raw_body.decode()


async def test_it_sends_no_authorization_header_without_a_key(keyless_fake):
    keyless_fake.reset()
    await collect(client_for(keyless_fake, api_key="").stream_chat(BODY))

    [request] = keyless_fake.requests
    assert "authorization" not in request.headers
    assert "openai-organization" not in request.headers


@pytest.mark.parametrize("canary", ["sk-canary-5f1c0ffee0123456789", "canary-9d8c7b6a5f4e3d2c"])
async def test_it_redacts_the_api_key_from_error_messages(fake, canary):
    # The fake echoes the full key it was given in its 401 message.
    _, error = await stream_until_error(client_for(fake, api_key=canary), AuthenticationFailed)

    assert fake.requests[0].headers["authorization"] == f"Bearer {canary}"
    assert "Incorrect API key provided: [redacted]" in error.detail
    for surfaced in (str(error), repr(error), error.message, error.detail, error.describe()):
        assert canary not in surfaced


async def test_it_redacts_the_key_from_non_streaming_errors_too(fake):
    canary = "canary-non-streaming-1234"
    with pytest.raises(AuthenticationFailed) as failure:
        await client_for(fake, api_key=canary).list_models()

    assert canary not in str(failure.value)


def test_it_redacts_anything_that_looks_like_a_key_but_not_ordinary_words():
    text = "key sk-proj-abc123def456 or sk-abc***xyz sent as Bearer eyJhbGciOi.x; desk-lamp ok"

    assert redact(text) == ("key [redacted] or [redacted] sent as Bearer [redacted]; desk-lamp ok")


def test_it_keeps_the_api_key_out_of_the_settings_repr():
    assert KEY not in repr(ProviderSettings("http://example.com/v1", api_key=KEY))


def test_it_refuses_more_than_two_retries():
    with pytest.raises(ValueError):
        ProviderSettings("http://example.com/v1", max_retries=3)


# -- other endpoints and the pool ------------------------------------------


async def test_it_lists_and_retrieves_models(fake, transport):
    client = client_for(fake, transport=transport)
    models = await client.list_models()

    assert [m["id"] for m in models] == ["gpt-4o-mini", "gpt-4o", "fake-model"]
    assert (await client.retrieve_model("gpt-4o"))["object"] == "model"
    with pytest.raises(ModelNotFound):
        await client.retrieve_model("no-such-model")


async def test_it_completes_a_chat_without_streaming(fake):
    fake.enqueue(Scenario(error="overloaded"), Scenario(finish_reason="length"))
    result = await client_for(fake).complete_chat({**BODY, "stream_options": {"x": 1}})

    assert result == ChatResult(REPLY, "length", Usage(9, len(FRIENDLY_REPLY), 24))
    assert fake.requests[-1].body == {**BODY, "stream": False}


async def test_it_times_out_a_non_streaming_call(fake):
    fake.enqueue(Scenario(hang_before_first_byte=True))
    with pytest.raises(UpstreamTimeout):
        await client_for(fake).complete_chat(BODY)


async def test_it_shares_one_client_per_provider_and_loop(fake):
    first = client_for(fake)

    assert client_for(fake) is first
    assert client_for(fake, api_key="sk-other-key-000") is not first
    await close_all()
    assert first.closed
    assert client_for(fake) is not first


def test_it_never_hands_a_client_to_another_event_loop(fake):
    async def shared_client():
        return client_for(fake)

    first = asyncio.run(shared_client())
    second = asyncio.run(shared_client())

    assert second is not first


# -- the fake itself ----------------------------------------------------------


async def test_the_fake_echoes_the_user_words_on_request(fake):
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "[[fake:echo]] héllo  wide world"}],
    }
    result = await client_for(fake).complete_chat(body)

    assert result.text == "héllo  wide world"


async def test_the_fake_explains_a_directive_it_does_not_understand(fake):
    body = {"model": "m", "messages": [{"role": "user", "content": "[[fake:tokens=lots]]"}]}
    with pytest.raises(BadRequest) as failure:
        await client_for(fake).complete_chat(body)

    assert "fake directive" in failure.value.detail


def test_the_fake_encodes_content_chunks_exactly_like_json_dumps():
    body = {"model": "m", "n": 2, "stream_options": {"include_usage": True}}
    request = RecordedRequest("POST", "/v1/chat/completions", {}, body, b"", 0.0)
    writer = StreamWriter(request, Scenario(line_ending="\r\n"))
    choice = {"index": 1, "delta": {"content": 'é"👋'}, "logprobs": None, "finish_reason": None}

    assert writer.content(1, 'é"👋') == writer.event([choice])
    assert writer.content(1, 'é"👋').endswith(b',"usage":null}\r\n\r\n')
