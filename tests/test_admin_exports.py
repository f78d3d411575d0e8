"""Exports: fine-tuning JSONL, Markdown and JSON, streamed, audited, under the policy."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission, User

from conversations import exports
from conversations.models import AuditEntry, Conversation, Message, SiteSettings
from tests.conftest import PASSWORD

FINE_TUNING_ROLES = ("system", "user", "assistant")
MESSAGE_KEYS = {"role", "content", "name", "weight"}


def site(policy="full", prompt="") -> None:
    settings = SiteSettings.load()
    settings.review_policy, settings.system_prompt = policy, prompt
    settings.save()


def exporter(*extra: str) -> User:
    user = User.objects.create_user("exporter", password=PASSWORD, is_staff=True)
    codenames = ("view_conversation", "export_conversation", *extra)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def say(conversation, parent, role, content, status=None) -> Message:
    status = status or ("sent" if role == "user" else "complete")
    message = Message.objects.create(
        conversation=conversation, parent=parent, role=role, content=content, status=status
    )
    conversation.current_leaf = message
    conversation.save()
    return message


def conversation_with_branches(owner, persona=None, title="Travel") -> Conversation:
    conversation = Conversation.objects.create(owner=owner, title=title, persona=persona)
    q1 = say(conversation, None, "user", "Where to in May?")
    say(conversation, q1, "assistant", "Oslo.")  # regenerated: not on the thread
    a1 = say(conversation, q1, "assistant", "Lisbon.")
    q2 = say(conversation, a1, "user", "Why?")
    failed = say(conversation, q2, "assistant", "Beca", status="error")
    q3 = say(conversation, failed, "user", "Please answer.")
    a3 = say(conversation, q3, "assistant", "It is warm.")
    say(conversation, a3, "user", "Thanks!")  # no answer yet
    return conversation


def export(client, action, conversations) -> tuple:
    response = client.post(
        "/admin/conversations/conversation/",
        {
            "reason": "Audit request 4",
            "action": action,
            "_selected_action": [c.pk for c in conversations],
        },
    )
    assert response.streaming, response.content[:500]
    return response, b"".join(response.streaming_content).decode()


def fine_tuning_problems(text: str) -> list[str]:
    """The checks of OpenAI's fine-tuning data preparation, plus roles in order."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        example = json.loads(line)
        messages = example.get("messages") if isinstance(example, dict) else None
        if not messages or set(example) != {"messages"}:
            problems.append(f"{number}: missing messages list")
            continue
        for message in messages:
            if not {"role", "content"} <= set(message) or set(message) - MESSAGE_KEYS:
                problems.append(f"{number}: bad keys {sorted(message)}")
            if message.get("role") not in FINE_TUNING_ROLES:
                problems.append(f"{number}: unrecognized role")
            if not isinstance(message.get("content"), str) or not message["content"]:
                problems.append(f"{number}: missing content")
        roles = [m.get("role") for m in messages]
        body = roles[1:] if roles[0] == "system" else roles
        expected = ["user", "assistant"] * (len(body) // 2)
        if body != expected:
            problems.append(f"{number}: roles out of order {roles}")
    return problems


# --- Formats -----------------------------------------------------------------------------


def test_jsonl_export_is_valid_fine_tuning_data(client, alice, persona):
    site(prompt="Be kind.")
    travel = conversation_with_branches(alice, persona)
    empty = Conversation.objects.create(owner=alice, title="Nothing answered")
    say(empty, None, "user", "Hello?")
    client.force_login(exporter())
    response, text = export(client, "export_jsonl", [travel, empty])
    assert response["Content-Type"].startswith("application/jsonl")
    assert 'attachment; filename="chatsite-conversations-' in response["Content-Disposition"]
    assert fine_tuning_problems(text) == []
    [line] = text.splitlines()
    assert json.loads(line)["messages"] == [
        {"role": "system", "content": "Be kind.\n\nTalk like a pirate."},
        {"role": "user", "content": "Where to in May?"},
        {"role": "assistant", "content": "Lisbon."},
        {"role": "user", "content": "Why?\n\nPlease answer."},
        {"role": "assistant", "content": "It is warm."},
    ]


def test_the_system_prompt_is_the_one_of_the_persona_version_that_answered(client, alice, persona):
    site()
    conversation = Conversation.objects.create(owner=alice, persona=persona)
    question = say(conversation, None, "user", "Hi")
    answer = say(conversation, question, "assistant", "Arr")
    answer.persona_version = persona.current_version()
    answer.save()
    persona.system_prompt = "Talk like a poet."
    persona.save()
    client.force_login(exporter())
    _response, text = export(client, "export_jsonl", [conversation])
    assert json.loads(text)["messages"][0] == {"role": "system", "content": "Talk like a pirate."}


def test_markdown_export_reads_like_the_thread(client, alice, persona):
    site()
    conversation_with_branches(alice, persona)
    client.force_login(exporter())
    response, text = export(client, "export_markdown", Conversation.objects.all())
    assert response["Content-Type"].startswith("text/markdown")
    assert text.startswith("# Travel\n")
    assert "owner: alice" in text and "persona: Pirate" in text
    assert text.index("Where to in May?") < text.index("Lisbon.") < text.index("It is warm.")
    assert "Oslo." not in text


def test_json_export_has_the_whole_tree(client, alice, bob):
    site()
    conversation_with_branches(alice, title="One")
    conversation_with_branches(bob, title="Two")
    client.force_login(exporter())
    _response, text = export(client, "export_json", Conversation.objects.all())
    document = json.loads(text)
    assert document["format"] == "chatsite.conversations.v1"
    assert sorted(c["title"] for c in document["conversations"]) == ["One", "Two"]
    first = document["conversations"][0]
    assert len(first["messages"]) == 8
    oslo = next(m for m in first["messages"] if m["content"] == "Oslo.")
    assert oslo["active_branch"] is False
    assert {"status", "params", "prompt_tokens", "ttft_ms", "parent_id"} <= set(oslo)


# --- Audit and policy -----------------------------------------------------------------------


def test_every_exported_conversation_of_someone_else_is_audited(client, alice, bob):
    site()
    conversations = [conversation_with_branches(alice), conversation_with_branches(bob)]
    user = exporter()
    mine = conversation_with_branches(user, title="Mine")
    client.force_login(user)
    export(client, "export_json", [*conversations, mine])
    entries = AuditEntry.objects.order_by("owner_username")
    owners = [(e.action, e.owner_username) for e in entries]
    assert owners == [("export", "alice"), ("export", "bob")]
    assert {e.details["format"] for e in entries} == {"json"}
    assert len({e.details["export"] for e in entries}) == 1


def test_exports_follow_the_review_policy(client, alice):
    site(policy="flagged")
    flagged = conversation_with_branches(alice, title="Flagged")
    Conversation.objects.filter(pk=flagged.pk).update(flagged=True, flag_reason="report")
    plain = conversation_with_branches(alice, title="Plain")
    client.force_login(exporter())
    response = client.post(
        "/admin/conversations/conversation/",
        {
            "reason": "Audit request 4",
            "action": "export_jsonl",
            "_selected_action": [flagged.pk, plain.pk],
        },
        follow=True,
    )
    assert not response.streaming
    assert "Nothing was exported: 1 of the chosen conversations" in response.content.decode()
    assert not AuditEntry.objects.filter(action="export").exists()
    _response, text = export(client, "export_jsonl", [flagged])
    assert "Lisbon." in text


def test_staff_without_the_export_permission_are_not_offered_exports(client, alice):
    site(policy="full")
    conversation = conversation_with_branches(alice)
    user = User.objects.create_user("viewer", password=PASSWORD, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename="view_conversation"))
    client.force_login(user)
    page = client.get("/admin/conversations/conversation/").content.decode()
    assert "export_jsonl" not in page
    response = client.post(
        "/admin/conversations/conversation/",
        {
            "reason": "Audit request 4",
            "action": "export_jsonl",
            "_selected_action": [conversation.pk],
        },
    )
    assert not response.streaming
    assert b"Lisbon" not in response.content


