"""Reasoning text: parsed from both servers' spellings, relayed in the answer's
numbering, stored apart, flushed, bounded, counted, exported, reviewed, never
sent back to the model."""

import asyncio
import json
import uuid

import pytest
from channels.db import database_sync_to_async
from django.urls import reverse

from conversations import exports, llm
from conversations.llm import Delta, Finish, Reasoning
from conversations.llm.wire import chat_result, chunk_events
from conversations.models import Conversation, Message, SiteSettings, UsageDaily
from conversations.turn import recovery
from conversations.turn.plan import Choice, TurnPlan
from conversations.turn.stream import ChoiceStream, Turn
from tests.fakeupstream import Scenario
from tests.test_relay import Recorder

THOUGHTS = ["Let", " me", " **think**"]
ANSWER = ["Hi", "!"]


@database_sync_to_async
def stored(message_id) -> Message:
    return Message.objects.get(pk=message_id)


@database_sync_to_async
def usage_rows() -> list[UsageDaily]:
    return list(UsageDaily.objects.all())


async def flushed(message_id, seq: int, within: float = 10.0) -> Message:
    """The row once the flusher stored delta `seq` (it runs every 0.1 s here)."""
    deadline = asyncio.get_running_loop().time() + within
    while (row := await stored(message_id)).stream_seq < seq:
        assert asyncio.get_running_loop().time() < deadline, "never flushed"
        await asyncio.sleep(0.05)
    return row


def reasoning_of(socket, message_id: str) -> str:
    """The reasoning as a tab assembles it from snapshots and deltas, checking order."""
    reasoning, seq = "", None
    for frame in socket.seen:
        if frame.get("type") == "message" and frame["message"]["id"] == message_id:
            reasoning, seq = frame["message"]["reasoning"], frame["message"]["seq"]
        elif frame.get("type") == "snapshot" and frame["id"] == message_id:
            reasoning, seq = frame["reasoning"], frame["seq"]
        elif frame.get("type") == "delta" and frame["message_id"] == message_id:
            if seq is not None and frame["seq"] <= seq:
                continue
            assert seq is None or frame["after"] == seq
            reasoning, seq = reasoning + frame.get("reasoning", ""), frame["seq"]
    return reasoning


# --- The wire ---------------------------------------------------------------------------


def chunk(delta: dict, finish_reason=None) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    return json.dumps({"choices": [choice]})


def test_reasoning_content_and_reasoning_deltas_both_become_reasoning_events():
    deepseek = chunk({"content": None, "reasoning_content": "Hmm"})
    vllm = chunk({"reasoning": "Well"})
    assert chunk_events(deepseek) == [Reasoning(0, "Hmm")]
    assert chunk_events(vllm) == [Reasoning(0, "Well")]


def test_a_chunk_with_reasoning_and_text_gives_both_in_order():
    both = chunk({"reasoning_content": "so", "content": "Yes"})
    assert chunk_events(both) == [Reasoning(0, "so"), Delta(0, "Yes")]


def test_reasoning_that_is_not_text_is_ignored():
    assert chunk_events(chunk({"reasoning": {"steps": 3}, "content": "ok"})) == [Delta(0, "ok")]


def test_usage_reads_reasoning_tokens_and_never_more_than_the_completion():
    usage = {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}
    details = {**usage, "completion_tokens_details": {"reasoning_tokens": 7}}
    too_many = {**usage, "completion_tokens_details": {"reasoning_tokens": 90}}
    nonsense = {**usage, "completion_tokens_details": {"reasoning_tokens": "lots"}}
    events = [chunk_events(json.dumps({"choices": [], "usage": u}))[0] for u in (usage, details)]
    assert [e.reasoning_tokens for e in events] == [None, 7]
    assert chunk_events(json.dumps({"choices": [], "usage": too_many}))[0].reasoning_tokens == 9
    assert chunk_events(json.dumps({"choices": [], "usage": nonsense}))[0].reasoning_tokens is None


def test_a_non_streamed_completion_carries_its_reasoning_cleaned():
    payload = {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "4", "reasoning_content": "2+2\x00"},
                "finish_reason": "stop",
            }
        ]
    }
    assert chat_result(payload).reasoning == "2+2"
    payload["choices"][0]["message"] = {"content": "4", "reasoning": "vllm says"}
    assert chat_result(payload).reasoning == "vllm says"


# --- Numbering and catch-up, in memory --------------------------------------------------


def a_turn(choices: int = 1) -> tuple[Turn, Recorder]:
    plan = TurnPlan(
        owner_id=1,
        conversation_id=uuid.uuid4(),
        model_config_id=1,
        model_name="gpt-4",
        provider=llm.ProviderSettings(base_url="http://127.0.0.1:9/v1", allow_local_network=True),
        body={},
        choices=[Choice(uuid.uuid4()) for _ in range(choices)],
        prompt_tokens=1,
        prompt_exact=True,
        omitted=0,
    )
    recorder = Recorder()
    return Turn(plan, recorder), recorder


