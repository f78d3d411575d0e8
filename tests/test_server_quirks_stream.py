"""What real servers stream back: llama.cpp's empty 200 for a prompt over its
window, and servers that ignore `n`."""

from contextlib import aclosing

import pytest
from channels.db import database_sync_to_async

from conversations import llm
from conversations.models import Message, ModelConfig
from tests.fakeupstream import Scenario

pytestmark = pytest.mark.django_db(transaction=True)

EMPTY_MESSAGE = "The model returned nothing — the conversation may be too long for it."
ONE_AT_A_TIME = "This model gives one answer at a time: only the first answer was generated."


@database_sync_to_async
def stored(message_id) -> Message:
    return Message.objects.get(pk=message_id)


@database_sync_to_async
def supports_n(model: ModelConfig) -> bool:
    return ModelConfig.objects.get(pk=model.pk).supports_n


async def events_of(fake, scenario: Scenario) -> list:
    fake.enqueue(scenario)
    client = llm.LLMClient(llm.ProviderSettings(base_url=fake.base_url, allow_local_network=True))
    body = {"model": "gpt-4", "messages": [{"role": "user", "content": "Hi"}]}
    seen = []
    try:
        async with aclosing(client.stream_chat(body)) as events:
            async for event in events:
                seen.append(event)
    finally:
        await client.aclose()
    return seen


# --- An empty 200 stream ------------------------------------------------------------------


@pytest.mark.parametrize("empty", ["done", "close"])
async def test_an_empty_stream_is_an_empty_answer_not_an_interruption(fake, empty):
    with pytest.raises(llm.EmptyAnswer) as raised:
        await events_of(fake, Scenario(empty=empty))
    assert raised.value.code == "empty_answer"


async def test_a_stream_cut_after_some_text_is_still_an_interruption(fake):
    with pytest.raises(llm.StreamInterrupted):
        await events_of(fake, Scenario(tokens=["One", " two"], cut_after=1))


async def test_a_stream_cut_after_reasoning_alone_is_an_interruption_too(fake):
    with pytest.raises(llm.StreamInterrupted):
        await events_of(fake, Scenario(reasoning=["Hmm"], tokens=["One"], cut_after=1))


async def test_a_finish_without_text_is_an_empty_complete_answer_not_an_error(fake):
    events = await events_of(fake, Scenario(tokens=[]))
    assert llm.Finish(0, "stop") in events


@pytest.mark.parametrize("directive", ["empty", "empty_close"])
async def test_the_tab_is_told_the_model_returned_nothing(
    alice, upstream_model, fake, open_socket, directive
):
    result = await (await open_socket(alice)).turn(f"A very long prompt [[fake:{directive}]]")
    answer = await stored(result.message_id)
    assert (answer.status, answer.error_code, answer.content) == ("error", "empty_answer", "")
    assert answer.error_message == EMPTY_MESSAGE
    assert result.done["status"] == "error"
    assert result.done["error"] == {"code": "empty_answer", "message": EMPTY_MESSAGE}
    assert len(fake.chat_requests) == 1  # not retried: the same prompt would fail the same way


async def test_an_empty_answer_is_noted_on_the_provider_for_staff(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(empty="done"))
    await (await open_socket(alice)).turn("Hello")
    provider = await database_sync_to_async(
        lambda: ModelConfig.objects.select_related("provider").get(pk=upstream_model.pk).provider
    )()
    assert provider.last_error_code == "empty_answer"


# --- A server that ignores n ----------------------------------------------------------------


async def answers_to(socket, count: int, **send) -> list[dict]:
    await socket.send_message("Hello", **send)
    answers = [await socket.next_of_answer() for _ in range(count)]
    return [await socket.next_of("done", message_id=a["id"]) for a in answers]


async def test_siblings_a_server_never_started_end_explained_and_the_model_learns(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(tokens=["Only", " one"], one_choice=True))
    first, second = await answers_to(await open_socket(alice), 2, params={"n": 2})
    assert (first["status"], first["error"]) == ("complete", None)
    assert (await stored(first["message_id"])).content == "Only one"
    assert second["status"] == "error"
    assert second["error"] == {"code": "n_unsupported", "message": ONE_AT_A_TIME}
    row = await stored(second["message_id"])
    assert (row.status, row.error_code, row.content) == ("error", "n_unsupported", "")
    assert await supports_n(upstream_model) is False


async def test_a_server_that_answers_every_choice_keeps_supporting_n(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(tokens=["Hi"]))
    dones = await answers_to(await open_socket(alice), 2, params={"n": 2})
    assert [d["status"] for d in dones] == ["complete", "complete"]
    assert await supports_n(upstream_model) is True


async def test_siblings_of_a_stream_cut_short_stay_interrupted_not_blamed_on_n(
    alice, upstream_model, fake, open_socket
):
    fake.enqueue(Scenario(tokens=["Only", " one", " more"], one_choice=True, cut_after=2))
    first, second = await answers_to(await open_socket(alice), 2, params={"n": 2})
    assert [first["status"], second["status"]] == ["interrupted", "interrupted"]
    assert await supports_n(upstream_model) is True
