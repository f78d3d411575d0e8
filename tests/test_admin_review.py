"""History review: the policy, the permission, the audit log, and a list that stays fast."""

import datetime

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from conversations import review
from conversations.models import AuditEntry, Conversation, Message, SiteSettings
from tests.conftest import PASSWORD


def set_policy(policy: str) -> None:
    settings = SiteSettings.load()
    settings.review_policy = policy
    settings.save()


def staff_with(*codenames: str, username: str = "reviewer") -> User:
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


REVIEWER = ("view_conversation", "review_conversation")


def thread(owner, *, title="Trip", flagged=False, model=None, persona=None) -> Conversation:
    """A conversation: a question, a regenerated first answer and the answer on the thread."""
    conversation = Conversation.objects.create(
        owner=owner, title=title, flagged=flagged, model=model, persona=persona,
        flag_reason="reported" if flagged else "",
    )  # fmt: skip
    question = Message.objects.create(
        conversation=conversation, role="user", content="Where should we go?"
    )
    Message.objects.create(
        conversation=conversation, parent=question, role="assistant", status="error",
        content="Lis", error_code="upstream_timeout", model=model,
    )  # fmt: skip
    answer = Message.objects.create(
        conversation=conversation, parent=question, role="assistant", status="complete",
        content="Lisbon in May.", finish_reason="stop", model=model, model_name="gpt-4",
        params={"temperature": 0.4}, prompt_tokens=120, completion_tokens=30, ttft_ms=412,
        usage_estimated=True, persona_version=persona.current_version() if persona else None,
    )  # fmt: skip
    conversation.current_leaf = answer
    conversation.save()
    return conversation


def transcript_url(conversation) -> str:
    return f"/admin/conversations/conversation/{conversation.pk}/transcript/"


READING = {"reason": "Abuse report #12"}  # someone else's transcript needs a reason


# --- Policy and permission -------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "flagged", "may_review", "status", "action"),
    [
        ("off", True, True, 403, "refused"),
        ("flagged", False, True, 403, "refused"),
        ("flagged", True, True, 200, "view_conversation"),
        ("full", False, True, 200, "view_conversation"),
        ("full", True, False, 403, "refused"),
    ],
)
def test_reading_someone_elses_transcript_needs_permission_and_policy(
    client, alice, policy, flagged, may_review, status, action
):
    set_policy(policy)
    conversation = thread(alice, flagged=flagged)
    reviewer = staff_with(*(REVIEWER if may_review else ("view_conversation",)))
    client.force_login(reviewer)
    response = client.post(transcript_url(conversation), READING)
    assert response.status_code == status
    assert ("Lisbon in May." in response.content.decode()) == (status == 200)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.conversation_id) == (action, reviewer, conversation.pk)
    assert (entry.owner_username, entry.policy) == ("alice", policy)


def test_every_transcript_view_writes_one_audit_row(client, alice):
    set_policy("full")
    conversation = thread(alice)
    client.force_login(staff_with(*REVIEWER))
    for expected in (1, 2, 3):
        client.post(transcript_url(conversation), READING)
        assert AuditEntry.objects.count() == expected


def test_staff_read_their_own_conversations_without_policy_or_audit(client, db):
    me = staff_with("view_conversation")
    conversation = thread(me)
    client.force_login(me)
    response = client.get(transcript_url(conversation))
    assert response.status_code == 200
    assert "Your own conversation." in response.content.decode()
    assert not AuditEntry.objects.exists()


def test_a_superuser_is_bound_by_the_policy_too(admin_client, alice):
    conversation = thread(alice)
    assert admin_client.get(transcript_url(conversation)).status_code == 403
    assert AuditEntry.objects.get().action == "refused"


def test_an_unknown_conversation_answers_404_without_an_audit_row(admin_client):
    set_policy("full")
    assert (
        admin_client.get(f"/admin/conversations/conversation/{'0' * 32}/transcript/").status_code
        == 404
    )
    assert admin_client.get("/admin/conversations/conversation/nope/transcript/").status_code == 404
    assert not AuditEntry.objects.exists()


def test_the_transcript_shows_the_tree_with_statuses_parameters_and_usage(
    admin_client, alice, persona, chat_model
):
    set_policy("full")
    conversation = thread(alice, persona=persona, model=chat_model)
    page = admin_client.post(transcript_url(conversation), READING).content.decode()
    assert page.index("Where should we go?") < page.index(">Lis<") < page.index("Lisbon in May.")
    assert "branch 1 of 2" in page and "branch 2 of 2" in page
    assert 'class="msg role-assistant indent-1 off-thread"' in page
    assert 'class="msg role-assistant indent-0 on-thread"' in page
    assert "upstream_timeout" in page
    assert "<code>temperature=0.4</code>" in page
    assert "120 in, 30 out" in page and "estimated" in page
    assert "412 ms" in page
    assert "Pirate v1" in page
    assert "recorded in the audit log" in page


