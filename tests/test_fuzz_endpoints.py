"""Generated hostile input at every JSON endpoint: never a 5xx, never a traceback,
always a typed error.

The endpoints are read from the URL configuration (as tests/test_isolation.py
does), so a new one is fuzzed the day it is added. Every page a signed-in user
reaches is also fed generated query strings.
"""

import logging

import pytest
from django.contrib.auth.models import Group
from django.http import JsonResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.models import Conversation, GeneratedImage, Message, Persona, TeamRole
from tests import hostile
from tests.test_isolation import NOT_USER_PAGES, patterns

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
BODY_METHODS = ("post", "patch", "put")
FIELD_NAMES = [
    "title", "pinned", "archived", "flagged", "current_leaf", "theme", "default_model",
    "default_persona", "model", "messages", "conversation_id", "draft", "text", "role",
    "content", "params",
]  # fmt: skip
ID_KEYS = (
    "conversation_id", "persona_id", "message_id", "token", "team_id", "user_id", "image_id",
)  # fmt: skip


def is_json_endpoint(view) -> bool:
    module = getattr(view, "__module__", "")
    returns = getattr(view, "__annotations__", {}).get("return")
    return module.startswith("conversations.views.api") or returns in (JsonResponse, "JsonResponse")


def user_routes() -> list[str]:
    return [route for route, _entry in patterns() if not route.startswith(NOT_USER_PAGES)]


def json_routes() -> list[str]:
    return [
        route
        for route, entry in patterns()
        if not route.startswith(NOT_USER_PAGES) and is_json_endpoint(entry.callback)
    ]


def test_the_fuzzed_endpoints_include_the_known_ones():
    routes = json_routes()
    for known in ("api/conversations", "api/tokens/count", "api/profile", "personas/logit-bias/"):
        assert known in routes


@pytest.fixture
def alices_world(client, alice, chat_model):
    persona = Persona.objects.create(owner=alice, name="Pirate", model=chat_model)
    conversation = Conversation.objects.create(owner=alice, title="chat", persona=persona)
    message = Message.objects.create(conversation=conversation, role="user", content="hello")
    Conversation.objects.filter(pk=conversation.pk).update(current_leaf=message)
    client.force_login(alice)
    team = Group.objects.create(name="alice's team").team
    team.group.user_set.add(alice)
    TeamRole.objects.create(team=team, user=alice, role=TeamRole.Role.OWNER)
    ids = {
        "conversation_id": conversation.id,
        "persona_id": persona.id,
        "message_id": message.id,
        "token": "A" * 43,  # a share link that was never made
    }
    ids |= {"team_id": team.id, "user_id": alice.id}
    answer = Message.objects.create(
        conversation=conversation, parent=message, role="assistant", status="complete"
    )
    image = GeneratedImage.objects.create(
        message=answer, file="generated/fuzz.png", content_type="image/png"
    )  # its file was never written: a 404, never a 500
    ids["image_id"] = image.id
    return {"ids": ids, "model": chat_model.pk}


def fill(route: str, ids: dict) -> str:
    path = route
    for name in ID_KEYS:
        for converter in ("uuid", "str", "int", "path"):
            path = path.replace(f"<{converter}:{name}>", str(ids[name]))
    assert "<" not in path, f"the fuzz does not know how to fill {route}"
    return "/" + path


def bodies(world: dict):
    known = [*(str(value) for value in world["ids"].values()), world["model"], str(world["model"])]
    leaves = st.one_of(hostile.scalars, st.sampled_from(known))
    keys = st.one_of(st.sampled_from(FIELD_NAMES), hostile.text)
    objects = st.dictionaries(keys, hostile.json_values(keys, leaves), max_size=5)
    as_json = st.one_of(objects, hostile.json_values(keys, leaves)).map(hostile.dumps)
    return st.one_of(as_json.map(str.encode), hostile.raw_bodies)


def assert_typed(response) -> None:
    assert response.status_code < 500, response.content[:500]
    if response.status_code == 405:
        return  # a method the endpoint does not take: Django's own answer
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    data = response.json()
    if response.status_code >= 400:
        assert isinstance(data["error"]["code"], str) and data["error"]["message"], data


def assert_quiet(caplog) -> None:
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not loud, [r.getMessage() for r in loud]
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("route", json_routes())
@pytest.mark.parametrize("method", BODY_METHODS)
@FUZZ
@given(data=st.data())
def test_generated_bodies_get_a_typed_answer(client, alices_world, caplog, route, method, data):
    path = fill(route, alices_world["ids"])
    body = data.draw(bodies(alices_world), label="body")
    content_type = data.draw(st.sampled_from(["application/json", "text/plain"]))
    caplog.clear()
    response = client.generic(method.upper(), path, body, content_type=content_type)
    assert_typed(response)
    assert_quiet(caplog)


@pytest.mark.parametrize("route", json_routes())
@FUZZ
@given(query=hostile.query_strings)
def test_generated_query_strings_get_a_typed_answer(client, alices_world, caplog, route, query):
    caplog.clear()
    response = client.get(f"{fill(route, alices_world['ids'])}?{query}")
    assert_typed(response)
    assert_quiet(caplog)


@pytest.mark.parametrize(
    "route", [r for r in user_routes() if r not in json_routes() and "delete" not in r]
)
@settings(FUZZ, max_examples=25)
@given(query=hostile.query_strings)
def test_pages_never_fail_on_generated_query_strings(client, alices_world, caplog, route, query):
    caplog.clear()
    response = client.get(f"{fill(route, alices_world['ids'])}?{query}")
    assert response.status_code < 500
    assert_quiet(caplog)
