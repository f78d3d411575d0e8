"""A person's own export: one streamed zip with the whole tree as JSON and the
current branch as Markdown, of their own conversations only, audited."""

import io
import json
import zipfile

import pytest
from django.http import StreamingHttpResponse

from conversations.models import AuditEntry, Conversation, Message, SiteSettings

pytestmark = pytest.mark.django_db


@pytest.fixture
def branched(alice, persona, chat_model):
    """A question answered twice (two branches); the second answer is current."""
    conversation = Conversation.objects.create(
        owner=alice, title="Branches", persona=persona, model=chat_model,
        param_overrides={"temperature": 0.3},
    )  # fmt: skip
    question = Message.objects.create(conversation=conversation, role="user", content="Why?")
    old = Message.objects.create(
        conversation=conversation, parent=question, role="assistant", content="Old answer",
        status="complete", prompt_tokens=3, completion_tokens=4,
    )  # fmt: skip
    new = Message.objects.create(
        conversation=conversation, parent=question, role="assistant", content="New answer",
        status="complete", prompt_tokens=3, completion_tokens=9, model_name="gpt-test",
    )  # fmt: skip
    conversation.current_leaf = new
    conversation.save()
    return {"conversation": conversation, "old": old, "new": new}


def archive_of(response) -> zipfile.ZipFile:
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)  # never built whole first
    assert response["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_it_exports_the_whole_tree_as_json(client, alice, branched):
    client.force_login(alice)
    archive = archive_of(client.post("/export/", {"scope": "all"}))
    conversation = branched["conversation"]
    document = json.loads(archive.read(f"json/{conversation.pk}.json"))
    assert document["format"] == "chatsite.conversation.v1"
    assert {m["content"] for m in document["messages"]} == {"Why?", "Old answer", "New answer"}
    assert document["current_leaf"] == str(branched["new"].pk)
    assert document["persona"] == "Pirate"  # by name, without its prompt
    assert document["params"] == {"temperature": 0.3}
    assert document["usage"] == {"prompt_tokens": 6, "completion_tokens": 13}
    new = next(m for m in document["messages"] if m["content"] == "New answer")
    assert new["model"] == "gpt-test" and new["active_branch"] is True


def test_it_exports_the_current_branch_as_markdown(client, alice, branched):
    client.force_login(alice)
    archive = archive_of(client.post("/export/", {"scope": "all"}))
    names = [n for n in archive.namelist() if n.startswith("markdown/")]
    assert names == [f"markdown/Branches-{branched['conversation'].pk}.md"]
    text = archive.read(names[0]).decode()
    assert "# Branches" in text and "New answer" in text and "Old answer" not in text


def test_no_system_prompt_leaves_in_the_export(client, alice, branched, persona):
    SiteSettings.objects.update_or_create(pk=1, defaults={"system_prompt": "SITE SECRET"})
    persona.system_prompt = "PERSONA SECRET"
    persona.save()
    client.force_login(alice)
    archive = archive_of(client.post("/export/", {"scope": "all"}))
    everything = b"".join(archive.read(name) for name in archive.namelist())
    assert b"SITE SECRET" not in everything and b"PERSONA SECRET" not in everything
    assert persona.name.encode() in everything


def test_it_exports_only_the_selected_conversations(client, alice, branched):
    other = Conversation.objects.create(owner=alice, title="Other")
    client.force_login(alice)
    response = client.post("/export/", {"scope": "selected", "ids": [str(other.pk), "junk"]})
    names = archive_of(response).namelist()
    assert f"json/{other.pk}.json" in names
    assert f"json/{branched['conversation'].pk}.json" not in names


def test_it_never_exports_another_persons_conversations(client, bob, branched):
    client.force_login(bob)
    response = client.post(
        "/export/", {"scope": "selected", "ids": [str(branched["conversation"].pk)]}
    )
    assert response.status_code == 200
    assert not isinstance(response, StreamingHttpResponse)
    assert b"Choose at least one conversation" in response.content


def test_exporting_all_with_nothing_asks_for_a_choice(client, bob):
    client.force_login(bob)
    response = client.post("/export/", {"scope": "all"})
    assert b"Choose at least one conversation" in response.content


def test_a_large_history_streams_in_batches(client, alice, monkeypatch):
    monkeypatch.setattr("conversations.exports.BATCH_SIZE", 3)
    for number in range(8):
        Conversation.objects.create(owner=alice, title=f"Chat {number}")
    client.force_login(alice)
    response = client.post("/export/", {"scope": "all"})
    chunks = list(response.streaming_content)
    assert len([c for c in chunks if c]) >= 3  # one piece per batch, then the directory
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert json.loads(archive.read("manifest.json"))["conversations"] == 8


def test_the_export_is_audited(client, alice, branched):
    client.force_login(alice)
    archive_of(client.post("/export/", {"scope": "all"}))
    entry = AuditEntry.objects.get(action=AuditEntry.Action.EXPORT)
    assert entry.actor == alice and entry.details == {"op": "own", "scope": "all", "count": 1}


def test_the_export_page_lists_own_conversations_and_preselects_one(client, alice, bob, branched):
    Conversation.objects.create(owner=bob, title="Bob's secret")
    client.force_login(alice)
    pk = branched["conversation"].pk
    response = client.get(f"/export/?selected={pk}")
    assert response.status_code == 200
    assert b"Branches" in response.content and b"Bob's secret" not in response.content
    assert f'value="{pk}" checked'.encode() in response.content


def test_settings_link_to_export_import_and_shared(client, alice):
    client.force_login(alice)
    page = client.get("/settings/").content
    assert b'href="/export/"' in page and b'href="/import/"' in page and b'href="/shared/"' in page


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_archive_streams_from_an_async_iterator(async_client, alice):
    from asgiref.sync import sync_to_async

    def make() -> None:
        for number in range(3):
            conversation = Conversation.objects.create(owner=alice, title=f"Async {number}")
            Message.objects.create(conversation=conversation, role="user", content="hi")

    await sync_to_async(make)()
    await async_client.aforce_login(alice)
    response = await async_client.post("/export/", {"scope": "all"})
    assert response.is_async
    raw = b"".join([chunk async for chunk in response.streaming_content])
    names = zipfile.ZipFile(io.BytesIO(raw)).namelist()
    assert len([n for n in names if n.startswith("json/")]) == 3
