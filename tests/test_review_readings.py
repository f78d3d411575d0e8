"""Reading someone else's conversation needs a reason, and the owner can be told."""

import pytest
from django.contrib.auth.models import Permission, User

from conversations.admin.reasons import REASON_LENGTH_MAX
from conversations.models import AuditEntry, Conversation, Message, SiteSettings
from tests.conftest import PASSWORD

SECRET = "The plan is Lisbon in May."


def site(*, policy: str = "full", tell: bool = False) -> None:
    settings = SiteSettings.load()
    settings.review_policy = policy
    settings.tell_owners_of_readings = tell
    settings.save()


def reviewer(username: str = "reviewer") -> User:
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    codenames = ["view_conversation", "review_conversation"]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def chat(owner, title: str = "Trip") -> Conversation:
    conversation = Conversation.objects.create(owner=owner, title=title)
    Message.objects.create(conversation=conversation, role="user", content=SECRET)
    return conversation


def transcript_url(conversation) -> str:
    return f"/admin/conversations/conversation/{conversation.pk}/transcript/"


def read(client, conversation, reason: str = "Abuse report #12"):
    return client.post(transcript_url(conversation), {"reason": reason})


# --- A reason before any text ----------------------------------------------------------


def test_opening_a_transcript_asks_for_a_reason_and_shows_no_text(client, alice):
    site()
    conversation = chat(alice)
    client.force_login(reviewer())
    page = client.get(transcript_url(conversation)).content.decode()
    assert SECRET not in page
    assert 'name="reason"' in page and 'name="csrfmiddlewaretoken"' in page
    assert "belongs to alice" in page
    assert not AuditEntry.objects.exists()  # nothing was read


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", "Give a reason for reading"),
        ("   ", "Give a reason for reading"),
        ("x" * (REASON_LENGTH_MAX + 1), f"at most {REASON_LENGTH_MAX} characters"),
    ],
)
def test_an_empty_or_too_long_reason_is_refused_with_a_message(client, alice, reason, message):
    site()
    conversation = chat(alice)
    client.force_login(reviewer())
    page = read(client, conversation, reason).content.decode()
    assert SECRET not in page
    assert message in page
    assert not AuditEntry.objects.exists()


def test_with_a_reason_the_text_is_shown_and_the_entry_holds_the_reason(client, alice):
    site()
    conversation = chat(alice)
    staff = reviewer()
    client.force_login(staff)
    response = read(client, conversation, "  Ticket 881: harassment report  ")
    assert response.status_code == 200
    assert SECRET in response.content.decode()
    assert "Your reason: Ticket 881: harassment report" in response.content.decode()
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.conversation_id) == (
        "view_conversation", staff, conversation.pk,
    )  # fmt: skip
    assert entry.details["purpose"] == "Ticket 881: harassment report"
    assert "tell_owner" not in entry.details  # the setting is off


def test_the_reason_form_is_csrf_protected(alice):
    from django.test import Client

    site()
    conversation = chat(alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer())
    response = read(client, conversation)
    assert response.status_code == 403
    assert SECRET not in response.content.decode()
    assert not AuditEntry.objects.filter(action="view_conversation").exists()


def test_a_reason_does_not_open_what_the_policy_closes(client, alice):
    site(policy="flagged")
    conversation = chat(alice)
    client.force_login(reviewer())
    response = read(client, conversation)
    assert response.status_code == 403
    assert SECRET not in response.content.decode()
    assert AuditEntry.objects.get().action == "refused"


def test_staff_read_their_own_conversation_without_a_reason(client, db):
    me = reviewer()
    conversation = chat(me)
    client.force_login(me)
    assert SECRET in client.get(transcript_url(conversation)).content.decode()
    assert not AuditEntry.objects.exists()


# --- Telling the owner -----------------------------------------------------------------------


