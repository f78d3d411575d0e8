"""The gauge counts what the next send would really use, and says what it leaves out."""

import json

from conversations.models import Conversation, Message

URL = "/api/tokens/count"


def count(client, conversation, draft="") -> dict:
    body = {"conversation_id": str(conversation.id), "draft": draft}
    response = client.post(URL, json.dumps(body), content_type="application/json")
    assert response.status_code == 200
    return response.json()


def long_conversation(owner, model, turns: int) -> Conversation:
    conversation = Conversation.objects.create(owner=owner, model=model)
    parent = None
    for index in range(turns):
        for role, status in (("user", "sent"), ("assistant", "complete")):
            parent = Message.objects.create(
                conversation=conversation,
                role=role,
                status=status,
                parent=parent,
                content=f"word {index} " * 300,
            )
    conversation.current_leaf = parent
    conversation.save()
    return conversation


def test_it_counts_only_the_messages_that_fit_and_says_how_many_are_left_out(
    client, alice, chat_model
):
    chat_model.context_window = 2048
    chat_model.save()
    client.force_login(alice)
    body = count(client, long_conversation(alice, chat_model, turns=6))
    assert body["fits"] is True
    assert body["omitted"] > 0
    assert body["prompt_tokens"] <= body["context_window"]


def test_nothing_is_left_out_of_a_short_conversation(client, alice, chat_model):
    client.force_login(alice)
    body = count(client, long_conversation(alice, chat_model, turns=1), draft="Hello")
    assert (body["fits"], body["omitted"]) == (True, 0)


def test_a_draft_too_long_for_the_window_is_reported_as_not_fitting(client, alice, chat_model):
    chat_model.context_window = 1024
    chat_model.save()
    client.force_login(alice)
    conversation = long_conversation(alice, chat_model, turns=1)
    body = count(client, conversation, draft="many words " * 2000)
    assert body["fits"] is False
    assert body["prompt_tokens"] > body["context_window"] - 512
    assert "too long" in body["message"]
