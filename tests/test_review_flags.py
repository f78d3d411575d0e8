"""Flags for review: a staff flag stays until staff clear it, and every change is audited."""

import json

from django.contrib.auth.models import Permission, User

from conversations import audit
from conversations.models import AuditEntry, Conversation
from tests.conftest import PASSWORD


def detail(conversation) -> str:
    return f"/api/conversations/{conversation.pk}"


def patch(client, conversation, body):
    return client.patch(detail(conversation), json.dumps(body), content_type="application/json")


def change_url(conversation) -> str:
    return f"/admin/conversations/conversation/{conversation.pk}/change/"


def flagger(username: str = "moderator") -> User:
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    codenames = ["view_conversation", "change_conversation"]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def flagged_by_staff(client, conversation, staff: User) -> None:
    client.force_login(staff)
    response = client.post(change_url(conversation), {"flagged": "on", "flag_reason": "Report #7"})
    assert response.status_code == 302
    conversation.refresh_from_db()


def test_staff_flagging_in_the_admin_records_who_when_and_why(client, alice):
    conversation = Conversation.objects.create(owner=alice, title="Trip")
    staff = flagger()
    flagged_by_staff(client, conversation, staff)
    assert conversation.flagged and conversation.flag_reason == "Report #7"
    assert conversation.flagged_by == staff
    assert conversation.flagged_at is not None
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.owner_username) == ("flag", staff, "alice")
    assert entry.details == {
        "op": "flag", "flagged": True, "from": False, "to": True, "by": "staff",
        "reason": "Report #7",
    }  # fmt: skip


def test_the_owner_cannot_unflag_a_staff_flag_and_the_attempt_is_audited(client, alice):
    conversation = Conversation.objects.create(owner=alice, title="Trip")
    flagged_by_staff(client, conversation, flagger())
    client.force_login(alice)
    response = patch(client, conversation, {"flagged": False, "title": "Renamed"})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "flagged_by_staff"
    assert "only staff can remove the flag" in error["message"]
    conversation.refresh_from_db()
    assert conversation.flagged and conversation.title == "Trip"  # nothing of the body applied
    refused = AuditEntry.objects.order_by("pk").last()
    assert (refused.action, refused.actor) == ("refused", alice)
    assert refused.details["op"] == "unflag"
    assert refused.details["reason"] == "flagged_by_staff"
    assert refused.details["flagged_by"] == "moderator"
    assert list(audit.verify()) == []


def test_the_owner_sees_the_staff_flag_in_the_conversation(client, alice):
    conversation = Conversation.objects.create(owner=alice, title="Trip")
    flagged_by_staff(client, conversation, flagger())
    client.force_login(alice)
    data = client.get(detail(conversation)).json()["conversation"]
    assert data["flagged"] and data["flagged_by_staff"]
    assert patch(client, conversation, {"flagged": True}).status_code == 200  # already flagged


def test_the_owners_own_flag_toggles_freely_and_each_change_is_audited(client, alice):
    conversation = Conversation.objects.create(owner=alice, title="Trip")
    client.force_login(alice)
    data = patch(client, conversation, {"flagged": True}).json()["conversation"]
    assert data["flagged"] and not data["flagged_by_staff"]
    conversation.refresh_from_db()
    assert conversation.flagged_by == alice and conversation.flagged_at is not None
    assert patch(client, conversation, {"flagged": False}).status_code == 200
    conversation.refresh_from_db()
    assert not conversation.flagged and conversation.flagged_by is None
    entries = list(AuditEntry.objects.order_by("pk"))
    assert [(e.action, e.actor, e.details["op"], e.details["by"]) for e in entries] == [
        ("flag", alice, "flag", "owner"),
        ("flag", alice, "unflag", "owner"),
    ]
    assert [(e.details["from"], e.details["to"]) for e in entries] == [(False, True), (True, False)]


def test_sending_the_same_flag_again_changes_and_records_nothing(client, alice):
    conversation = Conversation.objects.create(owner=alice, title="Trip")
    client.force_login(alice)
    assert patch(client, conversation, {"flagged": False}).status_code == 200
    assert not AuditEntry.objects.exists()