def test_the_list_links_transcripts_only_where_the_policy_opens_them(client, alice):
    set_policy("flagged")
    open_one = thread(alice, title="Open", flagged=True)
    closed = thread(alice, title="Closed")
    client.force_login(staff_with(*REVIEWER))
    page = client.get("/admin/conversations/conversation/").content.decode()
    assert transcript_url(open_one) in page
    assert transcript_url(closed) not in page
    assert "Closed by the review policy" in page


# --- Search in message text -----------------------------------------------------------------


def test_message_search_follows_the_policy_and_is_audited(client, alice):
    set_policy("flagged")
    thread(alice, title="Flagged one", flagged=True)
    thread(alice, title="Plain one")
    client.force_login(staff_with(*REVIEWER))
    page = client.get("/admin/conversations/conversation/?q=lisbon").content.decode()
    assert "Flagged one" in page
    assert "Plain one" not in page
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.details) == ("search", {"query": "lisbon"})


def test_without_review_permission_search_covers_titles_only(client, alice):
    set_policy("full")
    thread(alice, title="Lisbon plans")
    thread(alice, title="Other")
    client.force_login(staff_with("view_conversation"))
    assert "Other" not in client.get("/admin/conversations/conversation/?q=lisbon").content.decode()
    assert (
        "Lisbon plans" in client.get("/admin/conversations/conversation/?q=lisbon").content.decode()
    )
    assert not AuditEntry.objects.exists()


def test_every_word_of_a_search_must_match(admin_client, alice):
    set_policy("full")
    thread(alice, title="Trip")
    listing = "/admin/conversations/conversation/?q="
    assert "Trip" in admin_client.get(listing + "lisbon+may").content.decode()
    assert "Trip" not in admin_client.get(listing + "lisbon+june").content.decode()
    assert "Trip" in admin_client.get(listing + '"in+May"').content.decode()


def test_a_common_term_is_searched_the_same_way_through_exists(client, alice, monkeypatch):
    from conversations.admin import history

    monkeypatch.setattr(history, "SELECTIVE_MATCHES", 0)  # every term counts as common
    set_policy("flagged")
    thread(alice, title="Flagged one", flagged=True)
    thread(alice, title="Plain one")
    client.force_login(staff_with(*REVIEWER))
    page = client.get("/admin/conversations/conversation/?q=lisbon").content.decode()
    assert "Flagged one" in page
    assert "Plain one" not in page


# --- Filters and columns ---------------------------------------------------------------------


def test_the_list_shows_counts_tokens_cost_and_status(admin_client, alice, chat_model):
    chat_model.price_input_per_million = 1000
    chat_model.price_output_per_million = 2000
    chat_model.save()
    thread(alice, model=chat_model)
    row = admin_client.get("/admin/conversations/conversation/").content.decode()
    assert '<td class="field-message_count_column">3</td>' in row
    assert '<td class="field-tokens_column">150</td>' in row
    # only the answers that named the model are priced: 120 * 1000 + 30 * 2000 per million
    assert '<td class="field-cost_column">0.1800</td>' in row
    assert '<td class="field-status_column">complete</td>' in row


def test_the_filters_narrow_the_list(admin_client, alice, bob, team, persona, chat_model):
    bob.groups.add(team)
    thread(alice, title="Alpha", persona=persona, model=chat_model, flagged=True)
    old = thread(bob, title="Bravo")
    Conversation.objects.filter(pk=old.pk).update(
        updated=timezone.now() - datetime.timedelta(days=40)
    )
    listing = "/admin/conversations/conversation/?"
    cases = {
        "owner=alice": "Alpha",
        f"team={team.pk}": "Bravo",
        "persona_name=pira": "Alpha",
        f"model__id__exact={chat_model.pk}": "Alpha",
        "flagged__exact=1": "Alpha",
        "status=complete&owner=bob": "Bravo",
        f"active_to={(timezone.localdate() - datetime.timedelta(days=30)).isoformat()}": "Bravo",
        f"active_from={timezone.localdate().isoformat()}": "Alpha",
    }
    for query, expected in cases.items():
        page = admin_client.get(listing + query).content.decode()
        others = {"Alpha", "Bravo"} - {expected}
        assert expected in page, query
        assert not any(f">{other}<" in page for other in others), query


def test_a_bad_date_in_a_filter_is_reported_not_crashed(admin_client):
    response = admin_client.get("/admin/conversations/conversation/?active_from=yesterday")
    assert response.status_code == 302
    assert "e=1" in response["Location"]


