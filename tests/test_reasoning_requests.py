"""What we send reasoning models: max_completion_tokens, the developer role, a reasoning
effort, and no sampling settings they refuse; what the rules say about it."""

import pytest
from channels.db import database_sync_to_async

from conversations import params
from conversations.models import Message, ModelConfig, Persona, SiteSettings
from tests.fakeupstream import Scenario

pytestmark = pytest.mark.django_db(transaction=True)

REASONING = {
    "token_limit_param": "max_completion_tokens",
    "system_role": "developer",
    "takes_reasoning_effort": True,
}


@database_sync_to_async
def model_like(model: ModelConfig, model_id: str, **fields) -> ModelConfig:
    return ModelConfig.objects.create(
        provider=model.provider, model_id=model_id, context_window=8192, **fields
    )


@database_sync_to_async
def make_persona(owner, model, **fields) -> Persona:
    return Persona.objects.create(owner=owner, name="Thinker", model=model, **fields)


@database_sync_to_async
def reloaded(model: ModelConfig) -> ModelConfig:
    return ModelConfig.objects.get(pk=model.pk)


@database_sync_to_async
def answer(message_id) -> Message:
    return Message.objects.get(pk=message_id)


@database_sync_to_async
def answers_to(result) -> int:
    return Message.objects.filter(parent_id=result.answer["parent_id"]).count()


@database_sync_to_async
def site_prompt(text: str) -> None:
    settings = SiteSettings.load()
    settings.system_prompt = text
    settings.save()


# --- The answer-length parameter -------------------------------------------------------


async def test_a_reasoning_model_gets_max_completion_tokens_under_the_same_setting(
    alice, upstream_model, fake, open_socket
):
    o3 = await model_like(upstream_model, "o3-mini", **REASONING)
    socket = await open_socket(alice)
    result = await socket.turn("Think", model=o3.pk, params={"max_tokens": 300})
    assert result.status == "complete"
    body = fake.chat_requests[-1].body
    assert body["max_completion_tokens"] == 300
    assert "max_tokens" not in body
    assert result.answer["params"] == {"max_tokens": 300}  # the product's own name


async def test_the_parameter_is_learnt_from_the_servers_refusal(
    alice, upstream_model, fake, open_socket
):
    o3 = await model_like(upstream_model, "o3-mini")  # not marked: as staff added it
    socket = await open_socket(alice)
    result = await socket.turn("Think", model=o3.pk, params={"max_tokens": 300})
    assert result.status == "complete"
    first, retry = fake.chat_requests
    assert (first.status, retry.status) == (400, 200)
    assert retry.body["max_completion_tokens"] == 300 and "max_tokens" not in retry.body
    assert (await reloaded(o3)).token_limit_param == "max_completion_tokens"
    await socket.turn("Again", conversation_id=result.conversation_id, model=o3.pk)
    assert len(fake.chat_requests) == 3  # right the first time now


async def test_a_retry_after_learning_leaves_out_sampling_settings_too(
    alice, upstream_model, fake, open_socket
):
    o3 = await model_like(upstream_model, "o3-mini")
    socket = await open_socket(alice)
    result = await socket.turn("Think", model=o3.pk, params={"max_tokens": 50, "temperature": 0.2})
    assert result.status == "complete"
    retry = fake.chat_requests[-1].body
    assert "temperature" not in retry and retry["max_completion_tokens"] == 50


async def test_a_model_that_refuses_both_names_ends_in_a_clear_error(
    alice, upstream_model, fake, open_socket
):
    fake.quirks.add("refuse_max_tokens")
    o3 = await model_like(upstream_model, "o3-mini", token_limit_param="max_completion_tokens")
    fake.enqueue(Scenario(status=400, error=_unsupported("max_completion_tokens")))
    fake.enqueue(Scenario(status=400, error=_unsupported("max_completion_tokens")))
    socket = await open_socket(alice)
    result = await socket.turn("Think", model=o3.pk, params={"max_tokens": 50})
    assert (result.status, result.done["error"]["code"]) == ("error", "bad_request")
    assert len(fake.chat_requests) == 3  # each name tried once, no loop


def _unsupported(name: str) -> dict:
    return {
        "message": f"Unsupported parameter: '{name}' is not supported with this model.",
        "type": "invalid_request_error",
        "param": name,
        "code": "unsupported_parameter",
    }


# --- The developer role ---------------------------------------------------------------


