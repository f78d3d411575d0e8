"""Budgets that cannot be overshot: a turn reserves its worst case before the upstream
call, is refused when that does not fit, and is settled to its real usage at its end
(stop, error and a dead worker included)."""

import threading
import uuid
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.utils import timezone

from conversations import tokens
from conversations.models import Message, Quota, Reservation, UsageDaily
from conversations.refusals import Refused
from conversations.turn import recovery
from conversations.turn.request import TurnRequest
from conversations.turn.start import start_turn
from tests.fakeupstream import Scenario

pytestmark = pytest.mark.django_db(transaction=True)


def charged(user) -> tuple[int, int]:
    totals = UsageDaily.objects.filter(user=user).totals()
    return totals["prompt"], totals["completion"]


async def refused(socket, text="Hello", **extra):
    client_id = await socket.send_message(text, **extra)
    return await socket.next_of("error", client_id=client_id)


async def test_an_n2_turn_cannot_overshoot_a_small_daily_budget(
    alice, upstream_model, fake, open_socket
):
    # Before reservations this turn was let through and charged 611 tokens of 30.
    await database_sync_to_async(Quota.objects.create)(user=alice, daily_tokens=30)
    socket = await open_socket(alice)
    error = await refused(socket, params={"n": 2})
    assert (error["code"], error["period"], error["unit"]) == ("quota_exceeded", "day", "tokens")
    assert "30" in error["message"]
    assert fake.chat_requests == []
    assert await database_sync_to_async(charged)(alice) == (0, 0)


async def test_max_tokens_times_n_must_fit_what_is_left(alice, upstream_model, fake, open_socket):
    await database_sync_to_async(Quota.objects.create)(user=alice, daily_tokens=100)
    socket = await open_socket(alice)
    error = await refused(socket, params={"n": 2, "max_tokens": 48})  # prompt + 96 > 100
    assert error["code"] == "quota_exceeded"
    fake.enqueue(Scenario(tokens=["a", "b"], prompt_tokens=9))
    result = await socket.turn("Hello", params={"n": 2, "max_tokens": 40})  # prompt + 80
    assert result.status == "complete"


async def test_the_model_output_cap_bounds_the_worst_case_without_max_tokens(
    alice, upstream_model, fake, open_socket
):
    @database_sync_to_async
    def setup():
        upstream_model.max_output_tokens = 50
        upstream_model.save()
        Quota.objects.create(user=alice, daily_tokens=200)

    await setup()
    socket = await open_socket(alice)
    assert (await socket.turn("Hello")).status == "complete"  # prompt + 50 fits 200
    error = await refused(socket, params={"n": 4})  # prompt + 200 does not
    assert error["code"] == "quota_exceeded"


async def test_a_turn_is_settled_to_its_real_usage(alice, upstream_model, fake, open_socket):
    await database_sync_to_async(Quota.objects.create)(user=alice, daily_tokens=10_000)
    fake.enqueue(Scenario(tokens=["a"] * 30, delay=0.03, prompt_tokens=21))
    socket = await open_socket(alice)
    await socket.send_message("Hello", params={"max_tokens": 500})
    answer = await socket.next_of_answer()
    reservation = await database_sync_to_async(Reservation.objects.get)(message_id=answer["id"])
    assert reservation.tokens == reservation.prompt_tokens + 500
    assert await database_sync_to_async(charged)(alice) == (0, 0)  # held, not yet charged
    await socket.next_of("done", message_id=answer["id"], timeout=20)
    assert await database_sync_to_async(Reservation.objects.count)() == 0
    assert await database_sync_to_async(charged)(alice) == (21, 30)


async def test_a_running_turn_holds_its_worst_case_against_the_next(
    alice, upstream_model, fake, open_socket
):
    await database_sync_to_async(Quota.objects.create)(user=alice, daily_tokens=1000)
    fake.enqueue(Scenario(tokens=["a"] * 40, delay=0.05))
    socket = await open_socket(alice)
    await socket.send_message("First", params={"max_tokens": 600})
    answer = await socket.next_of_answer()
    error = await refused(socket, "Second", params={"max_tokens": 600})
    assert error["code"] == "quota_exceeded"
    await socket.next_of("done", message_id=answer["id"], timeout=20)
    fake.enqueue(Scenario(tokens=["b"]))
    assert (await socket.turn("Third", params={"max_tokens": 600})).status == "complete"


