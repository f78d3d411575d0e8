"""Two Daphne workers on one PostgreSQL + Redis: a turn on one, tabs on both.

Real processes, real sockets: worker A and worker B are `daphne` subprocesses
on the test database, the tabs are aiohttp websocket clients, the model is the
local fake upstream. Tabs assemble answers by the seq/after rules of
docs/protocol.md and record every gap or duplicate they meet.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connections

from conversations.models import Conversation, Message
from tests.cluster.seed import session_cookie
from tests.cluster.tabs import Tab
from tests.fakeupstream import generated_tokens
from tests.livedaphne import LiveDaphne, app_env


def _cluster_ready() -> bool:
    engine = settings.DATABASES["default"]["ENGINE"]
    return "postgresql" in engine and bool(settings.REDIS_URL)


pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not _cluster_ready(), reason="runs in the PostgreSQL + Redis leg"),
    pytest.mark.django_db(transaction=True),
]

# Fast heartbeats so the sweeper of a survivor acts within a few seconds; the
# flush interval stays the product's default (what a hard kill may lose).
WORKER_ENV = {"CHATSITE_STALE_AFTER": "2", "CHATSITE_HEARTBEAT_INTERVAL": "0.5"}
FLUSH_INTERVAL = 1.0


def reply(tokens: int) -> str:
    return "".join(generated_tokens(tokens))


@pytest.fixture
def workers(upstream_model):
    """Worker A and worker B, started side by side, stopped after the test."""
    pair = [LiveDaphne(app_env(**WORKER_ENV)) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(LiveDaphne.start, pair))
    yield pair
    for worker in pair:
        worker.stop()


@pytest.fixture
async def open_tab(alice):
    """`tab = await open_tab(worker)`: a signed-in tab of alice's on that worker."""
    cookie = await database_sync_to_async(session_cookie)(alice)
    session = aiohttp.ClientSession()
    tabs = []

    async def connect(worker: LiveDaphne) -> Tab:
        headers = {"Cookie": cookie, "Origin": worker.url}
        tab = Tab(await session.ws_connect(worker.ws_url, headers=headers, heartbeat=None))
        tabs.append(tab)
        return tab

    yield connect
    for tab in tabs:
        await tab.ws.close()
    await session.close()
    # The database thread keeps its connection; the test database must be droppable.
    await database_sync_to_async(connections.close_all)()


@pytest.fixture
async def conversation(alice) -> str:
    created = await database_sync_to_async(Conversation.objects.create)(owner=alice)
    return str(created.id)


@database_sync_to_async
def stored(message_id: str) -> Message:
    return Message.objects.get(pk=message_id)


async def subscribed(tab: Tab, conversation_id: str) -> None:
    await tab.subscribe(conversation_id)


async def test_a_tab_on_another_worker_follows_the_stream_live(workers, open_tab, conversation):
    worker_a, worker_b = workers
    writer, follower = await open_tab(worker_a), await open_tab(worker_b)
    await subscribed(follower, conversation)
    await writer.send_message("[[fake:tokens=120,delay=5]] Talk", conversation)
    answer = await writer.started_answer()
    done_a = await writer.next_of("done", message_id=answer["id"])
    done_b = await follower.next_of("done", message_id=answer["id"])
    a, b = writer.answer(answer["id"]), follower.answer(answer["id"])
    assert (a.problems, b.problems) == ([], [])
    assert a.text == b.text == reply(120)
    assert done_a == done_b
    assert (done_b["status"], done_b["seq"]) == ("complete", 120)


async def test_stop_on_another_worker_stops_the_turn(workers, open_tab, conversation):
    worker_a, worker_b = workers
    writer, follower = await open_tab(worker_a), await open_tab(worker_b)
    await subscribed(follower, conversation)
    await writer.send_message("[[fake:tokens=400,delay=10]] Talk", conversation)
    answer = await writer.started_answer()
    await follower.until_seq(answer["id"], 20)
    await follower.send(type="stop", message_id=answer["id"])
    done_b = await follower.next_of("done", message_id=answer["id"])
    done_a = await writer.next_of("done", message_id=answer["id"])
    assert done_a["status"] == done_b["status"] == "stopped"
    row = await stored(answer["id"])
    a, b = writer.answer(answer["id"]), follower.answer(answer["id"])
    assert (a.problems, b.problems) == ([], [])
    assert row.status == "stopped"
    assert row.content == a.text == b.text
    assert 20 <= row.stream_seq == done_a["seq"] < 400
    assert reply(400).startswith(row.content)


async def test_a_tab_joining_on_another_worker_gets_the_text_so_far_then_follows(
    workers, open_tab, conversation
):
    worker_a, worker_b = workers
    writer = await open_tab(worker_a)
    await writer.send_message("[[fake:tokens=250,delay=10]] Talk", conversation)
    answer = await writer.started_answer()
    await writer.until_seq(answer["id"], 130)  # past the first flush
    late = await open_tab(worker_b)
    await late.send(type="subscribe", conversation_id=conversation)
    done = await late.next_of("done", message_id=answer["id"])
    first = next(f for f in late.seen if answer["id"] in (f.get("message_id"), _id(f)))
    assert first["type"] == "message"  # the text last stored, then the deltas after it
    assert first["message"]["seq"] > 0
    assert reply(250).startswith(first["message"]["content"])
    asked = [f for f in late.seen if f["type"] == "message" and _id(f) == answer["parent_id"]]
    assert asked, "the tab was told which message the answer replies to"
    joined = late.answer(answer["id"])
    assert joined.problems == []
    assert joined.text == reply(250)
    assert done["seq"] == 250


def _id(frame: dict) -> str | None:
    return frame["message"]["id"] if frame["type"] == "message" else frame.get("id")


async def test_a_killed_worker_loses_at_most_a_second_and_another_takes_over(
    workers, open_tab, conversation
):
    worker_a, worker_b = workers
    writer, follower = await open_tab(worker_a), await open_tab(worker_b)
    await subscribed(follower, conversation)
    await writer.send_message("[[fake:tokens=1000,delay=10]] Talk", conversation)
    answer = await writer.started_answer()
    await writer.until_seq(answer["id"], 150)
    await asyncio.to_thread(worker_a.kill)
    seen = writer.answer(answer["id"])
    done = await follower.next_of("done", message_id=answer["id"], timeout=10)
    assert (done["status"], done["error"]["code"]) == ("interrupted", "worker_lost")
    row = await stored(answer["id"])
    assert row.status == "interrupted"
    assert seen.text.startswith(row.content)
    lost = seen.seq - row.stream_seq  # 10 ms per token: 100 tokens a second
    assert 0 <= lost <= 100 * FLUSH_INTERVAL + 20  # + the time a flush itself takes
    question = await database_sync_to_async(Message.objects.get)(pk=answer["parent_id"])
    assert question.content == "[[fake:tokens=1000,delay=10]] Talk"
    assert follower.answer(answer["id"]).problems == []

    await follower.send_message("[[fake:tokens=5]] Again", conversation)
    again = await follower.started_answer()
    finished = await follower.next_of("done", message_id=again["id"])
    assert (finished["status"], follower.answer(again["id"]).text) == ("complete", reply(5))