async def test_reasoning_travels_in_the_same_numbered_deltas_as_the_answer():
    turn, sent = a_turn()
    await turn._take([Reasoning(0, "Let"), Reasoning(0, " me")])
    await turn._take([Reasoning(0, " think"), Delta(0, "Hi")])
    await turn._take([Delta(0, "!"), Finish(0, "stop")])
    frames = [(f["after"], f["seq"], f["text"], f.get("reasoning")) for f in sent.local]
    assert frames == [(0, 2, "", "Let me"), (2, 4, "Hi", " think"), (4, 5, "!", None)]


async def test_a_tab_catching_up_gets_the_reasoning_it_missed_and_a_snapshot_holds_it_all():
    turn, _sent = a_turn()
    message_id = turn.choices[0].message_id
    await turn._take([Delta(0, "first "), Reasoning(0, "late thought"), Delta(0, "then")])
    catch_up = turn.catch_up_frame(message_id, 1)
    assert (catch_up["text"], catch_up["reasoning"]) == ("then", "late thought")
    assert "reasoning" not in turn.catch_up_frame(message_id, 2)
    snapshot = turn.catch_up_frame(message_id, None)
    assert (snapshot["content"], snapshot["reasoning"], snapshot["seq"]) == (
        "first then",
        "late thought",
        3,
    )


async def test_tabs_on_other_workers_get_the_reasoning_from_their_own_position():
    turn, sent = a_turn()
    message_id = turn.choices[0].message_id
    await turn._take([Reasoning(0, "a"), Reasoning(0, "b")])
    turn.remote.add("late", message_id, 1)
    await turn._take([Delta(0, "x")])
    await turn.remote.close()
    relayed = [frame for to, frame in sent.remote if to == "late"]
    assert "".join(f.get("reasoning", "") for f in relayed) == "b"
    assert "".join(f["text"] for f in relayed) == "x"
    assert relayed[0]["after"] == 1


def test_partials_carry_the_reasoning_only_once_there_is_some():
    choice = ChoiceStream("m", prefix="", base_seq=0)
    choice.add("plain")
    assert choice.reasoning is None and choice.reasoning_text() == ""
    choice.add_reasoning("now thinking")
    choice.add(" more")
    assert [choice.reasoning_after(seq) for seq in (0, 1, 2, 3)] == [
        "now thinking",
        "now thinking",
        "",
        "",
    ]
    assert choice.text() == "plain more"


async def test_the_turns_partial_rows_include_its_reasoning():
    turn, _sent = a_turn()
    await turn._take([Reasoning(0, "thinking"), Delta(0, "Hi")])
    [row] = turn.partials()
    assert (row.content, row.seq, row.reasoning) == ("Hi", 2, "thinking")
    plain, _sent = a_turn()
    await plain._take([Delta(0, "Hi")])
    assert plain.partials()[0].reasoning is None


def test_reasoning_time_runs_from_the_first_thought_to_the_first_answer_text():
    choice = ChoiceStream("m", prefix="", base_seq=0)
    assert choice.reasoning_ms() is None
    choice.add_reasoning("hmm")
    choice.reasoning_started_at -= 2.0  # as if it began two seconds ago
    choice.add("Answer")
    first = choice.reasoning_ms()
    choice.add(" goes on")
    assert 2000 <= first == choice.reasoning_ms() < 3000


def test_reasoning_is_bounded_on_its_own_and_the_answer_still_fits():
    choice = ChoiceStream("m", prefix="", base_seq=0, limit=10)
    assert choice.add_reasoning("0123456789abc")
    assert not choice.add_reasoning("more")
    assert choice.reasoning_text() == "0123456789"
    assert choice.add("answer") and not choice.capped


# --- Whole turns through the socket ---------------------------------------------------------

pytestmark_db = pytest.mark.django_db(transaction=True)


@pytestmark_db
async def test_deepseek_reasoning_is_relayed_and_stored_apart_from_the_answer(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(reasoning=THOUGHTS, tokens=ANSWER))
    socket = await open_socket(alice)
    result = await socket.turn("Think first")
    answer = await stored(result.message_id)
    assert (answer.status, answer.content, answer.reasoning) == (
        "complete",
        "Hi!",
        "Let me **think**",
    )
    assert result.text == "Hi!"
    assert reasoning_of(socket, result.message_id) == "Let me **think**"
    assert answer.reasoning_tokens == 3 and answer.completion_tokens == 5
    assert answer.reasoning_ms is not None
    assert result.done["reasoning_ms"] == answer.reasoning_ms
    assert result.done["usage"]["reasoning_tokens"] == 3
    assert result.done["seq"] == 5  # three thoughts and two pieces of answer, one numbering


