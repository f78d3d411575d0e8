"""The sidebar and thread endpoints, and the chat page that embeds them."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Conversation, Message, Profile

LIST = "/api/conversations"


def detail(conversation) -> str:
    return f"/api/conversations/{conversation.id}"


def patch(client, url, body):
    return client.patch(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def alices_chats(alice):
    now = timezone.now()
    chats = []
    for i in range(120):
        chats.append(
            Conversation(owner=alice, title=f"chat {i:03d}", updated=now - timedelta(minutes=i))
        )
    return Conversation.objects.bulk_create(chats)


def test_the_list_is_paged_by_recency_with_a_cursor(client, alice, alices_chats):
    client.force_login(alice)
    seen = []
    url = LIST
    while url:
        page = client.get(url).json()
        seen += [item["title"] for item in page["items"]]
        url = f"{LIST}?cursor={page['next']}" if page["next"] else None
    assert seen == [f"chat {i:03d}" for i in range(120)]


def test_pinned_conversations_come_first(client, alice, alices_chats):
    Conversation.objects.filter(title="chat 110").update(pinned=True)
    client.force_login(alice)
    items = client.get(LIST).json()["items"]
    assert items[0]["title"] == "chat 110"
    assert items[0]["pinned"] is True


def test_search_finds_titles_and_message_text(client, alice, alices_chats):
    Message.objects.create(conversation=alices_chats[7], role="user", content="Kyoto temples")
    client.force_login(alice)
    by_text = client.get(LIST, {"q": "kyoto"}).json()["items"]
    by_title = client.get(LIST, {"q": "chat 011"}).json()["items"]
    assert [i["title"] for i in by_text] == ["chat 007"]
    assert [i["title"] for i in by_title] == ["chat 011"]


def test_archived_conversations_are_listed_apart(client, alice, alices_chats):
    Conversation.objects.filter(title="chat 003").update(archived=True)
    client.force_login(alice)
    assert "chat 003" not in [i["title"] for i in client.get(LIST).json()["items"]]
    archived = client.get(LIST, {"archived": "1"}).json()["items"]
    assert [i["title"] for i in archived] == ["chat 003"]


def test_a_user_sees_only_their_own_conversations(client, alice, bob, alices_chats):
    client.force_login(bob)
    assert client.get(LIST).json()["items"] == []
    assert client.get(LIST, {"q": "chat"}).json()["items"] == []


def test_a_bad_cursor_is_a_clear_error(client, alice):
    client.force_login(alice)
    response = client.get(LIST, {"cursor": "nonsense"})
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_opening_returns_every_branch(client, alice):
    conversation = Conversation.objects.create(owner=alice, title="Tree")
    question = Message.objects.create(conversation=conversation, role="user", content="q")
    for text in ("a1", "a2"):
        Message.objects.create(
            conversation=conversation, parent=question, role="assistant", status="complete",
            content=text,
        )  # fmt: skip
    client.force_login(alice)
    data = client.get(detail(conversation)).json()
    assert data["conversation"]["title"] == "Tree"
    assert [m["content"] for m in data["messages"]] == ["q", "a1", "a2"]


def test_rename_pin_archive_and_flag(client, alice):
    conversation = Conversation.objects.create(owner=alice, title="Old")
    client.force_login(alice)
    response = patch(client, detail(conversation), {"title": "  New  ", "pinned": True})
    assert response.json()["conversation"]["title"] == "New"
    patch(client, detail(conversation), {"archived": True, "flagged": True})
    conversation.refresh_from_db()
    assert (conversation.title, conversation.pinned, conversation.archived) == ("New", True, True)
    assert conversation.flagged


def test_switching_the_branch_remembers_it(client, alice):
    conversation = Conversation.objects.create(owner=alice)
    question = Message.objects.create(conversation=conversation, role="user", content="q")
    client.force_login(alice)
    patch(client, detail(conversation), {"current_leaf": str(question.id)})
    conversation.refresh_from_db()
    assert conversation.current_leaf == question


def test_a_leaf_from_another_conversation_is_refused(client, alice):
    mine = Conversation.objects.create(owner=alice)
    other = Conversation.objects.create(owner=alice)
    stranger = Message.objects.create(conversation=other, role="user", content="x")
    client.force_login(alice)
    response = patch(client, detail(mine), {"current_leaf": str(stranger.id)})
    assert response.status_code == 404


@pytest.mark.parametrize(
    "body", [{"owner": 2}, {"title": 5}, {"pinned": "yes"}, {"current_leaf": "nope"}]
)
def test_bad_changes_are_refused_and_change_nothing(client, alice, body):
    conversation = Conversation.objects.create(owner=alice, title="Same")
    client.force_login(alice)
    response = patch(client, detail(conversation), body)
    assert response.status_code in (400, 404)
    conversation.refresh_from_db()
    assert (conversation.title, conversation.pinned, conversation.owner) == ("Same", False, alice)


def test_delete_removes_the_conversation_and_its_messages(client, alice):
    conversation = Conversation.objects.create(owner=alice)
    Message.objects.create(conversation=conversation, role="user", content="bye")
    client.force_login(alice)
    assert client.delete(detail(conversation)).status_code == 204
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_another_users_conversation_answers_404_and_is_untouched(client, alice, bob, method):
    conversation = Conversation.objects.create(owner=alice, title="Private")
    client.force_login(bob)
    body = {} if method == "get" else {"data": json.dumps({"title": "Mine"})}
    response = getattr(client, method)(
        detail(conversation), content_type="application/json", **body
    )
    assert response.status_code == 404
    assert Conversation.objects.get().title == "Private"


def test_the_conversation_page_of_another_user_is_404(client, alice, bob):
    conversation = Conversation.objects.create(owner=alice)
    client.force_login(bob)
    assert client.get(f"/c/{conversation.id}/").status_code == 404


def test_the_chat_page_embeds_the_thread_and_the_sidebar(client, alice, chat_model):
    conversation = Conversation.objects.create(owner=alice, title="<b>Bold title</b>")
    Message.objects.create(conversation=conversation, role="user", content="</script><b>x</b>")
    client.force_login(alice)
    response = client.get(f"/c/{conversation.id}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<b>Bold title</b>" not in html  # escaped everywhere, also in the JSON
    assert "</script><b>" not in html
    assert 'id="boot"' in html


def test_the_profile_keeps_the_theme(client, alice):
    client.force_login(alice)
    response = patch(client, "/api/profile", {"theme": "dark"})
    assert response.json()["theme"] == "dark"
    assert Profile.objects.get(user=alice).theme == "dark"
    assert b'data-theme="dark"' in client.get("/").content
    assert patch(client, "/api/profile", {"theme": "neon"}).status_code == 400
