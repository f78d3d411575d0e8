"""While a 429/503 retry waits, the tab is told, and Stop still ends the turn at once."""

import asyncio
import time

import pytest
from channels.db import database_sync_to_async

from conversations.llm import LLMClient, ProviderSettings
from conversations.models import Message
from tests.fakeupstream import Scenario

WORDS = ["One", " two", " three"]


@database_sync_to_async
def stored(message_id) -> Message:
    return Message.objects.get(pk=message_id)


@pytest.mark.django_db(transaction=True)
async def test_the_tab_hears_that_the_provider_is_busy_before_the_retry(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(error="rate_limited", headers={"retry-after": "0.5"}))
    fake.enqueue(Scenario(tokens=WORDS))
    socket = await open_socket(alice)
    result = await socket.turn("Hello")

    kinds = [f["type"] for f in socket.seen]
    retrying = next(f for f in socket.seen if f["type"] == "retrying")
    assert retrying == {
        "type": "retrying",
        "conversation_id": result.conversation_id,
        "message_ids": [result.message_id],
        "delay_s": 0.5,
        "code": "rate_limited",
        "attempt": 1,
    }
    assert kinds.index("retrying") < kinds.index("delta")
    assert (result.status, result.text) == ("complete", "One two three")


@pytest.mark.django_db(transaction=True)
async def test_a_503_wait_is_announced_too(alice, upstream_model, fake, open_socket):
    fake.enqueue(Scenario(error="overloaded", headers={"retry-after": "0.2"}))
    fake.enqueue(Scenario(tokens=WORDS))
    socket = await open_socket(alice)
    await socket.turn("Hello")
    retrying = next(f for f in socket.seen if f["type"] == "retrying")
    assert (retrying["code"], retrying["delay_s"]) == ("upstream_error", 0.2)


@pytest.mark.django_db(transaction=True)
async def test_stop_during_the_wait_ends_the_turn_stopped_at_once(
    alice, upstream_model, fake, open_socket, settings
):
    settings.LLM_RETRY_CAP = 20
    fake.enqueue(Scenario(error="rate_limited", headers={"retry-after": "15"}))
    socket = await open_socket(alice)
    await socket.send_message("Hello")
    answer = await socket.next_of_answer()
    await socket.next_of("retrying", message_ids=[answer["id"]])

    started = time.monotonic()
    await socket.send(type="stop", message_id=answer["id"])
    done = await socket.next_of("done", message_id=answer["id"], timeout=5)

    assert time.monotonic() - started < 2
    assert done["status"] == "stopped"
    assert (await stored(answer["id"])).status == "stopped"
    await asyncio.sleep(0.2)
    assert len(fake.chat_requests) == 1  # the retry never went out


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_the_client_calls_on_retry_before_each_wait(fake, asynchronous):
    fake.enqueue(Scenario(error="rate_limited", headers={"retry-after": "0.1"}))
    fake.enqueue(Scenario(error="overloaded", headers={"retry-after": "0.1"}))
    fake.enqueue(Scenario(tokens=WORDS))
    calls = []

    def record(delay, code, attempt):
        calls.append((delay, code, attempt, len(fake.chat_requests)))

    async def record_async(delay, code, attempt):
        record(delay, code, attempt)

    settings = ProviderSettings(fake.base_url, retry_cap=2.0, allow_local_network=True)
    client = LLMClient(settings)
    body = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}
    try:
        async for _event in client.stream_chat(body, record_async if asynchronous else record):
            pass
    finally:
        await client.aclose()
    assert calls == [(0.1, "rate_limited", 1, 1), (0.1, "upstream_error", 2, 2)]