def test_policy_off_allows_exporting_only_ones_own_conversations(client, alice):
    site(policy="off")
    user = exporter()
    mine = conversation_with_branches(user, title="Mine")
    theirs = conversation_with_branches(alice, title="Theirs")
    client.force_login(user)
    _response, text = export(client, "export_markdown", [mine])
    assert "# Mine" in text
    response = client.post(
        "/admin/conversations/conversation/",
        {"reason": "Audit request 4", "action": "export_markdown", "_selected_action": [theirs.pk]},
    )
    assert not response.streaming


# --- Streaming ---------------------------------------------------------------------------


def test_a_large_export_is_read_and_audited_batch_by_batch(client, alice, monkeypatch):
    site()
    monkeypatch.setattr(exports, "BATCH_SIZE", 2)
    for index in range(5):
        conversation_with_branches(alice, title=f"c{index}")
    client.force_login(exporter())
    one = Conversation.objects.first().pk  # the admin wants a tick even for "select all"
    response = client.post(
        "/admin/conversations/conversation/",
        {
            "reason": "Audit request 4",
            "action": "export_json",
            "select_across": "1",
            "index": "0",
            "_selected_action": [one],
        },
    )
    chunks = iter(response.streaming_content)
    head, first = next(chunks), next(chunks)
    assert head.startswith(b'{"format"')
    assert first.count(b'"title"') == 2
    assert AuditEntry.objects.count() == 2  # only what has been sent so far
    rest = b"".join(chunks)
    assert AuditEntry.objects.count() == 5
    document = json.loads(head + first + rest)
    assert len(document["conversations"]) == 5


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_export_streams_from_an_async_iterator(async_client, alice):
    await sync_to_async(site)()
    await sync_to_async(conversation_with_branches)(alice)
    user = await sync_to_async(exporter)()
    await async_client.aforce_login(user)
    ids = await sync_to_async(lambda: [str(c.pk) for c in Conversation.objects.all()])()
    response = await async_client.post(
        "/admin/conversations/conversation/",
        {"reason": "Audit request 4", "action": "export_jsonl", "_selected_action": ids},
    )
    assert response.is_async
    text = b"".join([chunk async for chunk in response.streaming_content]).decode()
    assert fine_tuning_problems(text) == []
    assert await sync_to_async(AuditEntry.objects.count)() == 1