@pytestmark_db
async def test_vllm_reasoning_field_is_read_the_same_way(alice, upstream_model, fake, open_socket):
    fake.enqueue(Scenario(reasoning=THOUGHTS, reasoning_field="reasoning", tokens=ANSWER))
    result = await (await open_socket(alice)).turn("Think first")
    answer = await stored(result.message_id)
    assert (answer.content, answer.reasoning) == ("Hi!", "Let me **think**")


@pytestmark_db
async def test_reasoning_is_never_sent_back_in_later_prompts(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(reasoning=["SECRET-THOUGHT"], tokens=ANSWER), Scenario(tokens=["Ok"]))
    socket = await open_socket(alice)
    first = await socket.turn("One")
    await socket.turn("Two", conversation_id=first.conversation_id)
    later = fake.chat_requests[-1].body
    assert [m["content"] for m in later["messages"]][-3:] == ["One", "Hi!", "Two"]
    assert "SECRET-THOUGHT" not in json.dumps(later)
    assert all(set(m) <= {"role", "content", "name"} for m in later["messages"])


@pytestmark_db
async def test_an_answer_that_only_reasoned_is_left_out_of_the_next_prompt(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(reasoning=["SECRET-THOUGHT"], tokens=[], finish_reason="length"))
    fake.enqueue(Scenario(tokens=["Ok"]))
    socket = await open_socket(alice)
    first = await socket.turn("One")
    await socket.turn("Two", conversation_id=first.conversation_id)
    assert "SECRET-THOUGHT" not in json.dumps(fake.chat_requests[-1].body)


@pytestmark_db
async def test_reasoning_tokens_reach_the_ledger_inside_the_completion_not_on_top(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(reasoning=THOUGHTS, tokens=ANSWER, reasoning_tokens=30))
    result = await (await open_socket(alice)).turn("Think first")
    [row] = await usage_rows()
    assert (row.completion_tokens, row.reasoning_tokens) == (5, 5)  # capped at the completion
    assert row.total_tokens == result.done["usage"]["prompt_tokens"] + 5


@pytestmark_db
async def test_without_reported_usage_the_reasoning_is_counted_and_charged(
    alice, upstream_model, fake, open_socket
):
    thoughts = ["one two three four five six"]
    fake.enqueue(Scenario(reasoning=thoughts, tokens=["Hi"], include_usage=False))
    result = await (await open_socket(alice)).turn("Think first")
    answer = await stored(result.message_id)
    [row] = await usage_rows()
    assert answer.usage_estimated and answer.reasoning_tokens == 6
    assert answer.completion_tokens == 1 + 6
    assert (row.completion_tokens, row.reasoning_tokens) == (7, 6)


@pytestmark_db
async def test_reasoning_is_cleaned_and_bounded_like_the_answer(
    alice, upstream_model, fake, open_socket, settings
):
    settings.CHATSITE_MAX_ANSWER_CHARS = 1000
    thoughts = ["a\x00b", "\ud83d", "\ude00 ", *(["0123456789"] * 150)]
    fake.enqueue(Scenario(reasoning=thoughts, tokens=ANSWER))
    result = await (await open_socket(alice)).turn("Think a lot")
    answer = await stored(result.message_id)
    assert answer.reasoning.startswith("ab😀 0123")
    assert len(answer.reasoning) == 1000
    assert (answer.status, answer.content) == ("complete", "Hi!")


@pytestmark_db
async def test_a_tab_joining_mid_reasoning_gets_it_in_the_snapshot_and_the_message(
    alice, upstream_model, fake, open_socket
):
    thoughts = [f" t{i}" for i in range(30)]
    fake.enqueue(Scenario(reasoning=thoughts, tokens=ANSWER, delay=0.05))
    writer = await open_socket(alice)
    await writer.send_message("Think slowly")
    answer = await writer.next_of_answer()
    await writer.next_of("delta", seq=5)
    viewer = await open_socket(alice)
    await viewer.send(type="subscribe", conversation_id=answer["conversation_id"])
    await viewer.next_of("done", message_id=answer["id"])
    snapshot = next(f for f in viewer.seen if f["type"] == "snapshot")
    assert snapshot["reasoning"].startswith(" t0 t1 t2 t3 t4")
    message = next(
        f for f in viewer.seen if f["type"] == "message" and f["message"]["id"] == answer["id"]
    )
    live = message["message"]  # the answer as it runs: at least as far as the snapshot
    assert live["reasoning"].startswith(snapshot["reasoning"]) and live["seq"] >= snapshot["seq"]
    assert live["reasoning"] == "".join(thoughts[: live["seq"]])
    assert reasoning_of(viewer, answer["id"]) == "".join(thoughts)
    assert viewer.text_of(answer["id"]) == "Hi!"


