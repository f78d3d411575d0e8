"""A chat turn over the websocket: the happy path and what it stores."""

import pytest
from channels.db import database_sync_to_async

from conversations.models import Conversation, Message, UsageDaily
from tests.fakeupstream import Scenario

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def stored(message_id) -> Message:
    return Message.objects.select_related("conversation").get(pk=message_id)


async def test_it_streams_an_answer_and_stores_it(alice, upstream_model, fake, open_socket):
    fake.enqueue(Scenario(tokens=["Hello", ",", " Alice", "!"], delay=0.01))
    socket = await open_socket(alice)
    result = await socket.turn("Hi there")
    assert result.status == "complete"
    assert result.text == "Hello, Alice!"
    deltas = [f for f in socket.seen if f["type"] == "delta"]
    assert [d["seq"] for d in deltas] == [1, 2, 3, 4]
    answer = await stored(result.message_id)
    assert answer.content == "Hello, Alice!"
    assert answer.status == "complete"
    assert answer.finish_reason == "stop"
    assert answer.ttft_ms is not None
    assert answer.usage_estimated is False
    assert answer.completion_tokens == 4


async def test_the_user_message_is_echoed_with_its_client_id(alice, upstream_model, open_socket):
    socket = await open_socket(alice)
    client_id = await socket.send_message("Hello")
    echo = await socket.next_of("message", client_id=client_id)
    assert echo["message"]["role"] == "user"
    assert echo["message"]["content"] == "Hello"
    await socket.next_of("done")


async def test_the_request_carries_history_params_and_a_hashed_user(
    alice, upstream_model, fake, open_socket
):
    socket = await open_socket(alice)
    first = await socket.turn("What is 2+2?", params={"temperature": 0.2})
    await socket.turn("And 3+3?", conversation_id=first.conversation_id)
    body = fake.chat_requests[-1].body
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][-1]["content"] == "And 3+3?"
    assert body["temperature"] == 0.2
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert len(body["user"]) == 32
    assert str(alice.pk) != body["user"]


async def test_usage_is_charged_to_the_daily_ledger(alice, upstream_model, fake, open_socket):
    fake.enqueue(Scenario(tokens=["a", "b", "c"], prompt_tokens=11))
    socket = await open_socket(alice)
    await socket.turn("count")
    row = await database_sync_to_async(UsageDaily.objects.get)(user=alice)
    assert (row.requests, row.prompt_tokens, row.completion_tokens) == (1, 11, 3)
    assert row.estimated_prompt_tokens == 0


async def test_a_persona_prompt_comes_first(alice, upstream_model, fake, open_socket):
    from conversations.models import Persona

    persona = await database_sync_to_async(Persona.objects.create)(
        owner=alice, name="Pirate", system_prompt="Talk like a pirate.", model=upstream_model
    )
    socket = await open_socket(alice)
    result = await socket.turn("Ahoy", persona_id=str(persona.pk))
    body = fake.chat_requests[-1].body
    assert body["messages"][0] == {"role": "system", "content": "Talk like a pirate."}
    assert result.answer["persona"]["name"] == "Pirate"
    assert result.answer["persona"]["version"] == 1


async def test_a_new_conversation_points_at_the_answer(alice, upstream_model, open_socket):
    socket = await open_socket(alice)
    result = await socket.turn("Hello")
    conversation = await database_sync_to_async(Conversation.objects.get)()
    assert str(conversation.current_leaf_id) == result.message_id
    assert conversation.owner_id == alice.pk
