"""Input that once made a 500: each answers a typed error, or is cleaned and stored."""

import base64
import json

import pytest
from django.contrib.auth.models import Permission, User

from conversations import frames
from conversations.forms.personas import PersonaForm
from conversations.models import Conversation, Persona
from tests.conftest import PASSWORD

LIST = "/api/conversations"


def cursor(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "value",
    [
        [True, "2024-01-01T00:00:00+00:00", "not-a-uuid"],
        {"pinned": 1, "2024-01-01T00:00:00+00:00": 2, "zzz": 3},
        [True, "2024-01-01T00:00:00", "8a6e0804-2bd0-4672-b79d-d97027f04a3f"],
        [True, "0001-01-01T00:00:00+14:00", "8a6e0804-2bd0-4672-b79d-d97027f04a3f"],
        [True, "2024-01-01T00:00:00+00:00", 12],
        [[1], "2024-01-01T00:00:00+00:00", "8a6e0804-2bd0-4672-b79d-d97027f04a3f"],
        ["a", "b"],
        "text",
    ],
)
def test_a_crafted_cursor_is_refused_as_invalid(client, alice, value):
    client.force_login(alice)
    response = client.get(LIST, {"cursor": cursor(value)})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


DEEP_CURSOR = base64.urlsafe_b64encode(b"[" * 1500).decode()


@pytest.mark.parametrize("raw", ["\xff\xfe", "%%%", "e30", "W10=" * 1000, DEEP_CURSOR])
def test_a_cursor_that_is_not_base64_json_is_refused(client, alice, raw):
    client.force_login(alice)
    response = client.get(LIST, {"cursor": raw})
    assert response.status_code == 400