def test_the_list_runs_the_same_queries_for_5_or_40_conversations(
    admin_client, alice, persona, chat_model, django_assert_max_num_queries
):
    set_policy("full")
    for index in range(5):
        thread(alice, title=f"c{index}", persona=persona, model=chat_model)
    with django_assert_max_num_queries(15) as few:  # PostgreSQL adds the count estimate
        admin_client.get("/admin/conversations/conversation/")
    for index in range(35):
        thread(alice, title=f"d{index}", persona=persona, model=chat_model)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = admin_client.get("/admin/conversations/conversation/")
    assert page.content.decode().count('class="field-owner_name"') == 40


def test_an_unfiltered_list_needs_no_full_count(admin_client, alice):
    thread(alice)
    admin_client.get("/admin/conversations/conversation/")  # warm caches
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        admin_client.get("/admin/conversations/conversation/")
    counts = [q["sql"] for q in queries if q["sql"].startswith('SELECT COUNT(*) AS "__count"')]
    # One count for the page (the estimate replaces it on PostgreSQL for big tables),
    # never a second one for the whole table.
    assert len(counts) <= 1


def test_a_large_filtered_list_is_counted_only_up_to_a_cap(admin_client, alice, monkeypatch):
    from conversations.admin.lists import EstimatedCountPaginator

    monkeypatch.setattr(EstimatedCountPaginator, "COUNT_CAP", 2)
    for index in range(3):
        thread(alice, title=f"c{index}")
    page = admin_client.get("/admin/conversations/conversation/?owner=alice").content.decode()
    assert "more than 2 conversations" in page


# --- Flagging, policy changes, deleting ------------------------------------------------------


def test_flagging_needs_a_reason_and_is_audited(admin_client, alice):
    conversation = thread(alice)
    url = f"/admin/conversations/conversation/{conversation.pk}/change/"
    response = admin_client.post(url, {"flagged": "on", "flag_reason": ""})
    assert "Say why the conversation is flagged" in response.content.decode()
    assert (
        admin_client.post(url, {"flagged": "on", "flag_reason": "Abuse report #12"}).status_code
        == 302
    )
    conversation.refresh_from_db()
    assert conversation.flagged
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.details["flagged"], entry.details["reason"]) == (
        "flag",
        True,
        "Abuse report #12",
    )


def test_changing_the_policy_is_audited(admin_client):
    url = "/admin/conversations/sitesettings/"
    change = admin_client.get(url)
    assert change.status_code == 302
    form = {"system_prompt": "", "review_policy": "flagged"}
    assert admin_client.post(change["Location"], form).status_code == 302
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.details) == ("policy", {"from": "off", "to": "flagged"})
    assert review.current_policy() == "flagged"


def test_deleting_a_conversation_asks_without_listing_message_text(admin_client, alice):
    conversation = thread(alice)
    page = admin_client.post(
        "/admin/conversations/conversation/",
        {"action": "delete_selected", "_selected_action": [conversation.pk]},
    ).content.decode()
    assert "Are you sure" in page
    assert "Where should we go?" not in page
    assert "Lisbon" not in page


# --- The audit log is append-only ------------------------------------------------------------


def test_the_audit_log_is_read_only_even_for_superusers(admin_client, alice):
    set_policy("full")
    conversation = thread(alice)
    admin_client.post(transcript_url(conversation), READING)
    entry = AuditEntry.objects.get()
    base = "/admin/conversations/auditentry/"
    listing = admin_client.get(base).content.decode()
    assert "viewed a conversation" in listing
    assert "delete_selected" not in listing
    assert admin_client.get(f"{base}add/").status_code == 403
    assert admin_client.get(f"{base}{entry.pk}/delete/").status_code == 403
    detail = admin_client.get(f"{base}{entry.pk}/change/")
    assert detail.status_code == 200
    assert 'name="actor_username"' not in detail.content.decode()
    admin_client.post(f"{base}{entry.pk}/change/", {"actor_username": "nobody"})
    entry.refresh_from_db()
    assert entry.actor_username == "admin"
    with pytest.raises(PermissionDenied):
        AuditEntry.objects.all().delete()
    with pytest.raises(PermissionDenied):
        entry.save()


def test_staff_with_view_permission_read_the_audit_log(client, alice):
    set_policy("full")
    conversation = thread(alice)
    reviewer = staff_with(*REVIEWER)
    client.force_login(reviewer)
    client.post(transcript_url(conversation), READING)
    auditor = staff_with("view_auditentry", username="auditor")
    client.force_login(auditor)
    row = '<td class="field-action">viewed a conversation</td>'
    assert row in client.get("/admin/conversations/auditentry/?q=reviewer").content.decode()
    by_id = client.get(f"/admin/conversations/auditentry/?q={conversation.pk}").content.decode()
    assert row in by_id
    assert row not in client.get("/admin/conversations/auditentry/?q=nobody").content.decode()
