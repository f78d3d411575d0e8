"""Every upstream fault: the stored status, the text kept, and what the tab is told."""

import pytest
from channels.db import database_sync_to_async

from conversations.models import Message, Provider
from tests.fakeupstream import Scenario

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = ["One", " two", " three", " four", " five"]


@database_sync_to_async
def stored(message_id) -> Message:
    return Message.objects.get(pk=message_id)


@database_sync_to_async
def questions() -> list[str]:
    return list(Message.objects.filter(role="user").values_list("content", flat=True))


@database_sync_to_async
def set_timeouts(model, **timeouts) -> None:
    Provider.objects.filter(pk=model.provider_id).update(**timeouts)


async def run(socket, text="Tell me"):
    result = await socket.turn(text)
    return result, await stored(result.message_id)


async def test_a_429_with_retry_after_is_retried_and_then_succeeds(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(error="rate_limited", headers={"retry-after": "0.2"}))
    fake.enqueue(Scenario(tokens=WORDS))
    result, answer = await run(await open_socket(alice))
    assert (result.status, answer.content) == ("complete", "One two three four five")
    first, second = fake.chat_requests
    assert second.received_at - first.received_at >= 0.2
    assert result.done["error"] is None


async def test_a_429_beyond_the_retry_budget_ends_in_an_error(
    alice, upstream_model, fake, fast_streaming, open_socket
):
    for _ in range(3):
        fake.enqueue(Scenario(error="rate_limited", headers={"retry-after": "0.05"}))
    result, answer = await run(await open_socket(alice))
    assert len(fake.chat_requests) == 3
    assert (answer.status, answer.error_code, answer.content) == ("error", "rate_limited", "")
    assert result.done["error"]["code"] == "rate_limited"
    assert await questions() == ["Tell me"]


async def test_500_and_503_before_the_first_byte_are_retried(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(error="server_error"), Scenario(error="overloaded"))
    fake.enqueue(Scenario(tokens=WORDS))
    _result, answer = await run(await open_socket(alice))
    assert len(fake.chat_requests) == 3
    assert answer.status == "complete"


async def test_a_hang_before_the_first_byte_times_out(alice, upstream_model, fake, open_socket):
    await set_timeouts(upstream_model, first_byte_timeout=0.5)
    fake.enqueue(Scenario(hang_before_first_byte=True))
    result, answer = await run(await open_socket(alice))
    assert (answer.status, answer.error_code) == ("error", "upstream_timeout")
    assert result.done["error"]["message"]
    assert len(fake.chat_requests) == 1


async def test_a_stall_mid_stream_keeps_the_text_so_far(alice, upstream_model, fake, open_socket):
    await set_timeouts(upstream_model, idle_timeout=0.5)
    fake.enqueue(Scenario(tokens=WORDS, stall_after=2))
    result, answer = await run(await open_socket(alice))
    assert (answer.status, answer.error_code) == ("error", "upstream_timeout")
    assert answer.content == result.text == "One two"
    assert len(fake.chat_requests) == 1  # never retried after the first content byte


async def test_a_stream_cut_without_done_is_interrupted(alice, upstream_model, fake, open_socket):
    fake.enqueue(Scenario(tokens=WORDS, cut_after=3))
    result, answer = await run(await open_socket(alice))
    assert (answer.status, answer.content) == ("interrupted", "One two three")
    assert result.done["status"] == "interrupted"


async def test_done_without_a_finish_reason_is_interrupted(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(tokens=WORDS, finish_reason=None))
    _result, answer = await run(await open_socket(alice))
    assert (answer.status, answer.content) == ("interrupted", "One two three four five")


async def test_a_malformed_chunk_is_an_error_keeping_the_text(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(tokens=WORDS, malformed_after=2))
    _result, answer = await run(await open_socket(alice))
    assert (answer.status, answer.error_code, answer.content) == (
        "error",
        "upstream_protocol",
        "One two",
    )


async def test_an_error_object_mid_stream_is_reported_with_its_message(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(tokens=WORDS, error_after=2))
    result, answer = await run(await open_socket(alice))
    assert (answer.status, answer.content) == ("error", "One two")
    assert answer.error_code == "upstream_stream_error"
    assert result.done["error"]["message"] == answer.error_message != ""


async def test_context_length_exceeded_is_not_retried(alice, upstream_model, fake, open_socket):
    fake.enqueue(Scenario(error="context_length_exceeded"))
    result, answer = await run(await open_socket(alice))
    assert (answer.status, answer.error_code) == ("error", "context_length_exceeded")
    assert "too long for this model" in result.done["error"]["message"]
    assert "maximum context length" not in result.done["error"]["message"]  # the provider's
    assert len(fake.chat_requests) == 1


async def test_a_rejected_key_is_not_retried_and_never_shown(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(error="invalid_api_key"))
    _result, answer = await run(await open_socket(alice))
    assert (answer.status, answer.error_code) == ("error", "upstream_auth")
    assert len(fake.chat_requests) == 1


async def test_finish_reason_length_is_stored_as_truncated(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(tokens=WORDS, finish_reason="length"))
    result, answer = await run(await open_socket(alice))
    assert (answer.status, answer.finish_reason) == ("truncated", "length")
    assert result.done["finish_reason"] == "length"


async def test_finish_reason_content_filter_is_stored_as_filtered(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(tokens=WORDS[:2], finish_reason="content_filter"))
    _result, answer = await run(await open_socket(alice))
    assert (answer.status, answer.content) == ("filtered", "One two")


async def test_without_usage_from_the_stream_the_usage_is_estimated_and_flagged(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(tokens=WORDS, include_usage=False))
    result, answer = await run(await open_socket(alice))
    assert answer.usage_estimated is True
    assert answer.completion_tokens == 5
    assert answer.prompt_tokens > 0
    assert result.done["usage"]["estimated"] is True
