"""The relay's hot path: one frame per read, pre-encoded deltas, per-tab cursors.

The turn and its fan-out are driven directly with a recording runtime, so
each test says exactly which frames leave for which socket.
"""

import asyncio
import json
import uuid

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import frames, llm
from conversations.llm import Delta, Finish
from conversations.turn import TurnRequest, start_turn
from conversations.turn.plan import Choice, TurnPlan
from conversations.turn.runtime import WorkerRuntime
from conversations.turn.stream import ChoiceStream, Turn
from conversations.upstream import provider_settings
from tests.fakeupstream import Scenario


class Recorder:
    """Stands in for the hub: keeps what the turn sends, in order."""

    coalesce_interval = 0.0

    def __init__(self) -> None:
        self.local: list[dict] = []
        self.remote: list[tuple[str, dict]] = []

    async def send_local(self, conversation_id: str, text: str) -> None:
        self.local.append(json.loads(text))

    async def send_remote(self, channels: set[str], text: str) -> None:
        self.remote += [(channel, json.loads(text)) for channel in channels]


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


def followed(received: list[dict], seq: int = 0) -> tuple[str, int]:
    """Text and seq from `seq` on, by the rules of docs/protocol.md; a gap or overlap fails."""
    text = ""
    for frame in received:
        assert frame["after"] == seq, f"gap or overlap: {frame} after {seq}"
        text, seq = text + frame["text"], frame["seq"]
    return text, seq


def test_a_delta_built_from_its_template_is_the_encoded_frame():
    head = frames.delta_head("c-1", "m-1")
    for text in ["plain", 'quote " and \\ backslash', "line\nbreak", "café 日本 👋", "\u2028"]:
        expected = frames.encode(frames.delta_frame("c-1", "m-1", 4, 7, text))
        assert frames.delta_text(head, 4, 7, text) == expected


async def test_deltas_that_arrive_in_one_read_go_out_as_one_frame():
    turn, sent = a_turn()
    await turn._take([Delta(0, "Hel"), Delta(0, "lo"), Delta(0, ",")])
    await turn._take([Delta(0, " you"), Finish(0, "stop")])
    assert [(f["after"], f["seq"], f["text"]) for f in sent.local] == [
        (0, 3, "Hello,"),
        (3, 4, " you"),
    ]
    assert turn.choices[0].finish_reason == "stop"


async def test_each_choice_gets_its_own_frame_per_read():
    turn, sent = a_turn(choices=2)
    await turn._take([Delta(0, "a"), Delta(1, "x"), Delta(0, "b"), Delta(1, "y")])
    by_message = {f["message_id"]: f["text"] for f in sent.local}
    assert by_message == {turn.choices[0].message_id: "ab", turn.choices[1].message_id: "xy"}


async def test_text_before_a_bad_chunk_in_the_same_read_is_still_relayed():
    turn, sent = a_turn()
    with pytest.raises(llm.ProtocolError):
        await turn._take([Delta(0, "kept"), Delta(3, "never asked for")])
    assert [(f["seq"], f["text"]) for f in sent.local] == [(1, "kept")]


def test_a_choice_keeps_every_delta_boundary_after_compaction():
    choice = ChoiceStream("m", prefix="Once", base_seq=2)
    for part in [" upon", " a", " time"]:
        choice.add(part)
    assert choice.text() == "Once upon a time"  # compacts
    choice.add(",")
    assert choice.seq == 6
    assert [choice.text_after(seq) for seq in (2, 4, 5, 6)] == [" upon a time,", " time,", ",", ""]


async def test_tabs_on_other_workers_each_follow_from_their_own_position():
    turn, sent = a_turn()
    message_id = turn.choices[0].message_id
    await turn._take([Delta(0, "one"), Delta(0, " two")])
    turn.remote.add("early", message_id, 0)
    await turn.remote.close()
    await turn._take([Delta(0, " three")])
    turn.remote.add("late", message_id, 1)  # it had "one" from the stored message
    await turn._take([Delta(0, " four")])
    await turn.remote.close()
    early = [frame for to, frame in sent.remote if to == "early"]
    late = [frame for to, frame in sent.remote if to == "late"]
    assert followed(early) == ("one two three four", 4)
    assert followed(late, seq=1) == (" two three four", 4)


async def test_the_control_loop_ends_when_a_library_turns_its_cancellation_into_an_error():
    class Layer:
        async def receive(self, channel):
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                raise ConnectionError("read interrupted") from None

    runtime = WorkerRuntime()
    runtime.hub.layer = Layer()
    listening = asyncio.create_task(runtime._listen())
    await asyncio.sleep(0)
    listening.cancel()
    done, _pending = await asyncio.wait([listening], timeout=1)
    assert done == {listening}


@pytest.mark.django_db(transaction=True)
async def test_a_tab_asking_to_follow_an_ended_answer_gets_the_stored_answer(
    alice, upstream_model, fake, open_socket, runtime
):
    fake.enqueue(Scenario(tokens=["All", " done"]))
    socket = await open_socket(alice)
    result = await socket.turn("Hello")
    tab = await runtime.hub.layer.new_channel()
    control = {"type": "turn.watch", "message_id": result.message_id, "reply_channel": tab}
    await runtime._handle(control)
    relayed = await asyncio.wait_for(runtime.hub.layer.receive(tab), 2)
    frame = json.loads(relayed["text"])
    assert frame["type"] == "message"
    assert (frame["message"]["content"], frame["message"]["status"]) == ("All done", "complete")


@pytest.mark.django_db
def test_the_upstream_transport_comes_from_the_settings(upstream_model, settings):
    settings.LLM_TRANSPORT = "httpcore"
    assert provider_settings(upstream_model.provider).transport == "httpcore"


@pytest.mark.django_db(transaction=True)
async def test_a_turn_in_a_new_conversation_starts_with_few_queries(alice, upstream_model):
    """What runs before the upstream call sets the time to first token (bench/README.md)."""
    request = TurnRequest(kind="send", content="Hi", client_id="q-1")

    def start():
        with CaptureQueriesContext(connection) as queries:
            start_turn(user=alice, worker="w", request=request)
        return queries

    queries = await database_sync_to_async(start)()
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) <= 15, "\n".join(statements)


@pytest.mark.django_db(transaction=True)
async def test_a_tab_joining_a_running_turn_without_a_cursor_is_told_its_messages(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(tokens=[f" w{i}" for i in range(40)], delay=0.05))
    writer = await open_socket(alice)
    await writer.send_message("Talk")
    answer = await writer.next_of_answer()
    await writer.next_of("delta", seq=3)
    viewer = await open_socket(alice)
    await viewer.send(type="subscribe", conversation_id=answer["conversation_id"])
    await viewer.next_of("subscribed")
    snapshot, question, running = viewer.seen[:3]
    assert (question["message"]["content"], question["message"]["role"]) == ("Talk", "user")
    assert running["message"]["id"] == answer["id"]
    assert (running["message"]["content"], running["message"]["seq"]) == (
        snapshot["content"],
        snapshot["seq"],
    )
    assert "worker" not in running["message"]
    await writer.send(type="stop", message_id=answer["id"])
    await writer.next_of("done")
