"""Reasoning across two live Daphne workers on PostgreSQL + Redis: a tab on the
other worker, following from the start or joining late, gets every word."""

import pytest

from tests.test_cluster import (  # noqa: F401  (the two-worker fixtures)
    _cluster_ready,
    conversation,
    open_tab,
    stored,
    workers,
)
from tests.test_reasoning_stream import reasoning_of


@pytest.mark.cluster
@pytest.mark.skipif(not _cluster_ready(), reason="runs in the PostgreSQL + Redis leg")
@pytest.mark.django_db(transaction=True)
async def test_tabs_on_another_worker_get_every_word_of_the_reasoning(
    workers,  # noqa: F811  (the fixtures imported above)
    open_tab,  # noqa: F811
    conversation,  # noqa: F811
):
    worker_a, worker_b = workers
    writer, follower = await open_tab(worker_a), await open_tab(worker_b)
    await follower.subscribe(conversation)
    await writer.send_message("[[fake:reasoning=200,tokens=20,delay=10]] Think", conversation)
    answer = await writer.started_answer()
    await writer.until_seq(answer["id"], 130)  # past the first flush, still reasoning
    late = await open_tab(worker_b)
    await late.send(type="subscribe", conversation_id=conversation)
    done = await writer.next_of("done", message_id=answer["id"])
    for tab in (follower, late):
        await tab.next_of("done", message_id=answer["id"])
    row = await stored(answer["id"])
    assert (row.status, done["seq"]) == ("complete", 220)
    assert len(row.reasoning) > 0 and row.content
    for tab in (writer, follower, late):
        assert tab.answer(answer["id"]).problems == []
        assert reasoning_of(tab, answer["id"]) == row.reasoning
        assert tab.answer(answer["id"]).text == row.content
    first = next(
        f for f in late.seen if f["type"] == "message" and f["message"]["id"] == answer["id"]
    )
    assert 0 < len(first["message"]["reasoning"]) < len(row.reasoning)  # stored, then deltas