async def test_stop_releases_the_reservation_and_charges_what_was_used(
    alice, upstream_model, fake, open_socket
):
    await database_sync_to_async(Quota.objects.create)(user=alice, daily_tokens=10_000)
    fake.enqueue(Scenario(tokens=["word "] * 200, delay=0.05))
    socket = await open_socket(alice)
    await socket.send_message("Hello", params={"max_tokens": 4000})
    answer = await socket.next_of_answer()
    await socket.next_of("delta", message_id=answer["id"])
    await socket.send(type="stop", message_id=answer["id"])
    done = await socket.next_of("done", message_id=answer["id"], timeout=20)
    assert done["status"] == "stopped"
    assert await database_sync_to_async(Reservation.objects.count)() == 0
    prompt, completion = await database_sync_to_async(charged)(alice)
    assert prompt > 0 and 0 < completion < 4000


async def test_an_upstream_error_releases_the_reservation(alice, upstream_model, fake, open_socket):
    await database_sync_to_async(Quota.objects.create)(user=alice, daily_tokens=10_000)
    fake.enqueue(Scenario(tokens=["a", "b", "c"], error_after=2))
    socket = await open_socket(alice)
    await socket.send_message("Hello", params={"max_tokens": 4000})
    answer = await socket.next_of_answer()
    done = await socket.next_of("done", message_id=answer["id"], timeout=20)
    assert done["status"] == "error"
    assert await database_sync_to_async(Reservation.objects.count)() == 0
    fake.enqueue(Scenario(tokens=["ok"]))
    assert (await socket.turn("Again", params={"max_tokens": 4000})).status == "complete"


