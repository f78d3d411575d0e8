"""The socket refuses what it must: strangers, foreign origins, bad frames, other people's ids."""

import json
import uuid

import pytest
from channels.db import database_sync_to_async

from conversations.models import Conversation, Message
from conversations.params import PARAM_NAMES
from tests.cluster.seed import session_cookie
from tests.sockets import ChatSocket

pytestmark = pytest.mark.django_db(transaction=True)


async def test_an_anonymous_socket_is_accepted_then_closed_with_4401(runtime):
    socket = ChatSocket(cookie=None)
    connected, _code = await socket.connect()
    assert connected  # accepted only so that the browser sees the close code
    closed = await socket.communicator.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": 4401}


async def test_a_foreign_origin_is_refused_at_the_handshake(alice, runtime):
    cookie = await database_sync_to_async(session_cookie)(alice)
    socket = ChatSocket(cookie, origin="https://evil.example")
    connected, _code = await socket.connect()
    assert not connected


@pytest.fixture
def alices_thread(alice):
    """A conversation of alice with a question and a truncated answer."""
    conversation = Conversation.objects.create(owner=alice, title="private")
    question = Message.objects.create(conversation=conversation, role="user", content="secret")
    answer = Message.objects.create(
        conversation=conversation,
        parent=question,
        role="assistant",
        status="truncated",
        content="classified",
    )
    return conversation, question, answer


def foreign_frames(conversation, question, answer) -> list[dict]:
    c, q, a = str(conversation.id), str(question.id), str(answer.id)
    return [
        {"type": "send", "conversation_id": c, "content": "hi", "client_id": "x1"},
        {"type": "send", "content": "hi", "client_id": "x2", "parent_id": a},
        {"type": "regenerate", "message_id": a, "client_id": "x3"},
        {"type": "edit", "message_id": q, "content": "new", "client_id": "x4"},
        {"type": "continue", "message_id": a, "client_id": "x5"},
        {"type": "stop", "message_id": a},
        {"type": "stop", "conversation_id": c},
        {"type": "subscribe", "conversation_id": c},
        {"type": "subscribe", "conversation_id": c, "message_id": a, "after_seq": 0},
    ]


@database_sync_to_async
def snapshot() -> list:
    rows = Message.objects.order_by("id").values_list("id", "content", "status")
    return [*rows, *Conversation.objects.values_list("id", "title", "current_leaf_id")]


async def test_another_users_ids_answer_not_found_in_every_frame_type(
    alice, bob, alices_thread, upstream_model, fake, open_socket
):
    before = await snapshot()
    socket = await open_socket(bob)
    for frame in foreign_frames(*alices_thread):
        await socket.send(**frame)
        reply = await socket.receive()
        assert reply["type"] == "error", frame
        assert reply["code"] == "not_found", frame
        assert "classified" not in json.dumps(reply)
    after = await snapshot()
    # bob's send with a foreign parent must not have created anything either
    assert [row for row in after if row not in before] == []
    assert fake.chat_requests == []


async def test_missing_ids_answer_exactly_like_foreign_ones(bob, open_socket):
    socket = await open_socket(bob)
    await socket.send(type="stop", message_id=str(uuid.uuid4()))
    missing = await socket.receive()
    assert missing["code"] == "not_found"
    assert missing["message"] == "Not found."


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1, 2]",
        '{"type": "fly"}',
        '{"content": "no type"}',
        '{"type": "send", "content": "", "client_id": "a"}',
        '{"type": "send", "content": "hi"}',
        '{"type": "send", "content": "hi", "client_id": "has space"}',
        '{"type": "send", "content": "hi", "client_id": "a", "conversation_id": "nope"}',
        '{"type": "send", "content": 5, "client_id": "a"}',
        '{"type": "send", "content": "hi", "client_id": "a", "surprise": 1}',
        '{"type": "send", "content": "hi", "client_id": "a", "params": [1]}',
        '{"type": "subscribe", "conversation_id": "8a6e0804-2bd0-4672-b79d-d97027f04a3f",'
        ' "after_seq": -1}',
        '{"type": "send", "content": "hi", "client_id": "a", "model": true}',
    ],
)
async def test_malformed_frames_get_a_typed_error_and_change_nothing(
    alice, upstream_model, fake, open_socket, raw
):
    socket = await open_socket(alice)
    await socket.send_raw(raw)
    reply = await socket.receive()
    assert (reply["type"], reply["code"]) == ("error", "invalid_frame")
    assert await database_sync_to_async(Message.objects.count)() == 0
    await socket.send(type="ping")
    assert (await socket.receive())["type"] == "pong"  # the socket still works


async def test_an_oversized_frame_is_refused(alice, open_socket, settings):
    socket = await open_socket(alice)
    big = json.dumps({"type": "send", "content": "x" * 600_000, "client_id": "big"})
    await socket.send_raw(big)
    reply = await socket.receive()
    assert reply["code"] == "frame_too_large"


async def test_an_overlong_message_is_refused_before_anything_is_stored(
    alice, upstream_model, fake, open_socket, settings
):
    settings.CHATSITE_MAX_MESSAGE_CHARS = 1000
    socket = await open_socket(alice)
    await socket.send_message("y" * 1001, client_id="long")
    reply = await socket.next_of("error", client_id="long")
    assert reply["code"] == "invalid_frame"
    assert "1000" in reply["message"]


async def test_a_message_too_long_for_the_model_is_refused_before_the_upstream_call(
    alice, upstream_model, fake, open_socket
):
    socket = await open_socket(alice)
    await socket.send_message("word " * 9000, client_id="huge")
    reply = await socket.next_of("error", client_id="huge")
    assert reply["code"] == "message_too_long"
    assert "tokens" in reply["message"]
    assert fake.chat_requests == []
    assert await database_sync_to_async(Message.objects.count)() == 0


OUT_OF_RANGE = {
    "temperature": [-0.1, 2.01, "hot", True],
    "top_p": [-0.5, 1.5],
    "n": [0, 5, 1.5],
    "max_tokens": [0, 10_000, -3],
    "presence_penalty": [-2.5, 2.5],
    "frequency_penalty": [-3, 3],
    "stop": [["a", "b", "c", "d", "e"], [""], 7, ["x" * 300]],
    "logit_bias": [{"50256": 101}, {"not-an-id": 1}, {"999999999": 5}, [1, 2]],
    "reasoning_effort": ["extreme", 3, "", "high"],  # gpt-4 takes no effort at all
    "user": ["someone-else"],
    "seed": [1],
}


def test_every_parameter_has_out_of_range_cases():
    assert set(PARAM_NAMES) <= set(OUT_OF_RANGE)


@pytest.mark.parametrize(
    ("name", "value"), [(n, v) for n, values in OUT_OF_RANGE.items() for v in values]
)
async def test_every_parameter_out_of_range_is_refused_with_a_field_error(
    alice, upstream_model, fake, open_socket, name, value
):
    socket = await open_socket(alice)
    await socket.send_message("hi", client_id="p1", params={name: value})
    reply = await socket.next_of("error", client_id="p1")
    assert reply["code"] == "invalid_params"
    assert name in reply["fields"]
    assert fake.chat_requests == []
    assert await database_sync_to_async(Message.objects.count)() == 0
