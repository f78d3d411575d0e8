"""Persona, message and other user-written text containing HTML is shown escaped everywhere."""

import pytest
from django.contrib.auth.models import Group

from conversations.models import (
    AuditEntry,
    Conversation,
    Message,
    ModelConfig,
    Persona,
    SiteSettings,
    TeamRole,
    UsageDaily,
)

PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"


@pytest.fixture
def hostile(alice, provider):
    """Every text a user or an upstream controls, set to an HTML payload."""
    settings = SiteSettings.load()
    settings.review_policy = "full"
    settings.system_prompt = PAYLOAD
    settings.save()
    team = Group.objects.create(name=PAYLOAD[:150])
    alice.groups.add(team)
    model = ModelConfig.objects.create(
        provider=provider, model_id="gpt-4", display_name=PAYLOAD[:200], is_default=True
    )
    persona = Persona.objects.create(
        owner=alice, name=PAYLOAD[:100], avatar="<b>", description=PAYLOAD,
        system_prompt=PAYLOAD, model=model, visibility="team",
        starter_prompts=[PAYLOAD], default_params={"stop": [PAYLOAD[:200]]},
    )  # fmt: skip
    persona.teams.add(team)
    conversation = Conversation.objects.create(
        owner=alice, title=PAYLOAD, persona=persona, model=model, flagged=True,
        flag_reason=PAYLOAD,
    )  # fmt: skip
    question = Message.objects.create(conversation=conversation, role="user", content=PAYLOAD)
    answer = Message.objects.create(
        conversation=conversation, parent=question, role="assistant", status="error",
        content=PAYLOAD, error_code="bad_request", error_message=PAYLOAD, model=model,
        model_name=PAYLOAD[:200], persona_version=persona.current_version(),
        params={"stop": PAYLOAD},
    )  # fmt: skip
    conversation.current_leaf = answer
    conversation.save()
    UsageDaily.objects.charge(
        user_id=alice.pk, model=model, model_name=PAYLOAD[:200], prompt=1, completion=1,
        estimated=True,
    )  # fmt: skip
    return {"persona": persona, "conversation": conversation, "model": model, "team": team}


def assert_escaped(response, url: str) -> None:
    assert response.status_code == 200, url
    body = b"".join(response.streaming_content) if response.streaming else response.content
    html = body.decode()
    assert "<script>alert" not in html, url
    assert "<img src=x" not in html, url
    assert ESCAPED in html or "&lt;script&gt;" in html, url


def test_every_admin_page_escapes_user_text(admin_client, hostile):
    conversation, persona = hostile["conversation"], hostile["persona"]
    admin_client.get(f"/admin/conversations/conversation/{conversation.pk}/transcript/")
    admin_client.get("/admin/conversations/conversation/", {"q": PAYLOAD})
    audit = AuditEntry.objects.get(action="search")  # its details hold the query
    pages = [
        "/admin/conversations/conversation/",
        f"/admin/conversations/conversation/{conversation.pk}/change/",
        f"/admin/conversations/conversation/{conversation.pk}/transcript/",
        "/admin/conversations/persona/",
        f"/admin/conversations/persona/{persona.pk}/change/",
        "/admin/conversations/modelconfig/",
        f"/admin/conversations/modelconfig/{hostile['model'].pk}/change/",
        "/admin/conversations/auditentry/",
        f"/admin/conversations/auditentry/{audit.pk}/change/",
        "/admin/conversations/usagedaily/",
        "/admin/conversations/usagedaily/?group=team",
        "/admin/conversations/usagedaily/?group=model",
        "/admin/conversations/sitesettings/1/change/",
    ]
    for url in pages:
        assert_escaped(admin_client.get(url), url)


def test_the_delete_confirmation_escapes_titles(admin_client, hostile):
    response = admin_client.post(
        "/admin/conversations/conversation/",
        {"action": "delete_selected", "_selected_action": [hostile["conversation"].pk]},
    )
    assert_escaped(response, "delete confirmation")


def test_every_persona_page_escapes_persona_text(client, alice, hostile):
    client.force_login(alice)
    persona = hostile["persona"]
    for url in ["/personas/", f"/personas/{persona.pk}/", f"/personas/{persona.pk}/edit/",
                f"/personas/{persona.pk}/delete/"]:  # fmt: skip
        assert_escaped(client.get(url), url)


def test_the_transcript_read_with_a_reason_escapes_messages_and_the_reason(admin_client, hostile):
    url = f"/admin/conversations/conversation/{hostile['conversation'].pk}/transcript/"
    response = admin_client.post(url, {"reason": PAYLOAD[:300]})
    assert response.status_code == 200
    assert_escaped(response, "transcript read with a reason")
    assert_escaped(admin_client.post(url, {"reason": ""}), "reason form")


def test_every_team_page_escapes_team_and_persona_names(client, admin_client, alice, hostile):
    team = hostile["team"].team
    TeamRole.objects.create(team=team, user=alice, role=TeamRole.Role.OWNER)
    client.force_login(alice)
    for url in ["/teams/", f"/teams/{team.pk}/"]:
        assert_escaped(client.get(url), url)
    for url in ["/admin/conversations/team/", f"/admin/conversations/team/{team.pk}/change/"]:
        assert_escaped(admin_client.get(url), url)