def test_the_sweeper_releases_a_dead_workers_reservation(alice, upstream_model):
    Quota.objects.create(user=alice, daily_tokens=10_000)
    request = TurnRequest(
        kind="send", client_id="c1", content="Hello", params={"max_tokens": 9000 // 2}
    )
    plan = start_turn(user=alice, worker="worker.dead", request=request)
    assert Reservation.objects.filter(user=alice).count() == 1
    # The worker died mid-answer: some text flushed, then no more heartbeats.
    answer_id = plan.choices[0].message_id
    stale = timezone.now() - timedelta(hours=1)
    Message.objects.filter(pk=answer_id).update(content="half an answer", heartbeat=stale)
    swept = recovery.sweep_stale()
    assert [m["id"] for m in swept] == [str(answer_id)]
    assert Reservation.objects.count() == 0
    prompt, completion = charged(alice)
    assert prompt == plan.prompt_tokens and 0 < completion < 10
    assert UsageDaily.objects.get(user=alice).estimated_completion_tokens == completion
    assert recovery.sweep_stale() == [] and charged(alice) == (prompt, completion)  # once


def test_an_orphan_stopped_by_its_owner_is_released_by_the_next_sweep(alice, upstream_model):
    Quota.objects.create(user=alice, daily_tokens=10_000)
    request = TurnRequest(kind="send", client_id="c2", content="Hi", params={"max_tokens": 100})
    plan = start_turn(user=alice, worker="worker.dead", request=request)
    Message.objects.filter(pk=plan.choices[0].message_id).update(heartbeat=None)
    assert recovery.stop_orphan(plan.choices[0].message_id)["status"] == "stopped"
    recovery.sweep_stale()
    assert Reservation.objects.count() == 0
    assert charged(alice) == (plan.prompt_tokens, 0)


@pytest.mark.skipif(
    not connection.features.has_select_for_update, reason="row locks: PostgreSQL leg"
)
@pytest.mark.parametrize("same_user", [False, True])
def test_two_concurrent_turns_cannot_both_take_the_last_of_a_budget(
    alice, bob, team, upstream_model, same_user
):
    alice.groups.add(team)
    bob.groups.add(team)
    Quota.objects.create(group=team, daily_tokens=150)  # room for one turn of 100 + prompt
    people = [alice, alice] if same_user else [alice, bob]
    barrier = threading.Barrier(len(people))
    results: list[str] = []

    def start(user) -> None:
        request = TurnRequest(
            kind="send", client_id=uuid.uuid4().hex, content="Hello", params={"max_tokens": 100}
        )
        try:
            barrier.wait()
            start_turn(user=user, worker="worker.test", request=request)
            results.append("started")
        except Refused as refusal:
            results.append(refusal.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=start, args=(user,)) for user in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == ["quota_exceeded", "started"]
    assert Reservation.objects.count() == 1


def small_window(model, window: int) -> None:
    model.context_window, model.max_output_tokens = window, None
    model.save()


async def test_a_budgeted_turn_without_max_tokens_cannot_write_past_its_reservation(
    alice, upstream_model, fake, open_socket
):
    # Before the cap was sent, this turn reserved ~300 tokens of 500 and a model that
    # wrote on was charged for all 600 of its tokens.
    @database_sync_to_async
    def setup():
        small_window(upstream_model, 300)
        Quota.objects.create(user=alice, daily_tokens=500)

    await setup()
    fake.enqueue(Scenario(tokens=["a"] * 600, prompt_tokens=9, obey_limit=True))
    socket = await open_socket(alice)
    await socket.send_message("Hello")
    answer = await socket.next_of_answer()
    reservation = await database_sync_to_async(Reservation.objects.get)(message_id=answer["id"])
    done = await socket.next_of("done", message_id=answer["id"], timeout=30)
    cap = reservation.tokens - reservation.prompt_tokens
    assert fake.chat_requests[-1].body["max_tokens"] == cap
    assert done["status"] == "truncated"  # cut at the cap, and continuable
    prompt, completion = await database_sync_to_async(charged)(alice)
    assert completion == cap and prompt + completion <= 500


async def test_the_cap_goes_under_the_name_the_model_takes(
    alice, upstream_model, fake, open_socket
):
    @database_sync_to_async
    def setup():
        small_window(upstream_model, 300)
        upstream_model.token_limit_param = "max_completion_tokens"
        upstream_model.save()
        Quota.objects.create(user=alice, daily_tokens=500)

    await setup()
    fake.enqueue(Scenario(tokens=["a"] * 600, obey_limit=True))
    socket = await open_socket(alice)
    assert (await socket.turn("Hello")).status == "truncated"
    body = fake.chat_requests[-1].body
    assert "max_tokens" not in body and 0 < body["max_completion_tokens"] < 300


async def test_a_turn_without_a_budget_sends_no_answer_length(
    alice, upstream_model, fake, open_socket
):
    await database_sync_to_async(small_window)(upstream_model, 300)
    fake.enqueue(Scenario(tokens=["a"] * 600, obey_limit=True))
    socket = await open_socket(alice)
    result = await socket.turn("Hello")
    assert result.status == "complete" and len(result.text) == 600
    assert "max_tokens" not in fake.chat_requests[-1].body


async def test_a_max_tokens_the_user_set_is_sent_as_it_is(alice, upstream_model, fake, open_socket):
    await database_sync_to_async(Quota.objects.create)(user=alice, daily_tokens=10_000)
    fake.enqueue(Scenario(tokens=["a"] * 5))
    socket = await open_socket(alice)
    assert (await socket.turn("Hello", params={"max_tokens": 70})).status == "complete"
    assert fake.chat_requests[-1].body["max_tokens"] == 70


def estimate(text: str) -> int:
    return tokens.count_text(text, "gpt-4").tokens


def test_an_orphan_stopped_by_its_owner_is_charged_for_what_it_streamed(alice, upstream_model):
    # Before, the stop left its completion tokens unset and the release charged 0.
    Quota.objects.create(user=alice, daily_tokens=10_000)
    request = TurnRequest(kind="send", client_id="c3", content="Hi", params={"max_tokens": 100})
    plan = start_turn(user=alice, worker="worker.dead", request=request)
    answer_id = plan.choices[0].message_id
    Message.objects.filter(pk=answer_id).update(content="half an answer", heartbeat=None)
    assert recovery.stop_orphan(answer_id)["status"] == "stopped"
    recovery.sweep_stale()
    assert Reservation.objects.count() == 0
    assert charged(alice) == (plan.prompt_tokens, estimate("half an answer"))
    assert Message.objects.get(pk=answer_id).completion_tokens == estimate("half an answer")


async def test_a_swept_continuation_is_charged_only_for_its_own_part(
    alice, upstream_model, fake, open_socket
):
    # Before, the sweep estimated the whole answer, charging its first part twice.
    await database_sync_to_async(Quota.objects.create)(user=alice, daily_tokens=10_000)
    fake.enqueue(
        Scenario(tokens=["one", " two", " three"], prompt_tokens=12, finish_reason="length")
    )
    socket = await open_socket(alice)
    first = await socket.turn("Count", params={"max_tokens": 3})
    assert first.status == "truncated"
    assert await database_sync_to_async(charged)(alice) == (12, 3)

    @database_sync_to_async
    def continue_on_a_worker_that_dies() -> int:
        request = TurnRequest(kind="continue", client_id="c4", message_id=first.message_id)
        plan = start_turn(user=alice, worker="worker.dead", request=request)
        stale = timezone.now() - timedelta(hours=1)
        streamed = "one two three four five six"
        Message.objects.filter(pk=first.message_id).update(content=streamed, heartbeat=stale)
        assert [m["id"] for m in recovery.sweep_stale()] == [first.message_id]
        return plan.prompt_tokens

    prompt = await continue_on_a_worker_that_dies()
    more = estimate(" four five six")
    assert await database_sync_to_async(charged)(alice) == (12 + prompt, 3 + more)
    answer = await database_sync_to_async(Message.objects.get)(pk=first.message_id)
    assert (answer.status, answer.completion_tokens) == ("interrupted", 3 + more)
    assert await database_sync_to_async(Reservation.objects.count)() == 0
