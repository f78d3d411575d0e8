"""Continue: the rest of a cut-off answer joined as the model meant it, or extended in place."""

import pytest
from channels.db import database_sync_to_async

from conversations.llm import Delta, Finish, StreamInterrupted, Usage
from conversations.models import Message, Provider
from conversations.turn.prompt import CONTINUE_INSTRUCTION
from conversations.turn.seam import Seam, join, mended_stream
from tests.fakeupstream import Scenario

JOINS = [
    # (the answer so far, what the model wrote next, the answer joined)
    ("Once upon", " a time", "Once upon a time"),
    ("for the most", "One day", "for the most One day"),  # the seam the issue saw
    ("It ended.", "Then it began", "It ended. Then it began"),
    ("Once upon", "a time", "Once upon a time"),  # a finished word, then a new one
    ("I knew that", "that was it", "I knew that that was it"),  # a short repeat is meant
    ("an extraordi", "nary day", "an extraordinary day"),  # a word cut mid-way
    ("the mo", "st of all", "the most of all"),
    ("café crè", "me brûlée", "café crème brûlée"),
    ("The door opened", "The door opened slowly.", "The door opened slowly."),
    ("He said: the door opened", " the door opened slowly", "He said: the door opened slowly"),
    ("the most", "the most important", "the most important"),
    ("Once upon a time, there", "Once upon a time, there lived", "Once upon a time, there lived"),
    ("an extraordi", "an extraordinary day", "an extraordinary day"),  # restarts the word
    ("Hello ", " world", "Hello world"),
    ("Line one\n", "Line two", "Line one\nLine two"),
    ("从前有座山，", "山里有座庙", "从前有座山，山里有座庙"),
    ("```python\nx = get", "Value()", "```python\nx = getValue()"),  # code is joined as is
    ("Price: 3.", "14 euros", "Price: 3.14 euros"),
    ("", "Fresh start", "Fresh start"),
    ("Done.", "", "Done."),
]


@pytest.mark.parametrize(("prefix", "continuation", "joined"), JOINS)
def test_a_continuation_is_joined_as_the_model_meant_it(prefix, continuation, joined):
    assert prefix + join(prefix, continuation) == joined


@pytest.mark.parametrize(("prefix", "continuation", "joined"), JOINS)
def test_the_join_is_the_same_however_the_continuation_streams_in(prefix, continuation, joined):
    for cut in range(1, len(continuation)):
        seam = Seam(prefix)
        pieces = [continuation[:cut], continuation[cut:]]
        assert prefix + "".join(seam.feed(p) for p in pieces) + seam.finish() == joined


def test_text_that_cannot_be_a_repeat_passes_at_once():
    seam = Seam("The door opened")
    assert seam.feed(" and a cat came in") == " and a cat came in"
    assert seam.feed(" too.") == " too."


def test_a_possible_restart_is_held_until_it_is_one():
    seam = Seam("The door opened")
    assert seam.feed("The door") == ""
    assert seam.feed(" opened wide") == " wide"


async def test_the_stream_is_mended_and_held_text_comes_before_the_finish():
    async def batches():
        yield [Delta(0, "The door")]
        yield [Delta(0, " opened")]
        yield [Finish(0, "stop"), Usage(1, 2, 3)]

    out = [batch async for batch in mended_stream(batches(), "The door opened")]
    assert out == [[Finish(0, "stop"), Usage(1, 2, 3)]]  # all of it a repeat: nothing added

    async def more():
        yield [Delta(0, "a")]
        yield [Delta(0, " time"), Finish(0, "stop")]

    out = [batch async for batch in mended_stream(more(), "Once upon")]
    assert out == [[Delta(0, " a time"), Finish(0, "stop")]]


async def test_held_text_is_kept_when_the_stream_breaks():
    async def batches():
        yield [Delta(0, "Lorem")]
        raise StreamInterrupted()

    out = []
    with pytest.raises(StreamInterrupted):
        async for batch in mended_stream(batches(), "ipsum dolor sit"):
            out.append(batch)
    assert out == [[Delta(0, " Lorem")]]


# --- End to end -----------------------------------------------------------------------

needs_db = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def stored(message_id) -> Message:
    return Message.objects.get(pk=message_id)


@database_sync_to_async
def continues_in_place(model) -> None:
    Provider.objects.filter(pk=model.provider_id).update(continue_final_message=True)


async def truncated_answer(socket, fake, tokens):
    fake.enqueue(Scenario(tokens=tokens, finish_reason="length"))
    first = await socket.turn("Tell a story")
    assert first.status == "truncated"
    return first


async def continue_answer(socket, first, continuation):
    socket.fake.enqueue(Scenario(tokens=continuation))
    await socket.send(type="continue", message_id=first.message_id, client_id="more")
    return await socket.next_of("done", message_id=first.message_id, status="complete")


@needs_db
async def test_a_restarting_continuation_is_trimmed_and_spaced(
    alice, upstream_model, fake, open_socket
):
    socket = await open_socket(alice)
    socket.fake = fake
    first = await truncated_answer(socket, fake, ["It", " was", " for", " the", " most"])
    await continue_answer(socket, first, ["for the", " most", " part", " quiet.", " One", " day"])
    row = await stored(first.message_id)
    assert row.content == "It was for the most part quiet. One day"
    assert socket.text_of(first.message_id) == row.content  # the tab saw the same text
    messages = fake.chat_requests[-1].body["messages"]
    assert messages[-2] == {"role": "assistant", "content": "It was for the most"}
    assert messages[-1] == {"role": "user", "content": CONTINUE_INSTRUCTION}
    assert "continue_final_message" not in fake.chat_requests[-1].body


@needs_db
async def test_a_missing_space_after_a_finished_word_is_put_back(
    alice, upstream_model, fake, open_socket
):
    socket = await open_socket(alice)
    socket.fake = fake
    first = await truncated_answer(socket, fake, ["Once", " upon", " a", " time", " there", " was"])
    await continue_answer(socket, first, ["a", " king", "."])
    assert (await stored(first.message_id)).content == "Once upon a time there was a king."


@needs_db
async def test_a_server_that_continues_in_place_is_asked_to_and_joined_exactly(
    alice, upstream_model, fake, open_socket
):
    await continues_in_place(upstream_model)
    socket = await open_socket(alice)
    socket.fake = fake
    first = await truncated_answer(socket, fake, ["An", " extraordi"])
    await continue_answer(socket, first, ["nary", " day"])
    assert (await stored(first.message_id)).content == "An extraordinary day"
    body = fake.chat_requests[-1].body
    assert body["continue_final_message"] is True
    assert body["add_generation_prompt"] is False
    assert body["messages"][-1] == {"role": "assistant", "content": "An extraordi"}
    assert [r.status for r in fake.chat_requests] == [200, 200]  # the fake's vLLM checks passed


@needs_db
async def test_in_place_continuation_is_not_mended(alice, upstream_model, fake, open_socket):
    await continues_in_place(upstream_model)
    socket = await open_socket(alice)
    socket.fake = fake
    first = await truncated_answer(socket, fake, ["Call", " get"])
    await continue_answer(socket, first, ["Value", "()"])
    assert (await stored(first.message_id)).content == "Call getValue()"
