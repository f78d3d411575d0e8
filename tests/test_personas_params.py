"""Persona parameters: the chat's rules in the form, logit bias words, locks on the socket."""

import pytest
from channels.db import database_sync_to_async

from conversations.models import Message, ModelConfig, Persona
from tests.fakeupstream import Scenario


def persona_form(**changes) -> dict:
    form = {
        "name": "Tuned",
        "system_prompt": "Be brief.",
        "visibility": "private",
        "overridable_params": ["temperature"],
    }
    form.update(changes)
    return form


@pytest.fixture
def signed_in(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def llama(chat_model) -> ModelConfig:
    """A model whose tokenizer tiktoken does not know."""
    return ModelConfig.objects.create(provider=chat_model.provider, model_id="llama3.1-8b")


def create(client, **changes):
    return client.post("/personas/new/", persona_form(**changes))


# --- The same rules as the chat ---------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("temperature", "3", "Must be from 0 to 2."),
        ("top_p", "-0.1", "Must be from 0 to 1."),
        ("n", "5", "Must be from 1 to 4."),
        ("presence_penalty", "2.5", "Must be from -2 to 2."),
        ("frequency_penalty", "-9", "Must be from -2 to 2."),
        ("max_tokens", "0", "Must be from 1 to"),
        ("stop", "a\nb\nc\nd\ne", "Allows at most 4 sequences."),
    ],
)
def test_each_parameter_is_checked_by_the_chat_rules(signed_in, chat_model, field, value, message):
    response = create(signed_in, model=chat_model.pk, **{field: value})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Persona.objects.exists()


def test_max_tokens_is_limited_by_the_chosen_models_output_cap(signed_in, chat_model):
    chat_model.max_output_tokens = 100
    chat_model.save()
    response = create(signed_in, model=chat_model.pk, max_tokens="101")
    assert "Must be from 1 to 100." in response.content.decode()
    assert create(signed_in, model=chat_model.pk, max_tokens="100").status_code == 302


def test_empty_fields_leave_parameters_unset(signed_in, chat_model):
    create(signed_in, model=chat_model.pk, temperature="", top_p="0.9")
    assert Persona.objects.get().default_params == {"top_p": 0.9}


def test_stop_sequences_are_one_per_line_with_escapes(signed_in, chat_model):
    create(signed_in, model=chat_model.pk, stop="END\r\n\\n\\n\r\nback\\\\slash")
    persona = Persona.objects.get()
    assert persona.default_params["stop"] == ["END", "\n\n", "back\\slash"]
    page = signed_in.get(f"/personas/{persona.pk}/edit/").content.decode()
    assert "END\n\\n\\n\nback\\\\slash</textarea>" in page


def test_unticked_parameters_are_locked(signed_in):
    create(signed_in, overridable_params=["temperature", "stop"])
    assert Persona.objects.get().overridable_params == ["temperature", "stop"]
    create(signed_in, name="Locked", overridable_params=[])
    assert Persona.objects.get(name="Locked").overridable_params == []


# --- Logit bias: words or ids -------------------------------------------------------------


def test_logit_bias_words_become_token_ids_shown_with_their_text(signed_in, chat_model):
    create(signed_in, model=chat_model.pk, logit_bias="hello: -100, 50256: 5")
    persona = Persona.objects.get()
    assert persona.default_params["logit_bias"] == {"15339": -100, "50256": 5}
    page = signed_in.get(f"/personas/{persona.pk}/edit/").content.decode()
    assert "15339: -100, 50256: 5</textarea>" in page
    assert "<code>15339</code> <q>hello</q>" in page


def test_a_word_of_several_tokens_biases_each_of_them(signed_in, chat_model):
    create(signed_in, model=chat_model.pk, logit_bias='" antidisestablishmentarianism": -50')
    bias = Persona.objects.get().default_params["logit_bias"]
    assert len(bias) > 1
    assert set(bias.values()) == {-50}


def test_a_token_id_must_exist_in_the_models_tokenizer(signed_in, chat_model):
    response = create(signed_in, model=chat_model.pk, logit_bias="100256: 5")
    assert "100256 is not a token id of this model" in response.content.decode()
    response = create(signed_in, model=chat_model.pk, logit_bias="hello: -101")
    assert "Bias for 15339 must be from -100 to 100" in response.content.decode()


def test_words_are_refused_without_the_models_tokenizer_but_ids_are_accepted(signed_in, llama):
    response = create(signed_in, model=llama.pk, logit_bias="hello: -100")
    assert "tokenizer of llama3.1-8b is not available" in response.content.decode()
    assert create(signed_in, model=llama.pk, logit_bias="128001: -100").status_code == 302
    assert Persona.objects.get().default_params["logit_bias"] == {"128001": -100}


