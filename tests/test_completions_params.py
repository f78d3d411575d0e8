"""The completions parameter rules (params.validate_completion_params): the seeds' table."""

import pytest

from conversations.models import ModelConfig, Persona
from conversations.params import (
    ModelLimits,
    ParamsInvalid,
    check_completion_fits,
    describe_completion,
    validate_completion_params,
)

LIMITS = ModelLimits("gpt-3.5-turbo-instruct", context_window=4096)


def refused(raw: dict) -> dict[str, str]:
    with pytest.raises(ParamsInvalid) as caught:
        validate_completion_params(raw, LIMITS)
    return caught.value.errors


def test_it_accepts_every_parameter_of_the_table_in_range():
    raw = {
        "suffix": " The end.",
        "max_tokens": 16,
        "temperature": 2,
        "top_p": 0,
        "n": 2,
        "stream": False,
        "logprobs": 5,
        "echo": True,
        "stop": ["\n", "END", "###", "--"],
        "presence_penalty": -2,
        "frequency_penalty": 2,
        "best_of": 3,
        "logit_bias": {"50256": -100},
    }
    assert validate_completion_params(raw, LIMITS) == raw


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("temperature", 2.01),
        ("temperature", -0.1),
        ("top_p", 1.5),
        ("top_p", -0.01),
        ("presence_penalty", -2.5),
        ("frequency_penalty", 2.1),
        ("logprobs", 6),
        ("logprobs", -1),
        ("logprobs", 1.5),
        ("n", 0),
        ("n", 5),
        ("max_tokens", 0),
        ("max_tokens", 4096),
        ("best_of", 0),
        ("best_of", 21),
        ("echo", "yes"),
        ("stream", 1),
        ("suffix", 42),
        ("stop", ["a", "b", "c", "d", "e"]),
        ("stop", [""]),
        ("logit_bias", {"50256": 101}),
        ("logit_bias", {"not-a-token": 1}),
        ("temperature", True),
    ],
)
def test_it_refuses_out_of_range_values_naming_the_parameter(name, value):
    assert set(refused({name: value})) == {name}


def test_it_refuses_best_of_not_greater_than_n():
    assert set(refused({"best_of": 2, "n": 2})) == {"best_of"}
    assert set(refused({"best_of": 1})) == {"best_of"}  # n defaults to 1
    assert validate_completion_params({"best_of": 3, "n": 2}, LIMITS)["best_of"] == 3


def test_it_refuses_best_of_with_stream():
    errors = refused({"best_of": 2, "stream": True})
    assert "stream" in errors["best_of"]


def test_it_refuses_user_and_unknown_names():
    assert set(refused({"user": "someone"})) == {"user"}  # the server sets it
    assert set(refused({"messages": []})) == {"messages"}
    assert set(refused({"reasoning_effort": "low"})) == {"reasoning_effort"}


def test_it_refuses_a_prompt_that_leaves_no_room_for_max_tokens():
    check_completion_fits(4000, 96, LIMITS)
    with pytest.raises(ParamsInvalid) as caught:
        check_completion_fits(4000, 97, LIMITS)
    assert "4096" in caught.value.errors["max_tokens"]


def test_it_refuses_something_other_than_an_object():
    assert set(refused(["temperature"])) == {"params"}  # type: ignore[arg-type]


def test_the_described_rules_carry_the_seeds_defaults():
    rules = describe_completion(LIMITS)
    assert rules["max_tokens"]["default"] == 16
    assert rules["logprobs"]["max"] == 5
    assert rules["best_of"]["default"] == 1
    assert rules["temperature"]["min"] == 0 and rules["temperature"]["max"] == 2
    assert rules["top_p"]["max"] == 1
    assert rules["stop"]["max_items"] == 4
    assert rules["presence_penalty"]["min"] == -2


def test_a_completion_persona_validates_its_defaults_with_these_rules(alice, provider):
    model = ModelConfig.objects.create(
        provider=provider, model_id="davinci-002", kind=ModelConfig.Kind.COMPLETION
    )
    persona = Persona(
        owner=alice, name="Writer", model=model, default_params={"echo": True, "logprobs": 9}
    )
    with pytest.raises(Exception) as caught:
        persona.full_clean()
    assert "logprobs" in str(caught.value)
    persona.default_params = {"echo": True, "logprobs": 2}
    persona.overridable_params = ["echo"]
    persona.full_clean()
    assert persona.locked_params == ["logprobs"]


@pytest.mark.django_db
def test_the_demo_has_a_completion_model_for_documents():
    from conversations.management.commands.demo_provider import ensure_demo_provider
    from conversations.models import ModelConfig

    ensure_demo_provider("http://127.0.0.1:9/v1")
    ensure_demo_provider("http://127.0.0.1:9/v1")  # idempotent
    writer = ModelConfig.objects.get(model_id="gpt-3.5-turbo-instruct")
    assert (writer.kind, writer.enabled) == ("completion", True)
    assert writer.context_window > 0
