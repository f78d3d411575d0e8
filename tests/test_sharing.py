"""Read-only sharing: with one of the owner's teams, or by a revocable link;
never a system prompt; 404 for everyone else; every change audited."""

import re

import pytest
from django.contrib.auth.models import Group

from conversations.models import AuditEntry, Conversation, Message, Share
from conversations.models.sharing import hash_share_token
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared_chat(alice, persona):
    persona.system_prompt = "PERSONA PROMPT SECRET"
    persona.save()
    conversation = Conversation.objects.create(owner=alice, title="Plans", persona=persona)
    system = Message.objects.create(
        conversation=conversation, role="system", content="IMPORTED SYSTEM SECRET"
    )
    question = Message.objects.create(
        conversation=conversation, parent=system, role="user", content="What next?"
    )
    answer = Message.objects.create(
        conversation=conversation, parent=question, role="assistant",
        content="**Ship it.**", status="complete", reasoning="REASONING SECRET",
    )  # fmt: skip
    conversation.current_leaf = answer
    conversation.save()
    return conversation


@pytest.fixture
def carol(db):
    return make_user("carol")


def share_with(client, owner, conversation, team):
    client.force_login(owner)
    return client.post(f"/c/{conversation.pk}/share/", {"op": "team", "team": team.pk})


def make_link(client, owner, conversation) -> str:
    client.force_login(owner)
    response = client.post(f"/c/{conversation.pk}/share/", {"op": "link"})
    assert response.status_code == 200
    return re.search(r'value="http://testserver(/s/[^"]+/)"', response.text).group(1)


def assert_no_secrets(response) -> None:
    for secret in (b"PERSONA PROMPT SECRET", b"IMPORTED SYSTEM SECRET", b"REASONING SECRET"):
        assert secret not in response.content


def test_a_team_member_reads_a_conversation_shared_with_the_team(
    client, alice, bob, team, shared_chat
):
    alice.groups.add(team)
    bob.groups.add(team)
    assert share_with(client, alice, shared_chat, team).status_code == 302
    client.force_login(bob)
    listed = client.get("/shared/")
    assert f"/shared/c/{shared_chat.pk}/".encode() in listed.content
    page = client.get(f"/shared/c/{shared_chat.pk}/")
    assert page.status_code == 200
    assert b"**Ship it.**" in page.content and b"What next?" in page.content
    assert_no_secrets(page)


def test_a_non_member_gets_404_and_no_listing(client, alice, bob, carol, team, shared_chat):
    alice.groups.add(team)
    bob.groups.add(team)
    share_with(client, alice, shared_chat, team)
    client.force_login(carol)
    assert client.get(f"/shared/c/{shared_chat.pk}/").status_code == 404
    assert b"Plans" not in client.get("/shared/").content


def test_sharing_does_not_open_the_owners_other_conversations(
    client, alice, bob, team, shared_chat
):
    alice.groups.add(team)
    bob.groups.add(team)
    other = Conversation.objects.create(owner=alice, title="Diary")
    share_with(client, alice, shared_chat, team)
    client.force_login(bob)
    assert client.get(f"/shared/c/{other.pk}/").status_code == 404
    assert client.get(f"/c/{other.pk}/").status_code == 404
    assert client.get(f"/c/{shared_chat.pk}/").status_code == 404  # read-only: never the chat


def test_an_owner_can_share_only_with_their_own_teams(client, alice, team, shared_chat):
    elsewhere = Group.objects.create(name="Elsewhere")
    response = share_with(client, alice, shared_chat, elsewhere)
    assert response.status_code == 404
    assert not Share.objects.exists()


def test_only_the_owner_can_share(client, alice, bob, team, shared_chat):
    bob.groups.add(team)
    response = share_with(client, bob, shared_chat, team)
    assert response.status_code == 404
    assert client.post(f"/c/{shared_chat.pk}/share/", {"op": "link"}).status_code == 404
    assert not Share.objects.exists()


def test_a_team_share_ends_when_the_owner_leaves_the_team(client, alice, bob, team, shared_chat):
    alice.groups.add(team)
    bob.groups.add(team)
    share_with(client, alice, shared_chat, team)
    alice.groups.remove(team)
    client.force_login(bob)
    assert client.get(f"/shared/c/{shared_chat.pk}/").status_code == 404