def test_words_need_a_model_to_be_chosen(signed_in):
    response = create(signed_in, logit_bias="hello: -100")
    assert "Choose a model to enter words" in response.content.decode()


def test_unreadable_or_conflicting_logit_bias_is_refused(signed_in, chat_model):
    response = create(signed_in, model=chat_model.pk, logit_bias="hello -100")
    assert "Cannot read" in response.content.decode()
    response = create(signed_in, model=chat_model.pk, logit_bias="hello: -100, 15339: 10")
    assert "Token 15339 gets two different biases" in response.content.decode()


def test_the_preview_shows_token_ids_while_typing(signed_in, chat_model):
    response = signed_in.post(
        "/personas/logit-bias/",
        {"text": 'hello: -100, " world": 3', "model": chat_model.pk},
        content_type="application/json",
    )
    entries = response.json()["entries"]
    assert entries[0] == {
        "key": "hello",
        "is_word": True,
        "bias": -100,
        "tokens": [{"id": 15339, "text": "hello"}],
    }
    assert entries[1]["tokens"] == [{"id": 1917, "text": " world"}]


def test_the_preview_explains_problems_and_hides_other_peoples_models(signed_in, chat_model, team):
    body = {"text": "hello: 500", "model": chat_model.pk}
    response = signed_in.post("/personas/logit-bias/", body, content_type="application/json")
    assert "must be from -100 to 100" in response.json()["error"]
    chat_model.allowed_groups.add(team)
    response = signed_in.post("/personas/logit-bias/", body, content_type="application/json")
    assert response.status_code == 404  # as for any object of someone else's
    assert response.json()["error"]["code"] == "not_found"


# --- Through the socket ----------------------------------------------------------------------


@database_sync_to_async
def make_persona(owner, model, **fields) -> Persona:
    return Persona.objects.create(owner=owner, name="Strict", model=model, **fields)


@database_sync_to_async
def answers() -> list[Message]:
    return list(Message.objects.filter(role="assistant").select_related("persona_version"))


@pytest.mark.django_db(transaction=True)
async def test_locked_parameters_cannot_be_overridden_through_the_socket(
    alice, upstream_model, fake, open_socket
):
    persona = await make_persona(
        alice,
        upstream_model,
        default_params={"temperature": 0.1, "max_tokens": 50},
        overridable_params=["max_tokens"],
    )
    socket = await open_socket(alice)
    await socket.send_message(
        "Hi", persona_id=str(persona.pk), params={"temperature": 1.5}, client_id="locked"
    )
    reply = await socket.next_of("error", client_id="locked")
    assert reply["code"] == "invalid_params"
    assert reply["fields"] == {"temperature": "is fixed by the persona."}
    assert fake.chat_requests == []
    assert await answers() == []


@pytest.mark.django_db(transaction=True)
async def test_open_parameters_override_the_persona_defaults_and_are_recorded(
    alice, upstream_model, fake, open_socket
):
    persona = await make_persona(
        alice,
        upstream_model,
        default_params={"temperature": 0.1, "max_tokens": 50},
        overridable_params=["max_tokens"],
    )
    socket = await open_socket(alice)
    fake.enqueue(Scenario(tokens=["ok"]))
    result = await socket.turn("Hi", persona_id=str(persona.pk), params={"max_tokens": 20})
    body = fake.chat_requests[-1].body
    assert (body["temperature"], body["max_tokens"]) == (0.1, 20)
    assert result.answer["params"] == {"temperature": 0.1, "max_tokens": 20}
    assert result.answer["persona"]["version"] == 1


@pytest.mark.django_db(transaction=True)
async def test_each_answer_records_the_persona_version_that_wrote_it(
    alice, upstream_model, fake, open_socket
):
    persona = await make_persona(alice, upstream_model, system_prompt="First.")
    socket = await open_socket(alice)
    first = await socket.turn("One", persona_id=str(persona.pk))
    persona.system_prompt = "Second."
    await database_sync_to_async(persona.save)()
    second = await socket.turn("Two", conversation_id=first.conversation_id)
    assert (first.answer["persona"]["version"], second.answer["persona"]["version"]) == (1, 2)
    assert fake.chat_requests[-1].body["messages"][0]["content"] == "Second."
    stored = {a.id.hex: a.persona_version.version for a in await answers()}
    assert sorted(stored.values()) == [1, 2]


@pytest.mark.django_db(transaction=True)
async def test_a_team_persona_cannot_be_used_from_outside_the_team(
    alice, bob, team, upstream_model, fake, open_socket
):
    persona = await make_persona(alice, upstream_model, visibility="team")
    await database_sync_to_async(persona.teams.add)(team)
    socket = await open_socket(bob)
    await socket.send_message("Hi", persona_id=str(persona.pk), client_id="outsider")
    reply = await socket.next_of("error", client_id="outsider")
    assert reply["code"] == "not_found"
    assert fake.chat_requests == []
