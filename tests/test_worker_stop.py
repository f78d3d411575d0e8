"""A worker that is stopped (SIGTERM: a deploy, systemctl stop) ends its answers first;
one that is killed has its answers swept by a worker that just started."""

import asyncio
import signal

import pytest
from channels.db import database_sync_to_async
from django.db import connections

from conversations.models import Message
from tests.cluster.tabs import tab_on_a_live_worker
from tests.fakeupstream import Scenario
from tests.livedaphne import LiveDaphne, app_env

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_stopped_worker_stores_its_running_answers_as_interrupted(
    alice, upstream_model, fake
):
    fake.enqueue(Scenario(tokens=[f" w{i}" for i in range(400)], delay=0.02))
    async with tab_on_a_live_worker(alice) as (worker, tab):
        await tab.send_message("Talk for a while")
        answer = await tab.started_answer()
        await tab.until_seq(answer["id"], 20)
        worker.process.send_signal(signal.SIGTERM)
        worker.process.wait(15)
    stored = await database_sync_to_async(Message.objects.get)(pk=answer["id"])
    assert stored.status == "interrupted"
    assert stored.error_code == "interrupted"
    assert stored.content.startswith(tab.answer(answer["id"]).text)  # nothing it showed is lost
    assert await database_sync_to_async(Message.objects.filter(role="user").count)() == 1


async def test_a_worker_that_gets_no_request_sweeps_a_killed_workers_answer(
    alice, upstream_model, fake, fast_streaming
):
    fake.enqueue(Scenario(tokens=[f" w{i}" for i in range(2000)], delay=0.02))
    async with tab_on_a_live_worker(alice) as (first, tab):
        await tab.send_message("Talk for a while")
        answer = await tab.started_answer()
        await tab.until_seq(answer["id"], 20)
        first.kill()
    # A restarted worker that nobody has asked anything yet.
    second = LiveDaphne(app_env()).start(request=False)
    try:
        stored = await _status_within(answer["id"], "interrupted", within=15)
    finally:
        second.stop()
        await database_sync_to_async(connections.close_all)()
    assert (stored.status, stored.error_code) == ("interrupted", "worker_lost")
    assert stored.content.startswith(" w0 w1")


async def _status_within(message_id, status: str, within: float) -> Message:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        stored = await database_sync_to_async(Message.objects.get)(pk=message_id)
        if stored.status == status or loop.time() > deadline:
            return stored
        await asyncio.sleep(0.2)