def test_a_link_opens_the_conversation_to_who_holds_it(client, alice, carol, shared_chat):
    link = make_link(client, alice, shared_chat)
    token = link.split("/")[2]
    assert len(token) >= 43  # 32 random bytes, url-safe
    share = Share.objects.get()
    assert share.token_hash == hash_share_token(token) and token not in share.token_hash
    client.force_login(carol)
    page = client.get(link)
    assert page.status_code == 200
    assert b"**Ship it.**" in page.content
    assert page["Referrer-Policy"] == "no-referrer"
    assert_no_secrets(page)


def test_a_revoked_link_answers_404(client, alice, carol, shared_chat):
    link = make_link(client, alice, shared_chat)
    share = Share.objects.get()
    client.post(f"/c/{shared_chat.pk}/share/", {"op": "revoke", "share": str(share.pk)})
    client.force_login(carol)
    assert client.get(link).status_code == 404


def test_a_new_link_replaces_the_old_one(client, alice, carol, shared_chat):
    first = make_link(client, alice, shared_chat)
    second = make_link(client, alice, shared_chat)
    assert first != second
    client.force_login(carol)
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200


def test_a_made_up_link_answers_404(client, carol):
    client.force_login(carol)
    assert client.get("/s/" + "A" * 43 + "/").status_code == 404


def test_a_link_needs_sign_in(client, alice, shared_chat):
    link = make_link(client, alice, shared_chat)
    client.logout()
    response = client.get(link)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_revoking_a_team_share_closes_it(client, alice, bob, team, shared_chat):
    alice.groups.add(team)
    bob.groups.add(team)
    share_with(client, alice, shared_chat, team)
    share = Share.objects.get()
    client.post(f"/c/{shared_chat.pk}/share/", {"op": "revoke", "share": str(share.pk)})
    client.force_login(bob)
    assert client.get(f"/shared/c/{shared_chat.pk}/").status_code == 404


def test_nobody_else_can_revoke_a_share(client, alice, bob, team, shared_chat):
    alice.groups.add(team)
    bob.groups.add(team)
    share_with(client, alice, shared_chat, team)
    share = Share.objects.get()
    client.force_login(bob)
    response = client.post(f"/c/{shared_chat.pk}/share/", {"op": "revoke", "share": str(share.pk)})
    assert response.status_code == 404
    assert Share.objects.filter(pk=share.pk).exists()


def test_shares_and_revocations_are_audited(client, alice, team, shared_chat):
    alice.groups.add(team)
    share_with(client, alice, shared_chat, team)
    make_link(client, alice, shared_chat)
    link = Share.objects.get(team=None)
    client.post(f"/c/{shared_chat.pk}/share/", {"op": "revoke", "share": str(link.pk)})
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.SHARE).order_by("created", "id")
    assert [e.details["op"] for e in entries] == ["team", "link", "revoke"]
    assert all(e.actor == alice and e.conversation_id == shared_chat.pk for e in entries)
    assert entries[0].details["team"] == team.name
    assert all("token" not in str(e.details) for e in entries)


def test_the_share_page_shows_the_owners_teams_and_shares(client, alice, team, shared_chat):
    alice.groups.add(team)
    client.force_login(alice)
    page = client.get(f"/c/{shared_chat.pk}/share/")
    assert page.status_code == 200
    assert team.name.encode() in page.content
    assert b"Not shared." in page.content


def test_a_bad_share_id_is_404_not_500(client, alice, shared_chat):
    client.force_login(alice)
    for value in ("nope", "", "00000000-0000-0000-0000-000000000000"):
        response = client.post(f"/c/{shared_chat.pk}/share/", {"op": "revoke", "share": value})
        assert response.status_code == 404
    response = client.post(f"/c/{shared_chat.pk}/share/", {"op": "team", "team": "x"})
    assert response.status_code == 404


def test_the_page_showing_a_new_link_is_never_cached(client, alice, shared_chat):
    client.force_login(alice)
    response = client.post(f"/c/{shared_chat.pk}/share/", {"op": "link"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