async def test_instructions_go_as_developer_messages_where_the_model_wants(
    alice, upstream_model, fake, open_socket
):
    await site_prompt("Be kind.")
    o3 = await model_like(upstream_model, "o3-mini", **REASONING)
    persona = await make_persona(alice, o3, system_prompt="Think step by step.")
    socket = await open_socket(alice)
    await socket.turn("Hi", persona_id=str(persona.pk))
    messages = fake.chat_requests[-1].body["messages"]
    assert messages[:2] == [
        {"role": "developer", "content": "Be kind."},
        {"role": "developer", "content": "Think step by step."},
    ]
    await socket.turn("Hi", model=upstream_model.pk)
    assert fake.chat_requests[-1].body["messages"][0] == {"role": "system", "content": "Be kind."}


# --- Reasoning effort -------------------------------------------------------------------


async def test_a_reasoning_effort_is_sent_to_a_model_that_takes_it(
    alice, upstream_model, fake, open_socket
):
    o3 = await model_like(upstream_model, "o3-mini", **REASONING)
    socket = await open_socket(alice)
    result = await socket.turn("Think hard", model=o3.pk, params={"reasoning_effort": "high"})
    assert fake.chat_requests[-1].body["reasoning_effort"] == "high"
    assert result.answer["params"] == {"reasoning_effort": "high"}


async def test_a_reasoning_effort_for_a_model_that_takes_none_is_refused_by_name(
    alice, upstream_model, fake, open_socket
):
    socket = await open_socket(alice)
    await socket.send_message("Hi", params={"reasoning_effort": "high"}, client_id="effort")
    error = await socket.next_of("error", client_id="effort")
    assert error["code"] == "invalid_params"
    assert error["fields"] == {
        "reasoning_effort": "does not apply: this model takes no reasoning effort."
    }
    assert fake.chat_requests == []


async def test_an_unknown_reasoning_effort_is_refused(alice, upstream_model, fake, open_socket):
    o3 = await model_like(upstream_model, "o3-mini", **REASONING)
    socket = await open_socket(alice)
    await socket.send_message(
        "Hi", model=o3.pk, params={"reasoning_effort": "extreme"}, client_id="effort"
    )
    error = await socket.next_of("error", client_id="effort")
    assert "reasoning_effort" in error["fields"]
    assert "must be one of none, minimal, low, medium, high, xhigh." in str(error["fields"])


async def test_a_persona_default_effort_is_left_out_for_a_model_that_takes_none(
    alice, upstream_model, fake, open_socket
):
    o3 = await model_like(upstream_model, "o3-mini", **REASONING)
    persona = await make_persona(alice, o3, default_params={"reasoning_effort": "low"})
    socket = await open_socket(alice)
    result = await socket.turn("Hi", persona_id=str(persona.pk), model=upstream_model.pk)
    assert result.status == "complete"
    assert "reasoning_effort" not in fake.chat_requests[-1].body
    assert result.answer["params"] == {}  # what was really used


# --- Sampling settings reasoning models refuse -------------------------------------------


async def test_sampling_settings_are_refused_by_name_for_a_reasoning_model(
    alice, upstream_model, fake, open_socket
):
    o3 = await model_like(upstream_model, "o3-mini", **REASONING)
    socket = await open_socket(alice)
    await socket.send_message(
        "Hi", model=o3.pk, params={"temperature": 0.2, "top_p": 0.5}, client_id="sampling"
    )
    error = await socket.next_of("error", client_id="sampling")
    assert set(error["fields"]) == {"temperature", "top_p"}
    assert "reasoning models sample with fixed settings" in error["fields"]["temperature"]
    assert fake.chat_requests == []


async def test_inherited_sampling_settings_are_not_sent_to_a_reasoning_model(
    alice, upstream_model, fake, open_socket
):
    o3 = await model_like(upstream_model, "o3-mini", **REASONING)
    persona = await make_persona(
        alice, upstream_model, default_params={"temperature": 0.1, "max_tokens": 40}
    )
    socket = await open_socket(alice)
    result = await socket.turn("Hi", persona_id=str(persona.pk), model=o3.pk)
    body = fake.chat_requests[-1].body
    assert "temperature" not in body and body["max_completion_tokens"] == 40
    assert result.answer["params"] == {"max_tokens": 40}
    assert [r.status for r in fake.chat_requests] == [200]  # the fake refuses temperature


def test_the_panel_rules_show_what_does_not_apply():
    reasoning = params.describe(
        params.ModelLimits("o3", 8192, None, takes_reasoning_effort=True, reasoning_model=True)
    )
    assert reasoning["reasoning_effort"]["applies"] is True
    assert reasoning["reasoning_effort"]["choices"] == list(params.REASONING_EFFORTS)
    for name in params.SAMPLING_PARAMS:
        assert reasoning[name]["applies"] is False
        assert reasoning[name]["note"].startswith("Does not apply")
    plain = params.describe(params.ModelLimits("gpt-4", 8192, None, takes_reasoning_effort=False))
    assert plain["reasoning_effort"]["applies"] is False
    assert all(plain[name]["applies"] for name in params.SAMPLING_PARAMS)
    assert params.describe()["reasoning_effort"]["applies"] is True  # no model chosen yet