def test_the_owner_is_told_once_who_read_which_conversation_and_why(client, alice):
    site(tell=True)
    conversation = chat(alice, title="Holiday plans")
    client.force_login(reviewer("rita"))
    read(client, conversation, "Ticket 881")
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "Your conversations were read under the review policy" in page
    assert "rita read “Holiday plans”" in page
    assert "Reason given: Ticket 881" in page
    through = AuditEntry.objects.get(action="view_conversation").pk
    response = client.post("/readings/dismiss", {"through": through, "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    after = client.get("/").content.decode()
    assert "read under the review policy" not in after and "Ticket 881" not in after


def test_a_reading_after_the_notice_was_shown_is_not_dismissed_unseen(client, alice):
    site(tell=True)
    conversation = chat(alice)
    client.force_login(reviewer("rita"))
    read(client, conversation, "first look")
    shown = AuditEntry.objects.get().pk
    read(client, conversation, "second look")
    client.force_login(alice)
    client.post("/readings/dismiss", {"through": shown})
    page = client.get("/").content.decode()
    assert "second look" in page and "first look" not in page


def test_the_owner_is_not_told_when_the_setting_is_off(client, alice):
    site(tell=False)
    conversation = chat(alice, title="Holiday plans")
    client.force_login(reviewer())
    read(client, conversation)
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "read under the review policy" not in page
    assert "Holiday plans" in page  # in the sidebar boot data, so the page did render


def test_bob_never_sees_alices_readings(client, alice, bob):
    site(tell=True)
    conversation = chat(alice, title="Holiday plans")
    client.force_login(reviewer())
    read(client, conversation, "Ticket 881")
    client.force_login(bob)
    page = client.get("/").content.decode()
    assert "read under the review policy" not in page
    assert "Ticket 881" not in page
    # bob dismissing alice's entry changes nothing for alice
    client.post("/readings/dismiss", {"through": AuditEntry.objects.get().pk})
    client.force_login(alice)
    assert "Ticket 881" in client.get("/").content.decode()


def test_a_bad_dismissal_is_refused(client, alice):
    client.force_login(alice)
    assert client.post("/readings/dismiss", {"through": "x"}).status_code == 400
    assert client.get("/readings/dismiss").status_code == 405


def test_a_dismissal_does_not_redirect_off_site(client, alice):
    client.force_login(alice)
    response = client.post("/readings/dismiss", {"through": "1", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_an_export_of_the_owners_conversation_is_told_too(client, alice):
    site(tell=True)
    conversation = chat(alice, title="Holiday plans")
    staff = reviewer("rita")
    staff.user_permissions.add(Permission.objects.get(codename="export_conversation"))
    client.force_login(staff)
    selection = {"action": "export_json", "_selected_action": [conversation.pk]}
    asked = client.post("/admin/conversations/conversation/", selection)
    assert not asked.streaming and 'name="reason"' in asked.content.decode()
    assert not AuditEntry.objects.exists()  # nothing exported without a reason
    too_long = {**selection, "reason": "x" * (REASON_LENGTH_MAX + 1)}
    assert not client.post("/admin/conversations/conversation/", too_long).streaming
    response = client.post(
        "/admin/conversations/conversation/", {**selection, "reason": "Court order 3"}
    )
    assert SECRET in b"".join(response.streaming_content).decode()
    assert AuditEntry.objects.get().details["purpose"] == "Court order 3"
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "rita exported “Holiday plans”" in page and "Reason given: Court order 3" in page


def test_exporting_only_ones_own_conversations_needs_no_reason(client, db):
    staff = reviewer("rita")
    staff.user_permissions.add(Permission.objects.get(codename="export_conversation"))
    conversation = chat(staff)
    client.force_login(staff)
    selection = {"action": "export_json", "_selected_action": [conversation.pk]}
    response = client.post("/admin/conversations/conversation/", selection)
    assert SECRET in b"".join(response.streaming_content).decode()


def test_turning_the_setting_on_or_off_is_audited(admin_client):
    change = admin_client.get("/admin/conversations/sitesettings/")
    form = {"system_prompt": "", "review_policy": "off", "tell_owners_of_readings": "on"}
    assert admin_client.post(change["Location"], form).status_code == 302
    entry = AuditEntry.objects.get()
    assert entry.action == "policy"
    assert entry.details == {"op": "tell_owners_of_readings", "from": False, "to": True}
    assert SiteSettings.load().tell_owners_of_readings
