"""Stop, tabs, reconnects, resends, regenerate, edit, continue and the sweeper."""

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from conversations.models import Conversation, Message
from tests.fakeupstream import Scenario

pytestmark = pytest.mark.django_db(transaction=True)

SLOW = Scenario(tokens=[f" w{i}" for i in range(40)], delay=0.05)


@database_sync_to_async
def stored(message_id) -> Message:
    return Message.objects.get(pk=message_id)


@database_sync_to_async
def count(**filters) -> int:
    return Message.objects.filter(**filters).count()


async def test_stop_after_the_first_token_keeps_the_partial_answer(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(SLOW)
    socket = await open_socket(alice)
    await socket.send_message("Talk")
    answer = await socket.next_of_answer()
    await socket.next_of("delta", seq=3)
    await socket.send(type="stop", message_id=answer["id"])
    done = await socket.next_of("done", message_id=answer["id"])
    assert done["status"] == "stopped"
    row = await stored(answer["id"])
    assert row.status == "stopped"
    assert row.content == socket.text_of(answer["id"])
    assert row.content.startswith(" w0 w1 w2")
    assert len(row.content.split()) < 40


async def test_stop_before_the_first_token_cancels_the_upstream_request(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(first_byte_delay=30))
    socket = await open_socket(alice)
    await socket.send_message("Talk")
    answer = await socket.next_of_answer()
    [request] = await asyncio.to_thread(fake.wait_for_requests, 1)
    await socket.send(type="stop", conversation_id=answer["conversation_id"])
    done = await socket.next_of("done")
    assert (done["status"], (await stored(answer["id"])).content) == ("stopped", "")
    assert await request.wait_ended_async(within=1.0)
    assert request.outcome == "disconnected"


async def test_closing_the_tab_does_not_stop_the_turn(alice, upstream_model, fake, open_socket):
    fake.enqueue(Scenario(tokens=["a", "b", "c", "d"], delay=0.05))
    socket = await open_socket(alice)
    await socket.send_message("Talk")
    answer = await socket.next_of_answer()
    await socket.close()
    for _ in range(100):
        row = await stored(answer["id"])
        if row.status != "streaming":
            break
        await asyncio.sleep(0.05)
    assert (row.status, row.content) == ("complete", "abcd")


async def test_partial_text_is_flushed_while_streaming(
    alice, upstream_model, fake, fast_streaming, open_socket
):
    fake.enqueue(SLOW)
    socket = await open_socket(alice)
    await socket.send_message("Talk")
    answer = await socket.next_of_answer()
    await socket.next_of("delta", seq=10)
    await asyncio.sleep(0.25)  # more than one flush interval
    row = await stored(answer["id"])
    assert row.status == "streaming"
    assert row.stream_seq >= 10
    if row.stream_seq > 10:
        await socket.next_of("delta", seq=row.stream_seq)
    assert socket.text_of(answer["id"]) == row.content
    await socket.send(type="stop", message_id=answer["id"])
    await socket.next_of("done")


async def test_a_reconnecting_tab_catches_up_without_gap_or_duplicate(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(SLOW)
    first = await open_socket(alice)
    await first.send_message("Talk")
    answer = await first.next_of_answer()
    delta = await first.next_of("delta", seq=5)
    await first.close()
    await asyncio.sleep(0.2)  # deltas stream on while the tab is away
    second = await open_socket(alice)
    await second.send(
        type="subscribe",
        conversation_id=answer["conversation_id"],
        message_id=answer["id"],
        after_seq=delta["seq"],
    )
    done = await second.next_of("done", message_id=answer["id"], timeout=10)
    catch_up = next(f for f in second.seen if f["type"] == "delta")
    assert catch_up["after"] == 5
    text = first.text_of(answer["id"]) + second.text_of(answer["id"])
    assert text == "".join(f" w{i}" for i in range(40))
    assert done["seq"] == 40


async def test_a_tab_opening_mid_stream_gets_the_text_so_far_then_follows(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(SLOW)
    writer = await open_socket(alice)
    await writer.send_message("Talk")
    answer = await writer.next_of_answer()
    await writer.next_of("delta", seq=8)
    viewer = await open_socket(alice)
    await viewer.send(type="subscribe", conversation_id=answer["conversation_id"])
    await viewer.next_of("done", message_id=answer["id"])
    assert viewer.seen[0]["type"] == "snapshot"
    assert viewer.text_of(answer["id"]) == "".join(f" w{i}" for i in range(40))


async def test_two_tabs_on_one_conversation_see_the_same_stream(
    alice, upstream_model, fake, open_socket
):
    one = await open_socket(alice)
    first = await one.turn("Hello")
    two = await open_socket(alice)
    await two.send(type="subscribe", conversation_id=first.conversation_id)
    await two.next_of("subscribed")
    fake.enqueue(Scenario(tokens=["x", "y", "z"], delay=0.02))
    second = await one.turn("Again", conversation_id=first.conversation_id)
    await two.next_of("done", message_id=second.message_id)
    assert two.text_of(second.message_id) == second.text == "xyz"
    assert any(f["type"] == "message" and f["message"]["role"] == "user" for f in two.seen)


async def test_stop_from_another_tab_stops_the_turn(alice, upstream_model, fake, open_socket):
    fake.enqueue(SLOW)
    writer = await open_socket(alice)
    await writer.send_message("Talk")
    answer = await writer.next_of_answer()
    other = await open_socket(alice)
    await other.send(type="stop", message_id=answer["id"])
    done = await writer.next_of("done", message_id=answer["id"])
    assert done["status"] == "stopped"


async def test_the_same_client_id_sent_twice_creates_nothing_new(
    alice, upstream_model, fake, open_socket
):
    socket = await open_socket(alice)
    client_id = await socket.send_message("Once")
    await socket.next_of("done")
    await socket.send_message("Once", client_id=client_id)
    echo = await socket.next_of("message", client_id=client_id)
    assert echo["message"]["content"] == "Once"
    assert await count(role="user") == 1
    assert await count(role="assistant") == 1
    assert len(fake.chat_requests) == 1
    assert await database_sync_to_async(Conversation.objects.count)() == 1


async def test_one_generation_at_a_time_per_conversation(alice, upstream_model, fake, open_socket):
    fake.enqueue(SLOW)
    socket = await open_socket(alice)
    await socket.send_message("First")
    answer = await socket.next_of_answer()
    client_id = await socket.send_message("Second", answer["conversation_id"])
    error = await socket.next_of("error", client_id=client_id)
    assert error["code"] == "busy"
    assert await count(role="user") == 1
    await socket.send(type="stop", message_id=answer["id"])


async def test_a_user_has_a_cap_on_concurrent_generations(
    alice, upstream_model, fake, open_socket, settings
):
    settings.CHATSITE_MAX_CONCURRENT_GENERATIONS = 2
    fake.enqueue(SLOW, SLOW)
    socket = await open_socket(alice)
    for text in ("one", "two"):
        await socket.send_message(text)
        await socket.next_of_answer()
    client_id = await socket.send_message("three")
    error = await socket.next_of("error", client_id=client_id)
    assert error["code"] == "rate_limited"
    assert error["retry_after"] > 0


async def test_regenerate_makes_a_sibling_answer(alice, upstream_model, fake, open_socket):
    socket = await open_socket(alice)
    first = await socket.turn("Hello")
    fake.enqueue(Scenario(tokens=["Another", " take"]))
    await socket.send(type="regenerate", message_id=first.message_id, client_id="regen-1")
    again = await socket.next_of_answer()
    await socket.next_of("done", message_id=again["id"])
    assert again["parent_id"] == first.answer["parent_id"]
    assert (await stored(again["id"])).content == "Another take"
    conversation = await database_sync_to_async(Conversation.objects.get)()
    assert str(conversation.current_leaf_id) == again["id"]


async def test_edit_and_resend_starts_a_new_branch(alice, upstream_model, fake, open_socket):
    socket = await open_socket(alice)
    first = await socket.turn("Hello")
    await socket.turn("How are you?", conversation_id=first.conversation_id)
    question = await database_sync_to_async(Message.objects.get)(content="How are you?")
    await socket.send(
        type="edit", message_id=str(question.id), content="What's new?", client_id="edit-1"
    )
    edited = await socket.next_of("message", client_id="edit-1")
    assert edited["message"]["parent_id"] == first.message_id
    answer = await socket.next_of_answer()
    await socket.next_of("done", message_id=answer["id"])
    body = fake.chat_requests[-1].body
    assert [m["content"] for m in body["messages"] if m["role"] == "user"] == [
        "Hello",
        "What's new?",
    ]


async def test_continue_extends_a_truncated_answer(alice, upstream_model, fake, open_socket):
    fake.enqueue(Scenario(tokens=["Once", " upon"], finish_reason="length"))
    socket = await open_socket(alice)
    first = await socket.turn("Tell a story")
    assert first.status == "truncated"
    fake.enqueue(Scenario(tokens=[" a", " time"]))
    await socket.send(type="continue", message_id=first.message_id, client_id="more-1")
    done = await socket.next_of("done", message_id=first.message_id, status="complete")
    row = await stored(first.message_id)
    assert (row.status, row.content, done["seq"]) == ("complete", "Once upon a time", 4)
    # The cut-off answer, then the request to go on from it (test_continue_join.py).
    assert fake.chat_requests[-1].body["messages"][-2] == {
        "role": "assistant",
        "content": "Once upon",
    }
    assert row.completion_tokens == 4


async def test_only_truncated_answers_can_be_continued(alice, upstream_model, open_socket):
    socket = await open_socket(alice)
    first = await socket.turn("Hello")
    await socket.send(type="continue", message_id=first.message_id, client_id="more-1")
    error = await socket.next_of("error", client_id="more-1")
    assert error["code"] == "not_continuable"


async def test_n_choices_become_sibling_answers(alice, upstream_model, fake, open_socket):
    fake.enqueue(Scenario(tokens=["Hi"]))
    socket = await open_socket(alice)
    await socket.send_message("Hello", params={"n": 2})
    answers = [await socket.next_of_answer(), await socket.next_of_answer()]
    for answer in answers:
        await socket.next_of("done", message_id=answer["id"])
    texts = sorted([(await stored(a["id"])).content for a in answers])
    assert texts == ["[0] Hi", "[1] Hi"]
    assert answers[0]["parent_id"] == answers[1]["parent_id"]


async def test_the_sweeper_interrupts_answers_of_a_dead_worker(
    alice, upstream_model, runtime, fast_streaming
):
    conversation = await database_sync_to_async(Conversation.objects.create)(owner=alice)
    question = await database_sync_to_async(Message.objects.create)(
        conversation=conversation, role="user", content="hi"
    )
    orphan = await database_sync_to_async(Message.objects.create)(
        conversation=conversation,
        parent=question,
        role="assistant",
        status="streaming",
        content="half an ans",
        worker="dead-worker",
        heartbeat=timezone.now() - timedelta(seconds=5),
    )
    await runtime.housekeeping()
    row = await stored(orphan.id)
    assert (row.status, row.content, row.error_code) == (
        "interrupted",
        "half an ans",
        "worker_lost",
    )
    assert row.usage_estimated


async def test_a_running_turn_keeps_its_heartbeat(
    alice, upstream_model, fake, fast_streaming, open_socket
):
    fake.enqueue(Scenario(tokens=[f" w{i}" for i in range(30)], delay=0.1))
    socket = await open_socket(alice)
    await socket.send_message("Talk")
    answer = await socket.next_of_answer()
    await asyncio.sleep(1.5)  # longer than CHATSITE_STALE_AFTER
    assert (await stored(answer["id"])).status == "streaming"
    await socket.send(type="stop", message_id=answer["id"])
    await socket.next_of("done")