# --- One answer at a time ---------------------------------------------------------------


async def test_several_answers_are_refused_by_name_for_a_model_that_gives_one(
    alice, upstream_model, fake, open_socket
):
    single = await model_like(upstream_model, "llama-3", supports_n=False)
    socket = await open_socket(alice)
    await socket.send_message("Hi", model=single.pk, params={"n": 2}, client_id="two")
    error = await socket.next_of("error", client_id="two")
    assert error["fields"] == {"n": "must be 1: this model gives one answer at a time."}
    assert fake.chat_requests == []


async def test_a_persona_asking_for_several_answers_gets_one_from_such_a_model(
    alice, upstream_model, fake, open_socket
):
    single = await model_like(upstream_model, "llama-3", supports_n=False)
    persona = await make_persona(alice, single, default_params={"n": 2})
    socket = await open_socket(alice)
    result = await socket.turn("Hi", persona_id=str(persona.pk))
    assert result.status == "complete"
    assert "n" not in fake.chat_requests[-1].body
    assert await answers_to(result) == 1  # no sibling waiting for a second choice


# --- The persona form and the model admin use the same rules ------------------------------


def test_the_persona_form_takes_an_effort_only_for_a_model_that_takes_one(client, alice):
    client.force_login(alice)
    plain = ModelConfig.objects.create(
        provider=_provider(), model_id="gpt-4", context_window=8192, is_default=True
    )
    o3 = ModelConfig.objects.create(
        provider=plain.provider, model_id="o3-mini", context_window=8192, **REASONING
    )
    form = {"name": "Deep", "system_prompt": "Think.", "visibility": "private"}
    response = client.post(
        "/personas/new/", {**form, "model": plain.pk, "reasoning_effort": "high"}
    )
    assert "Does not apply: this model takes no reasoning effort." in response.content.decode()
    response = client.post("/personas/new/", {**form, "model": o3.pk, "reasoning_effort": "high"})
    assert response.status_code == 302
    assert Persona.objects.get(name="Deep").default_params == {"reasoning_effort": "high"}


def _provider():
    from conversations.models import Provider

    return Provider.objects.create(name="P", base_url="http://127.0.0.1:9/v1")


# --- Titles ---------------------------------------------------------------------------------


async def test_a_reasoning_model_titles_with_room_to_think(
    alice, upstream_model, fake, open_socket, settings
):
    settings.CHATSITE_AUTO_TITLES = "model"
    o3 = await model_like(upstream_model, "o3-mini", **REASONING)
    fake.enqueue(Scenario(tokens=["Paris", " is", " lovely"]), Scenario(tokens=["Paris trip"]))
    socket = await open_socket(alice)
    await socket.turn("Plan a weekend in Paris", model=o3.pk)
    frame = await socket.next_of("conversation")
    assert frame["conversation"]["title"] == "Paris trip"
    title = fake.chat_requests[-1].body
    assert title["max_completion_tokens"] == 1024 and "max_tokens" not in title
    assert title["reasoning_effort"] == "low"
    assert "temperature" not in title
    assert title["messages"][0]["role"] == "developer"


# --- The parameters panel (real Chromium; last, as its browser outlives the test) -----------


@pytest.mark.browser
def test_the_panel_offers_an_effort_and_greys_out_what_a_reasoning_model_ignores(
    browse, alice, upstream_model, fake
):
    from playwright.sync_api import expect

    o3 = ModelConfig.objects.create(
        provider=upstream_model.provider, model_id="o3-mini", context_window=8192, **REASONING
    )
    page, watched = browse(alice)
    page.click("#params-toggle")
    page.fill("#param-temperature", "0.5")  # set for gpt-4, then the model changes
    expect(page.locator("#param-reasoning_effort")).to_be_disabled()
    page.select_option("#model-picker", str(o3.pk))
    expect(page.locator("#param-temperature")).to_be_disabled()
    expect(page.locator("#param-temperature-note")).to_have_text(
        "Does not apply: reasoning models sample with fixed settings."
    )
    page.select_option("#param-reasoning_effort", "high")
    page.fill("#prompt", "Think")
    page.keyboard.press("Enter")
    expect(page.locator(".message.assistant").last).to_have_attribute(
        "data-status", "complete", timeout=15_000
    )
    body = fake.chat_requests[-1].body
    assert body["model"] == "o3-mini" and body["reasoning_effort"] == "high"
    assert "temperature" not in body
    assert watched.errors == []
