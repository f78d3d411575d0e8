"""Isolation everywhere: every URL with another user's ids answers 404.

The URLs are read from the project's URL configuration, so a new page or
endpoint is covered the day it is added. Every websocket frame type is covered
by tests/test_socket_safety.py in the same way.
"""

import pytest
from django.contrib.auth.models import Group
from django.urls import URLPattern, URLResolver, get_resolver

from conversations import sharing
from conversations.models import (
    AuditEntry,
    Conversation,
    GeneratedImage,
    Invitation,
    Message,
    Persona,
    Profile,
    Share,
    Team,
    TeamRole,
)

# What a URL keyword names, and which of alice's objects fills it.
OBJECT_FOR = {
    "conversation_id": lambda objects: objects["conversation"].id,
    "persona_id": lambda objects: objects["persona"].id,
    "message_id": lambda objects: objects["message"].id,
    "token": lambda objects: objects["revoked_link"],
    "team_id": lambda objects: objects["team"].id,
    "user_id": lambda objects: objects["member"].id,
    "image_id": lambda objects: objects["image"].id,
}
NOT_USER_PAGES = ("admin/", "i18n/", "jsi18n/", "accounts/")
METHODS = ("get", "post", "patch", "delete")


def patterns(resolver: URLResolver | None = None, prefix: str = ""):
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from patterns(entry, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def routes_with_ids() -> list[str]:
    found = []
    for route, _entry in patterns():
        if route.startswith(NOT_USER_PAGES) or "<" not in route:
            continue
        found.append(route)
    return found


def fill(route: str, objects: dict) -> str:
    path = route
    for name, pick in OBJECT_FOR.items():
        for converter in ("uuid", "str", "int", "path"):
            path = path.replace(f"<{converter}:{name}>", str(pick(objects)))
    assert "<" not in path, f"the isolation matrix does not know how to fill {route}"
    return "/" + path


@pytest.fixture
def alices_things(alice, bob, chat_model, django_user_model):
    persona = Persona.objects.create(owner=alice, name="Private", system_prompt="secret prompt")
    # The team dimension: alice owns a team (with a member and the persona shared);
    # bob, who owns a team of his own, gets 404 for every page and action of hers.
    bobs = Group.objects.create(name="Bob's team")
    bobs.user_set.add(bob)
    TeamRole.objects.create(team=bobs.team, user=bob, role=TeamRole.Role.OWNER)
    group = Group.objects.create(name="Alice's team")
    member = django_user_model.objects.create_user("mallory-member", password="x" * 20)
    group.user_set.add(alice, member)
    team = Team.objects.get(group=group)
    TeamRole.objects.create(team=team, user=alice, role=TeamRole.Role.OWNER)
    persona.teams.add(group)
    conversation = Conversation.objects.create(owner=alice, title="Private chat", persona=persona)
    message = Message.objects.create(conversation=conversation, role="user", content="secret")
    conversation.current_leaf = message
    conversation.save()
    # A link alice made and took back: it opens nothing, for bob or anyone.
    token = sharing.share_by_link(actor=alice, conversation=conversation)
    sharing.revoke(actor=alice, conversation=conversation, share_id=Share.objects.get().pk)
    # An image an image model made in her conversation (conversations.images).
    answer = Message.objects.create(
        conversation=conversation, parent=message, role="assistant", status="complete"
    )
    image = GeneratedImage.objects.create(
        message=answer, file="generated/alices.png", content_type="image/png"
    )
    conversation.current_leaf = answer
    conversation.save()
    return {
        "image": image,
        "persona": persona,
        "conversation": conversation,
        "message": message,
        "revoked_link": token,
        "team": team,
        "member": member,
    }


def snapshot() -> list:
    return [
        list(Conversation.objects.order_by("id").values()),
        list(Message.objects.order_by("id").values()),
        list(Persona.objects.order_by("id").values()),
        list(Profile.objects.order_by("id").values()),
        AuditEntry.objects.count(),
        list(Share.objects.order_by("id").values()),
        list(TeamRole.objects.order_by("id").values()),
        sorted(Group.objects.values_list("name", "user__username")),
        list(Persona.teams.through.objects.order_by("id").values()),
        Invitation.objects.count(),
    ]


def test_the_matrix_covers_the_product_urls():
    routes = routes_with_ids()
    assert "c/<uuid:conversation_id>/" in routes
    assert "api/conversations/<uuid:conversation_id>" in routes
    assert any(route.startswith("personas/") for route in routes)
    assert "shared/c/<uuid:conversation_id>/" in routes and "s/<str:token>/" in routes
    assert any(route.startswith("teams/<uuid:team_id>/") for route in routes)


@pytest.mark.parametrize("route", routes_with_ids())
@pytest.mark.parametrize("method", METHODS)
def test_another_users_ids_answer_404_and_change_nothing(
    client, alice, bob, alices_things, fake, route, method
):
    before = snapshot()
    client.force_login(bob)
    response = getattr(client, method)(fill(route, alices_things), content_type="application/json")
    assert response.status_code in (404, 405), (route, method, response.status_code)
    assert b"secret" not in response.content
    assert snapshot() == before
    assert fake.chat_requests == []
