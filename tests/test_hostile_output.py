"""Whatever a provider sends is stored, bounded, and reaches the tab whole.

Model output is untrusted in encoding and size: unpaired surrogates, NUL and
control characters are made safe where they enter; an answer stops at
CHATSITE_MAX_ANSWER_CHARS; a frame too large for one websocket message goes
out in parts; and one answer the database refuses never costs another its flush.
"""

import pytest
from channels.db import database_sync_to_async

from conversations.models import Conversation, Message
from conversations.turn import recovery
from tests.cluster.tabs import tab_on_a_live_worker
from tests.fakeupstream import Scenario

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def stored(message_id) -> Message:
    return Message.objects.get(pk=message_id)


async def test_a_surrogate_pair_split_across_chunks_is_joined_into_its_character(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(tokens=["Smile ", "\ud83d", "\ude00", " done"]))
    result = await (await open_socket(alice)).turn("Send an emoji")
    answer = await stored(result.message_id)
    assert (answer.status, answer.content) == ("complete", "Smile 😀 done")
    assert result.text == answer.content


async def test_lone_surrogates_nul_and_control_characters_are_stored_safely(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(tokens=["a\ud800b", "\x00c", "\x1b[31md\te", "\ud83d"]))
    result = await (await open_socket(alice)).turn("Be hostile")
    answer = await stored(result.message_id)
    assert answer.status == "complete"
    assert answer.error_code == ""
    assert answer.content == "a\ufffdbc[31md\te\ufffd"
    assert result.text == answer.content


async def test_a_user_message_with_unstorable_characters_is_cleaned_not_refused(
    alice, upstream_model, fake, open_socket
):
    socket = await open_socket(alice)
    await socket.send_raw(
        '{"type": "send", "client_id": "c1", "content": "hi \\ud800 there\\u0000!"}'
    )
    question = await socket.receive_until(lambda f: f["type"] in ("message", "error"))
    assert question["type"] == "message"
    assert question["message"]["content"] == "hi \ufffd there!"
    stored_question = await stored(question["message"]["id"])
    assert stored_question.content == "hi \ufffd there!"


def test_one_answer_the_database_refuses_does_not_stop_the_others_flush(alice, chat_model):
    conversation = Conversation.objects.create(owner=alice)
    question = Message.objects.create(conversation=conversation, role="user", content="Hi")
    good, bad = (
        Message.objects.create(
            conversation=conversation,
            parent=question,
            role="assistant",
            status="streaming",
            model=chat_model,
        )
        for _ in range(2)
    )
    rows = [(str(bad.pk), "bad \ud800 text", 2), (str(good.pk), "good text", 3)]

    assert recovery.flush_partials(rows) == [str(good.pk)]
    good.refresh_from_db()
    assert (good.content, good.stream_seq) == ("good text", 3)


async def test_an_answer_stops_upstream_at_the_size_limit_and_ends_truncated(
    alice, upstream_model, fake, open_socket, settings
):
    settings.CHATSITE_MAX_ANSWER_CHARS = 1000
    fake.enqueue(Scenario(tokens=["0123456789"] * 5000, delay=0.0005))
    result = await (await open_socket(alice)).turn("Say everything")
    answer = await stored(result.message_id)
    assert (answer.status, answer.error_code) == ("truncated", "answer_too_long")
    assert answer.content == "0123456789" * 100
    assert result.text == answer.content
    assert result.done["error"]["code"] == "answer_too_long"
    [request] = fake.chat_requests
    assert await request.wait_ended_async(5)
    assert request.outcome == "disconnected"  # the provider stopped generating


async def test_an_answer_at_the_size_limit_cannot_be_continued(
    alice, upstream_model, fake, open_socket, settings
):
    settings.CHATSITE_MAX_ANSWER_CHARS = 1000
    fake.enqueue(Scenario(tokens=["0123456789"] * 200))
    socket = await open_socket(alice)
    result = await socket.turn("Say everything")
    await socket.send(type="continue", message_id=result.message_id, client_id="more")
    refusal = await socket.next_of("error")
    assert refusal["code"] == "answer_too_long"
    assert len(fake.chat_requests) == 1


async def test_a_delta_larger_than_a_websocket_message_reaches_the_tab_in_parts(
    alice, upstream_model, fake, open_socket, settings
):
    settings.CHATSITE_MAX_ANSWER_CHARS = 2_000_000
    huge = "日本語のテキスト" * 100_000  # 800,000 characters, 2.4 MB of UTF-8
    fake.enqueue(Scenario(tokens=["Start ", huge, " end"]))
    socket = await open_socket(alice)
    result = await socket.turn("Write a book")
    answer = await stored(result.message_id)
    assert answer.content == "Start " + huge + " end"
    assert result.text == answer.content
    assert socket.raw_count > len(socket.seen)  # some frames came in parts


async def test_a_live_worker_delivers_a_two_megabyte_delta_whole(alice, upstream_model, fake):
    huge = "x" * 2_000_000
    fake.enqueue(Scenario(tokens=["Begin ", huge]))
    async with tab_on_a_live_worker(alice, CHATSITE_MAX_ANSWER_CHARS="3000000") as (_, tab):
        await tab.send_message("Write a lot")
        answer = await tab.started_answer()
        done = await tab.next_of("done", timeout=30, message_id=answer["id"])
    assert done["status"] == "complete"
    stored_answer = await stored(answer["id"])
    assert stored_answer.content == "Begin " + huge
    assert tab.answer(answer["id"]).text == stored_answer.content
