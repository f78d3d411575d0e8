"""Model-level rules: constraints in the database and validation in clean()."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from conversations.models import Conversation, Message, ModelConfig, Persona, Provider
from conversations.models.providers import default_model_for


def test_public_ids_are_time_ordered_uuids(alice):
    first = Conversation.objects.create(owner=alice)
    second = Conversation.objects.create(owner=alice)
    assert first.id.version == 7
    assert str(first.id) < str(second.id)


def test_a_model_id_is_unique_per_provider(chat_model):
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelConfig.objects.create(provider=chat_model.provider, model_id="gpt-4")


def test_only_one_model_can_be_the_default(chat_model):
    other = ModelConfig(provider=chat_model.provider, model_id="gpt-4o", is_default=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        other.save()


def test_max_output_tokens_must_stay_below_the_context_window(provider):
    model = ModelConfig(
        provider=provider, model_id="m", context_window=4096, max_output_tokens=4096
    )
    with pytest.raises(ValidationError, match="smaller than the context window"):
        model.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        model.save()


def test_model_default_params_are_validated_by_the_parameter_rules(provider):
    model = ModelConfig(provider=provider, model_id="m", default_params={"temperature": 3})
    with pytest.raises(ValidationError) as error:
        model.full_clean()
    assert "temperature" in str(error.value)


def test_model_default_params_reject_unknown_names(provider):
    model = ModelConfig(provider=provider, model_id="m", default_params={"user": "x"})
    with pytest.raises(ValidationError, match="user"):
        model.full_clean()


def test_provider_base_url_must_be_http_or_https(db):
    provider = Provider(name="Bad", base_url="ftp://example.com/v1")
    with pytest.raises(ValidationError) as error:
        provider.full_clean()
    assert "base_url" in error.value.message_dict


def test_a_stored_provider_key_is_encrypted_at_rest(provider):
    provider.set_api_key("sk-canary-123")
    provider.save()
    stored = Provider.objects.values_list("api_key_encrypted", flat=True).get(pk=provider.pk)
    assert "sk-canary-123" not in stored
    assert Provider.objects.get(pk=provider.pk).get_api_key() == "sk-canary-123"


def test_a_provider_key_can_come_from_an_environment_variable(provider, monkeypatch):
    monkeypatch.setenv("MY_PROVIDER_KEY", "sk-from-env")
    provider.api_key_env = "MY_PROVIDER_KEY"
    assert provider.has_api_key
    assert provider.get_api_key() == "sk-from-env"


def test_models_are_usable_only_by_their_groups(chat_model, alice, bob, team):
    chat_model.allowed_groups.add(team)
    alice.groups.add(team)
    assert list(ModelConfig.objects.usable_by(alice)) == [chat_model]
    assert list(ModelConfig.objects.usable_by(bob)) == []
    assert default_model_for(bob) is None


def test_disabled_models_and_providers_are_not_usable(chat_model, alice):
    chat_model.provider.enabled = False
    chat_model.provider.save()
    assert default_model_for(alice) is None


def test_editing_a_persona_creates_a_new_version(persona):
    assert persona.version == 1
    persona.system_prompt = "Talk like a poet."
    persona.save()
    assert persona.version == 2
    assert [v.system_prompt for v in persona.versions.all()] == [
        "Talk like a poet.",
        "Talk like a pirate.",
    ]


def test_saving_a_persona_unchanged_keeps_its_version(persona):
    persona.description = "Arr"  # description does not change answers
    persona.save()
    assert persona.version == 1


def test_persona_parameters_and_starter_prompts_are_validated(alice):
    persona = Persona(
        owner=alice,
        name="Bad",
        default_params={"top_p": 2},
        overridable_params=["temperature", "seed"],
        starter_prompts=["x" * 501],
    )
    with pytest.raises(ValidationError) as error:
        persona.full_clean()
    assert set(error.value.message_dict) >= {
        "default_params",
        "overridable_params",
        "starter_prompts",
    }


def test_team_personas_are_visible_only_to_their_team(alice, bob, team, chat_model):
    shared = Persona.objects.create(owner=alice, name="Team bot", visibility="team")
    shared.teams.add(team)
    assert list(Persona.objects.visible_to(bob)) == []
    bob.groups.add(team)
    assert list(Persona.objects.visible_to(bob)) == [shared]


def test_a_user_message_cannot_have_a_streaming_status(alice):
    conversation = Conversation.objects.create(owner=alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=conversation, role="user", status="streaming")


def test_an_assistant_message_needs_a_parent(alice):
    conversation = Conversation.objects.create(owner=alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=conversation, role="assistant", status="complete")


def test_a_client_id_is_unique_within_a_conversation(alice):
    conversation = Conversation.objects.create(owner=alice)
    Message.objects.create(conversation=conversation, role="user", client_id="c-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=conversation, role="user", client_id="c-1")


def test_empty_client_ids_do_not_collide(alice):
    conversation = Conversation.objects.create(owner=alice)
    Message.objects.create(conversation=conversation, role="user")
    Message.objects.create(conversation=conversation, role="user")
    assert conversation.messages.count() == 2


def test_a_parent_must_belong_to_the_same_conversation(alice):
    one = Conversation.objects.create(owner=alice)
    other = Conversation.objects.create(owner=alice)
    parent = Message.objects.create(conversation=one, role="user", content="hi")
    child = Message(conversation=other, parent=parent, role="assistant", status="complete")
    with pytest.raises(ValidationError, match="another conversation"):
        child.full_clean()


def test_conversations_are_listed_for_their_owner_only(alice, bob):
    mine = Conversation.objects.create(owner=alice)
    Conversation.objects.create(owner=bob)
    assert list(Conversation.objects.for_user(alice)) == [mine]