@pytestmark_db
async def test_the_flusher_stores_reasoning_while_it_streams(
    alice, upstream_model, fake, open_socket, fast_streaming
):
    thoughts = [f" t{i}" for i in range(30)]
    fake.enqueue(Scenario(reasoning=thoughts, tokens=ANSWER, stall_after=30))
    socket = await open_socket(alice)
    await socket.send_message("Think, then stall")
    answer = await socket.next_of_answer()
    await socket.next_of("delta", seq=30)
    row = await flushed(answer["id"], seq=30)  # the stream stalls: only the flusher writes
    assert (row.status, row.content) == ("streaming", "")
    assert row.reasoning == "".join(thoughts)
    await socket.send(type="stop", message_id=answer["id"])
    await socket.next_of("done", message_id=answer["id"])


@pytestmark_db
def test_flush_partials_stores_reasoning_and_leaves_it_alone_when_there_is_none(alice, chat_model):
    conversation = Conversation.objects.create(owner=alice)
    question = Message.objects.create(conversation=conversation, role="user", content="Hi")
    answer = Message.objects.create(
        conversation=conversation,
        parent=question,
        role="assistant",
        status="streaming",
        reasoning="earlier",
    )
    recovery.flush_partials([(answer.pk, "text", 2)])
    answer.refresh_from_db()
    assert (answer.content, answer.reasoning) == ("text", "earlier")
    recovery.flush_partials([recovery.Partial(answer.pk, "text!", 3, "earlier, and more")])
    answer.refresh_from_db()
    assert (answer.content, answer.reasoning, answer.stream_seq) == (
        "text!",
        "earlier, and more",
        3,
    )


@pytestmark_db
def test_the_sweeper_counts_a_dead_workers_reasoning_into_its_estimate(alice, chat_model):
    conversation = Conversation.objects.create(owner=alice)
    question = Message.objects.create(conversation=conversation, role="user", content="Hi")
    answer = Message.objects.create(
        conversation=conversation,
        parent=question,
        role="assistant",
        status="streaming",
        model_name="gpt-4",
        content="Hi",
        reasoning="one two three four",
    )
    recovery.sweep_stale(stale_after=0)
    answer.refresh_from_db()
    assert (answer.status, answer.completion_tokens) == ("interrupted", 1 + 4)


# --- Exports and review ---------------------------------------------------------------


def a_reasoned_conversation(owner) -> Conversation:
    conversation = Conversation.objects.create(owner=owner, title="Sums")
    question = Message.objects.create(conversation=conversation, role="user", content="2+2?")
    answer = Message.objects.create(
        conversation=conversation,
        parent=question,
        role="assistant",
        status="complete",
        content="4",
        reasoning="Two and two\n\nmake <b>four</b>",
        reasoning_ms=3200,
        reasoning_tokens=9,
    )
    conversation.current_leaf = answer
    conversation.save()
    return conversation


def exported(format_name: str, conversation: Conversation) -> str:
    export = exports.Export(
        Conversation.objects.filter(pk=conversation.pk),
        exports.FORMATS[format_name],
        lambda batch: None,
    )
    return "".join(export)


@pytestmark_db
def test_json_and_markdown_exports_include_the_reasoning(alice):
    conversation = a_reasoned_conversation(alice)
    document = json.loads(exported("json", conversation))
    answer = document["conversations"][0]["messages"][1]
    assert answer["reasoning"] == "Two and two\n\nmake <b>four</b>"
    assert (answer["reasoning_tokens"], answer["reasoning_ms"]) == (9, 3200)
    markdown = exported("markdown", conversation)
    assert "> **Reasoning** (3 s)\n>\n> Two and two\n>\n> make <b>four</b>\n\n4\n" in markdown


@pytestmark_db
def test_the_fine_tuning_export_leaves_the_reasoning_out(alice):
    conversation = a_reasoned_conversation(alice)
    line = json.loads(exported("jsonl", conversation))
    assert line["messages"] == [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
    ]


@pytestmark_db
def test_the_review_transcript_shows_the_reasoning_collapsed_and_escaped(alice, superuser, client):
    site = SiteSettings.load()
    site.review_policy = "full"
    site.save()
    conversation = a_reasoned_conversation(alice)
    client.force_login(superuser)
    url = reverse("admin:conversations_conversation_transcript", args=[conversation.pk])
    page = client.post(url, {"reason": "checking the reasoning view"}).content.decode()
    assert '<details class="msg-reasoning"><summary>Reasoning (3 s)</summary>' in page
    assert "make &lt;b&gt;four&lt;/b&gt;" in page
    assert "<b>four</b>" not in page
