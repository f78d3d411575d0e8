"""logit_bias keys are bounded token ids even when the server has no tokenizer for the model."""

import pytest
from channels.db import database_sync_to_async

from conversations.forms.personas import PersonaForm
from conversations.models import Message, ModelConfig
from conversations.params import ModelLimits, ParamsInvalid, validate_params

NO_TOKENIZER = "llama-3-local"  # no tiktoken encoding: ids cannot be checked against a vocabulary


@pytest.mark.parametrize("key", ["2147483648", "4294967296", "9" * 40, "-1"])
def test_token_ids_past_31_bits_are_refused_without_a_tokenizer(key):
    with pytest.raises(ParamsInvalid) as refused:
        validate_params({"logit_bias": {key: 5}}, ModelLimits(NO_TOKENIZER))
    assert "logit_bias" in refused.value.errors


def test_the_largest_31_bit_token_id_is_allowed_without_a_tokenizer():
    cleaned = validate_params({"logit_bias": {"2147483647": 5}}, ModelLimits(NO_TOKENIZER))
    assert cleaned == {"logit_bias": {"2147483647": 5}}


@pytest.mark.django_db(transaction=True)
async def test_the_socket_refuses_an_unbounded_token_id_for_a_model_without_tokenizer(
    alice, upstream_model, fake, open_socket
):
    await ModelConfig.objects.filter(pk=upstream_model.pk).aupdate(model_id=NO_TOKENIZER)
    socket = await open_socket(alice)
    await socket.send_message("hi", client_id="b1", params={"logit_bias": {"99999999999": 5}})
    reply = await socket.next_of("error", client_id="b1")
    assert reply["code"] == "invalid_params"
    assert "logit_bias" in reply["fields"]
    assert fake.chat_requests == []
    assert await database_sync_to_async(Message.objects.count)() == 0


@pytest.fixture
def untokenized_model(provider):
    return ModelConfig.objects.create(provider=provider, model_id=NO_TOKENIZER, context_window=8192)


def persona_form(owner, model, logit_bias: str) -> PersonaForm:
    data = {"name": "N", "model": model.pk, "visibility": "private", "logit_bias": logit_bias}
    form = PersonaForm(data, user=owner)
    form.instance.owner = owner
    return form


@pytest.mark.parametrize("text", ["99999999999: 5", "2147483648: -100"])
def test_the_persona_form_refuses_an_unbounded_token_id(alice, untokenized_model, text):
    form = persona_form(alice, untokenized_model, text)
    assert not form.is_valid()
    assert "logit_bias" in form.errors


def test_the_persona_form_takes_a_bounded_token_id(alice, untokenized_model):
    form = persona_form(alice, untokenized_model, "2147483647: 5")
    assert form.is_valid(), form.errors
    assert form.instance.default_params == {"logit_bias": {"2147483647": 5}}


@pytest.mark.parametrize("text", ["²: 5", "١٢: 5"])
def test_digits_that_are_not_ascii_are_words_not_ids(alice, untokenized_model, text):
    form = persona_form(alice, untokenized_model, text)
    assert not form.is_valid()
    assert "tokenizer" in str(form.errors["logit_bias"])
