"""Automatic titles: a short upstream call after the first answer, else the first words."""

import pytest
from channels.db import database_sync_to_async

from conversations.models import Conversation
from conversations.turn.titles import clean_title, first_words
from tests.fakeupstream import Scenario

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def titles_by_model(settings):
    settings.CHATSITE_AUTO_TITLES = "model"


async def test_the_model_names_the_conversation_after_the_first_answer(
    alice, upstream_model, fake, titles_by_model, open_socket
):
    fake.enqueue(Scenario(tokens=["Paris", " is", " lovely"]))
    fake.enqueue(Scenario(tokens=['"Trip', " to", ' Paris"']))
    socket = await open_socket(alice)
    result = await socket.turn("Plan a weekend in Paris please")
    frame = await socket.next_of("conversation")
    assert frame["conversation"]["title"] == "Trip to Paris"
    title_request = fake.chat_requests[-1].body
    assert title_request.get("stream") is not True
    assert title_request["max_tokens"] == 24
    stored = await database_sync_to_async(Conversation.objects.get)(pk=result.conversation_id)
    assert stored.title == "Trip to Paris"


async def test_when_the_title_call_fails_the_first_words_are_used(
    alice, upstream_model, fake, titles_by_model, open_socket
):
    fake.enqueue(Scenario(tokens=["Sure"]), Scenario(error="server_error"))
    fake.enqueue(Scenario(error="server_error"), Scenario(error="server_error"))
    socket = await open_socket(alice)
    await socket.turn("Summarise the meeting notes from Tuesday about the budget review")
    frame = await socket.next_of("conversation", timeout=15)
    assert frame["conversation"]["title"] == "Summarise the meeting notes from Tuesday about the…"


async def test_a_title_the_user_set_is_never_replaced(
    alice, upstream_model, fake, titles_by_model, open_socket
):
    conversation = await database_sync_to_async(Conversation.objects.create)(
        owner=alice, title="Mine"
    )
    socket = await open_socket(alice)
    await socket.turn("Hello", conversation_id=conversation.id)
    assert await socket.nothing_more(0.5)
    assert len(fake.chat_requests) == 1
    stored = await database_sync_to_async(Conversation.objects.get)(pk=conversation.id)
    assert stored.title == "Mine"


def test_titles_are_cleaned_of_quotes_prefixes_and_full_stops():
    assert clean_title('Title: "Weekend in Paris."\nmore') == "Weekend in Paris"
    assert clean_title("标题：巴黎周末。") == "巴黎周末"
    assert first_words("短问题") == "短问题"