def test_staff_can_clear_a_staff_flag_in_the_admin_and_it_is_audited(client, alice):
    conversation = Conversation.objects.create(owner=alice, title="Trip")
    staff = flagger()
    flagged_by_staff(client, conversation, staff)
    response = client.post(change_url(conversation), {"flag_reason": "Resolved"})
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert not conversation.flagged and conversation.flagged_by is None
    entry = AuditEntry.objects.order_by("pk").last()
    assert (entry.details["op"], entry.details["from"], entry.details["to"]) == (
        "unflag", True, False,
    )  # fmt: skip
    assert entry.details["reason"] == "Resolved"
    client.force_login(alice)
    assert patch(client, conversation, {"flagged": True}).status_code == 200  # hers now


def test_staff_taking_over_an_owners_flag_makes_it_a_staff_flag(client, alice):
    conversation = Conversation.objects.create(owner=alice, title="Trip")
    client.force_login(alice)
    patch(client, conversation, {"flagged": True})
    flagged_by_staff(client, conversation, flagger())
    assert conversation.flagged_by_staff
    client.force_login(alice)
    assert patch(client, conversation, {"flagged": False}).status_code == 403


def test_a_flag_from_before_flags_kept_their_setter_counts_as_staffs_when_it_has_a_reason(
    client, alice
):
    legacy = Conversation.objects.create(owner=alice, flagged=True, flag_reason="old report")
    mine = Conversation.objects.create(owner=alice, flagged=True)
    client.force_login(alice)
    assert patch(client, legacy, {"flagged": False}).status_code == 403
    assert patch(client, mine, {"flagged": False}).status_code == 200


def test_bob_cannot_touch_alices_flag(client, alice, bob):
    conversation = Conversation.objects.create(owner=alice, title="Trip")
    client.force_login(bob)
    assert patch(client, conversation, {"flagged": True}).status_code == 404
    conversation.refresh_from_db()
    assert not conversation.flagged
    assert not AuditEntry.objects.exists()


def test_the_owner_cannot_delete_a_conversation_staff_flagged(client, alice):
    conversation = Conversation.objects.create(owner=alice, title="Trip")
    flagged_by_staff(client, conversation, flagger())
    client.force_login(alice)
    response = client.delete(detail(conversation))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "flagged_by_staff"
    assert Conversation.objects.filter(pk=conversation.pk).exists()
    refused = AuditEntry.objects.order_by("pk").last()
    assert (refused.action, refused.actor, refused.details["op"]) == ("refused", alice, "delete")


def test_the_owner_deletes_a_conversation_they_flagged_themselves(client, alice):
    conversation = Conversation.objects.create(owner=alice, title="Trip")
    client.force_login(alice)
    assert patch(client, conversation, {"flagged": True}).status_code == 200
    assert client.delete(detail(conversation)).status_code == 204
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


def test_an_owners_change_never_writes_back_a_flag_staff_set_meanwhile(client, alice):
    conversation = Conversation.objects.create(owner=alice, title="Trip")
    stale = Conversation.objects.get(pk=conversation.pk)  # what the owner's request read
    flagged_by_staff(client, conversation, flagger())
    client.force_login(alice)
    from conversations.views.api.conversations import _change

    _change(stale, {"pinned": True}, user=alice)
    conversation.refresh_from_db()
    assert conversation.pinned and conversation.flagged and conversation.flagged_by is not None


def test_staff_flagging_does_not_write_back_a_leaf_a_turn_moved(client, alice):
    from conversations.models import Message

    conversation = Conversation.objects.create(owner=alice, title="Trip")
    first = Message.objects.create(conversation=conversation, role="user", content="Hi")
    conversation.current_leaf = first
    conversation.save()
    staff = flagger()
    client.force_login(staff)
    page = client.get(change_url(conversation))  # staff opens the form
    assert page.status_code == 200
    second = Message.objects.create(conversation=conversation, role="user", content="Again")
    Conversation.objects.filter(pk=conversation.pk).update(current_leaf=second)  # a turn ran
    flagged_by_staff(client, conversation, staff)
    assert conversation.current_leaf_id == second.pk