def test_a_title_with_a_lone_surrogate_and_nul_is_cleaned_and_stored(client, alice):
    conversation = Conversation.objects.create(owner=alice, title="Old")
    client.force_login(alice)
    body = '{"title": "caf\\ud800\\u0000\\u0007 ok"}'
    response = client.patch(
        f"/api/conversations/{conversation.id}", body, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["conversation"]["title"] == "caf\ufffd ok"
    conversation.refresh_from_db()
    assert conversation.title == "caf\ufffd ok"


def test_a_search_with_control_characters_searches_the_clean_text(client, alice):
    Conversation.objects.create(owner=alice, title="cafe")
    client.force_login(alice)
    response = client.get(LIST + "?q=ca%00f%01e")  # PostgreSQL refuses NUL in a query
    assert response.status_code == 200
    assert [item["title"] for item in response.json()["items"]] == ["cafe"]


# --- Personas: forms and the admin ----------------------------------------------------


@pytest.fixture
def viewer(db) -> User:
    user = User.objects.create_user("viewer", password=PASSWORD, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_persona"))
    return user


def test_staff_who_may_only_view_personas_see_the_change_page(client, viewer, persona):
    Persona.objects.filter(pk=persona.pk).update(default_params={"temperature": 0.25})
    client.force_login(viewer)
    response = client.get(f"/admin/conversations/persona/{persona.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Talk like a pirate." in page
    assert "0.25" in page
    assert 'name="system_prompt"' not in page  # shown, not editable
    assert 'name="temperature"' not in page


def test_persona_text_with_control_characters_is_cleaned_not_refused(client, alice, chat_model):
    client.force_login(alice)
    form = {
        "name": "Bad\x00name\x1b",
        "avatar": "",
        "description": "d\x01",
        "system_prompt": "sys\x00tem\n",
        "model": chat_model.pk,
        "visibility": "private",
        "starter_prompts": "hi\x00\nthere\x7f",
        "stop": "end\x00",
    }
    response = client.post("/personas/new/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    persona = Persona.objects.get(owner=alice)
    assert persona.name == "Badname"
    assert persona.description == "d"
    assert persona.system_prompt == "system"
    assert persona.starter_prompts == ["hi", "there\x7f"]
    assert persona.default_params == {"stop": ["end"]}


def test_persona_text_with_lone_surrogates_is_cleaned(alice, chat_model):
    data = {
        "name": "Bad\ud800",
        "system_prompt": "sys\udfff",
        "model": chat_model.pk,
        "visibility": "private",
        "starter_prompts": "\ud83dhi",
    }
    form = PersonaForm(data, user=alice)
    form.instance.owner = alice
    assert form.is_valid(), form.errors
    persona = form.save()
    persona.refresh_from_db()
    assert (persona.name, persona.system_prompt) == ("Bad\ufffd", "sys\ufffd")
    assert persona.starter_prompts == ["\ufffdhi"]


def test_a_persona_search_with_nul_answers_the_page(client, alice, persona):
    client.force_login(alice)
    response = client.get("/personas/?q=Pi%00rate")
    assert response.status_code == 200
    assert "Pirate" in response.content.decode()


# --- Websocket frames ---------------------------------------------------------------


@pytest.mark.parametrize("depth", [50, 1000, 60_000])
def test_deeply_nested_json_in_a_frame_is_an_invalid_frame(depth, caplog):
    text = '{"type": "send", "content": "hi", "client_id": "a", "params": ' + (
        '{"a": ' * depth + "1" + "}" * depth + "}"
    )
    with pytest.raises(frames.FrameError) as refused:
        frames.parse(text)
    assert refused.value.code == "invalid_frame"
    assert "ERROR" not in caplog.text


@pytest.mark.parametrize("text", ["[" * 100_000, '{"type": ' + "[" * 50_000 + "]" * 50_000 + "}"])
def test_deeply_nested_arrays_are_an_invalid_frame(text):
    with pytest.raises(frames.FrameError) as refused:
        frames.parse(text)
    assert refused.value.code == "invalid_frame"


@pytest.mark.parametrize(
    "text",
    [
        '{"type": ["send"]}',
        '{"type": {"a": 1}}',
        '{"type": "send", "content": "hi", "client_id": "a", "params": {"temperature": NaN}}',
        '{"type": "subscribe", "conversation_id": "8a6e0804-2bd0-4672-b79d-d97027f04a3f",'
        ' "after_seq": 99999999999999999999999}',
        '{"type": "send", "content": "hi", "client_id": "a", "model": "99999999999999999999"}',
    ],
)
def test_wrong_types_and_out_of_range_numbers_are_an_invalid_frame(text):
    with pytest.raises(frames.FrameError) as refused:
        frames.parse(text)
    assert refused.value.code == "invalid_frame"


def test_an_error_echoes_only_a_valid_client_id():
    text = '{"type": "send", "content": "", "client_id": "a\\ud800"}'
    with pytest.raises(frames.FrameError) as refused:
        frames.parse(text)
    assert "client_id" not in frames.refusal_frame(refused.value)
    frames.encode(frames.refusal_frame(refused.value)).encode()  # sendable as UTF-8


def test_frames_that_nest_a_little_still_parse():
    text = json.dumps(
        {"type": "send", "content": "hi", "client_id": "a", "params": {"logit_bias": {"1": 2}}}
    )
    assert frames.parse(text).params == {"logit_bias": {"1": 2}}


def test_content_with_lone_surrogates_and_nul_is_cleaned():
    text = '{"type": "send", "content": "a\\ud800b\\u0000c", "client_id": "a"}'
    assert frames.parse(text).content == "a\ufffdbc"


def test_content_of_only_control_characters_is_refused():
    text = '{"type": "send", "content": "\\u0000\\u0001", "client_id": "a"}'
    with pytest.raises(frames.FrameError) as refused:
        frames.parse(text)
    assert refused.value.code == "invalid_frame"


@pytest.mark.django_db(transaction=True)
async def test_the_socket_answers_a_deeply_nested_frame_with_invalid_frame(
    alice, open_socket, caplog
):
    socket = await open_socket(alice)
    await socket.send_raw("[" * 50_000 + "]" * 50_000)
    reply = await socket.receive()
    assert (reply["type"], reply["code"]) == ("error", "invalid_frame")
    await socket.send(type="ping")
    assert (await socket.receive())["type"] == "pong"
    assert "RecursionError" not in caplog.text
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_an_unclosed_string_of_escaped_quotes_is_refused_at_once():
    """The depth check scans each character once: a frame of 260,000 escaped quotes
    in an unclosed string took a quadratic pass (about 15 minutes of the event loop)."""
    text = '{"type": "send", "a": ' + "[" * 9 + '"' + '\\"' * 260_000
    with pytest.raises(frames.FrameError):
        frames.parse(text[: 512 * 1024 - 1])
