"""POST /api/tokens/count: the composer's context gauge."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from conversations.models import Conversation, Message

URL = "/api/tokens/count"


def post(client, body) -> tuple[int, dict]:
    response = client.post(URL, json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


def test_it_counts_messages_as_the_api_reports_them(client, alice, chat_model):
    client.force_login(alice)
    status, body = post(
        client, {"model": chat_model.pk, "messages": [{"role": "user", "content": "Hello!"}]}
    )
    assert status == 200
    assert body == {
        "prompt_tokens": 9,
        "exact": True,
        "encoding": "cl100k_base",
        "context_window": 8192,
        "max_output_tokens": None,
    }


def test_it_counts_a_developer_message_like_a_system_message(client, alice, chat_model):
    client.force_login(alice)
    counts = []
    for role in ("system", "developer"):
        body = {"model": chat_model.pk, "messages": [{"role": role, "content": "Be brief."}]}
        status, answer = post(client, body)
        assert status == 200
        counts.append(answer["prompt_tokens"])
    assert counts[0] == counts[1]


def test_it_counts_a_conversation_plus_the_draft(client, alice, chat_model, persona):
    conversation = Conversation.objects.create(owner=alice, persona=persona, model=chat_model)
    question = Message.objects.create(conversation=conversation, role="user", content="Hello!")
    conversation.current_leaf = question
    conversation.save()
    client.force_login(alice)
    status, body = post(client, {"conversation_id": str(conversation.id), "draft": "Hello!"})
    expected = post(
        client,
        {
            "model": chat_model.pk,
            "messages": [
                {"role": "system", "content": "Talk like a pirate."},
                {"role": "user", "content": "Hello!"},
                {"role": "user", "content": "Hello!"},
            ],
        },
    )[1]["prompt_tokens"]
    assert (status, body["prompt_tokens"]) == (200, expected)


def test_another_users_conversation_is_not_found(client, alice, bob, chat_model):
    conversation = Conversation.objects.create(owner=alice)
    client.force_login(bob)
    status, body = post(client, {"conversation_id": str(conversation.id), "draft": "hi"})
    assert (status, body["error"]["code"]) == (404, "not_found")


def test_it_needs_a_signed_in_user(client, chat_model):
    response = client.post(URL, "{}", content_type="application/json")
    assert response.status_code == 302


def test_it_refuses_oversized_bodies(client, alice, chat_model):
    client.force_login(alice)
    huge = {"model": chat_model.pk, "messages": [{"role": "user", "content": "x" * 3_000_000}]}
    status, body = post(client, huge)
    assert (status, body["error"]["code"]) == (413, "too_large")


@pytest.mark.parametrize(
    "payload",
    [[], {"messages": "hi"}, {"messages": [{"role": "robot", "content": "x"}]}, {"model": "x"}],
)
def test_it_answers_bad_input_with_a_json_error(client, alice, chat_model, payload):
    client.force_login(alice)
    status, body = post(client, payload)
    assert status in (400, 404)
    assert body["error"]["message"]


def test_the_sweep_command_interrupts_every_streaming_answer_with_all(alice):
    conversation = Conversation.objects.create(owner=alice)
    question = Message.objects.create(conversation=conversation, role="user", content="hi")
    from django.utils import timezone

    answer = Message.objects.create(
        conversation=conversation,
        parent=question,
        role="assistant",
        status="streaming",
        content="half",
        heartbeat=timezone.now(),
    )
    out = StringIO()
    call_command("sweep_streams", stdout=out)
    assert Message.objects.get(pk=answer.pk).status == "streaming"  # its worker may be alive
    call_command("sweep_streams", "--all", stdout=out)
    answer.refresh_from_db()
    assert (answer.status, answer.content) == ("interrupted", "half")
