"""Who gets into the admin: non-staff go to its login, staff need Django's permissions."""

import pytest
from django.contrib.auth.models import Permission

from conversations.models import AuditEntry, Conversation, Message, SiteSettings, UsageDaily

SECRET_TITLE = "Quarterly layoffs plan"
SECRET_TEXT = "the list of names is attached"


@pytest.fixture
def conversation(alice, persona, chat_model):
    conversation = Conversation.objects.create(
        owner=alice, title=SECRET_TITLE, persona=persona, model=chat_model
    )
    question = Message.objects.create(conversation=conversation, role="user", content=SECRET_TEXT)
    conversation.current_leaf = question
    conversation.save()
    UsageDaily.objects.charge(
        user_id=alice.pk, model=chat_model, model_name="gpt-4", prompt=5, completion=5,
        estimated=False,
    )  # fmt: skip
    return conversation


def admin_pages(conversation, persona, provider, chat_model) -> list[str]:
    return [
        "/admin/conversations/conversation/",
        f"/admin/conversations/conversation/{conversation.pk}/change/",
        f"/admin/conversations/conversation/{conversation.pk}/transcript/",
        "/admin/conversations/persona/",
        f"/admin/conversations/persona/{persona.pk}/change/",
        "/admin/conversations/provider/",
        f"/admin/conversations/provider/{provider.pk}/change/",
        "/admin/conversations/modelconfig/",
        f"/admin/conversations/modelconfig/{chat_model.pk}/change/",
        "/admin/conversations/auditentry/",
        "/admin/conversations/usagedaily/",
        "/admin/conversations/usagedaily/?format=csv",
        "/admin/conversations/sitesettings/",
    ]


def test_a_non_staff_user_is_sent_to_the_admin_login(
    client, bob, conversation, persona, provider, chat_model
):
    client.force_login(bob)
    for url in admin_pages(conversation, persona, provider, chat_model):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url
    response = client.post(f"/admin/conversations/provider/{provider.pk}/test-connection/")
    assert response["Location"].startswith("/admin/login/")


def test_staff_without_the_permissions_get_403_and_no_data(
    client, staff, conversation, persona, provider, chat_model
):
    client.force_login(staff)
    for url in admin_pages(conversation, persona, provider, chat_model):
        response = client.get(url)
        assert response.status_code == 403, url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        for secret in (SECRET_TITLE, SECRET_TEXT, "alice", "Pirate", "gpt-4"):
            assert secret.encode() not in body, (url, secret)
    for url in ("test-connection", "sync-models"):
        response = client.post(f"/admin/conversations/provider/{provider.pk}/{url}/")
        assert response.status_code == 403
    assert not AuditEntry.objects.exclude(action="refused").exists()


def test_the_admin_index_lists_only_what_staff_may_see(client, staff):
    staff.user_permissions.add(Permission.objects.get(codename="view_usagedaily"))
    client.force_login(staff)
    page = client.get("/admin/").content.decode()
    assert 'href="/admin/conversations/usagedaily/"' in page
    assert 'href="/admin/conversations/conversation/"' not in page
    assert 'href="/admin/conversations/provider/"' not in page


def test_viewing_conversations_shows_metadata_but_not_text_without_review_permission(
    client, staff, conversation
):
    settings = SiteSettings.load()
    settings.review_policy = "full"
    settings.save()
    staff.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    client.force_login(staff)
    listing = client.get("/admin/conversations/conversation/").content.decode()
    assert SECRET_TITLE in listing
    assert "alice" in listing
    response = client.get(f"/admin/conversations/conversation/{conversation.pk}/transcript/")
    assert response.status_code == 403
    assert SECRET_TEXT not in response.content.decode()
    assert AuditEntry.objects.get().action == "refused"
    assert "export" not in listing.lower()


def test_staff_with_change_permission_cannot_test_a_provider_without_it(client, staff, provider):
    staff.user_permissions.add(Permission.objects.get(codename="view_provider"))
    client.force_login(staff)
    assert client.get(f"/admin/conversations/provider/{provider.pk}/change/").status_code == 200
    response = client.post(f"/admin/conversations/provider/{provider.pk}/test-connection/")
    assert response.status_code == 403
