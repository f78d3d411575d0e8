"""Servers that refuse parts of the request (stream_options), and the ways servers other
than OpenAI say a conversation is over the model's window."""

import json

import pytest
from channels.db import database_sync_to_async

from conversations import errors
from conversations.llm import BadRequest, ContextLengthExceeded, Delta, Learnt, ProviderSettings
from conversations.llm.adapt import adapted, refused_name
from conversations.llm.client import LLMClient
from conversations.llm.errors import error_from_response
from conversations.models import Message, Provider
from tests.fakeupstream import FRIENDLY_REPLY, Scenario

BODY = {"model": "gpt-4", "messages": [{"role": "user", "content": "Hi"}]}


@database_sync_to_async
def provider_of(model) -> Provider:
    return Provider.objects.get(pk=model.provider_id)


@database_sync_to_async
def stored(message_id) -> Message:
    return Message.objects.get(pk=message_id)


@database_sync_to_async
def stop_asking_for_usage(model) -> None:
    Provider.objects.filter(pk=model.provider_id).update(send_stream_usage=False)


# --- stream_options -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("quirk", ["refuse_stream_options", "refuse_stream_options_422"])
async def test_a_server_refusing_stream_options_is_asked_again_without_and_remembered(
    alice, upstream_model, fake, open_socket, quirk
):
    fake.quirks.add(quirk)
    fake.enqueue(Scenario(tokens=["Hello", " there"]))
    socket = await open_socket(alice)
    result = await socket.turn("Hi")
    assert (result.status, result.text) == ("complete", "Hello there")
    refused, retried = fake.chat_requests
    assert refused.status in (400, 422) and "stream_options" in refused.body
    assert retried.status == 200 and "stream_options" not in retried.body
    assert (await provider_of(upstream_model)).send_stream_usage is False
    answer = await stored(result.message_id)
    assert answer.usage_estimated is True  # no usage chunk: counted here, and flagged
    await socket.turn("Again", conversation_id=result.conversation_id)
    assert len(fake.chat_requests) == 3
    assert "stream_options" not in fake.chat_requests[-1].body


@pytest.mark.django_db(transaction=True)
async def test_a_provider_set_not_to_ask_for_usage_sends_no_stream_options(
    alice, upstream_model, fake, open_socket
):
    await stop_asking_for_usage(upstream_model)
    socket = await open_socket(alice)
    result = await socket.turn("Hi")
    body = fake.chat_requests[-1].body
    assert body["stream"] is True and "stream_options" not in body
    assert (await stored(result.message_id)).usage_estimated is True


async def test_the_client_reports_what_it_learnt_once(fake):
    fake.quirks.add("refuse_stream_options")
    client = LLMClient(ProviderSettings(fake.base_url, allow_local_network=True))
    learnt = []
    try:
        events = [e async for e in client.stream_chat(BODY, on_learn=learnt.append)]
    finally:
        await client.aclose()
    assert "".join(e.text for e in events if isinstance(e, Delta)) == "".join(FRIENDLY_REPLY)
    assert learnt == [Learnt(stream_usage=False)]


async def test_a_refusal_no_change_can_fix_stays_an_error(fake):
    fake.enqueue(Scenario(error="bad_request"))
    client = LLMClient(ProviderSettings(fake.base_url, allow_local_network=True))
    learnt = []
    try:
        with pytest.raises(BadRequest):
            [e async for e in client.stream_chat(BODY, on_learn=learnt.append)]
    finally:
        await client.aclose()
    assert (len(fake.chat_requests), learnt) == (1, [])


def refusal(status: int, body: dict) -> BadRequest:
    error = error_from_response(status, {}, json.dumps(body).encode())
    assert isinstance(error, BadRequest)
    return error


def test_only_a_refusal_of_the_name_switches_the_answer_length_parameter():
    unsupported = refusal(
        400,
        {
            "error": {
                "message": "Unsupported parameter: 'max_tokens' is not supported with this "
                "model. Use 'max_completion_tokens' instead.",
                "type": "invalid_request_error",
                "param": "max_tokens",
                "code": "unsupported_parameter",
            }
        },
    )
    too_large = refusal(
        400,
        {
            "error": {
                "message": "max_tokens is too large: 9000. This model supports at most 4096 "
                "completion tokens, whereas you provided 9000.",
                "type": "invalid_request_error",
                "param": "max_tokens",
                "code": None,
            }
        },
    )
    payload = {**BODY, "max_tokens": 10, "temperature": 0.5}
    changed, learnt = adapted(payload, unsupported)
    assert changed == {**BODY, "max_completion_tokens": 10}
    assert learnt == Learnt(token_limit_param="max_completion_tokens")
    assert adapted(payload, too_large) is None
    assert refused_name(too_large) is None


def test_an_older_server_refusing_max_completion_tokens_gets_max_tokens():
    error = refusal(
        400,
        {"error": {"message": "Unrecognized request argument supplied: max_completion_tokens"}},
    )
    changed, learnt = adapted({**BODY, "max_completion_tokens": 10}, error)
    assert changed == {**BODY, "max_tokens": 10}
    assert learnt == Learnt(token_limit_param="max_tokens")


# --- Over-length, as each server says it ----------------------------------------------------

OVER_LENGTH = [
    # vLLM
    "This model's maximum context length is 512 tokens. However, you requested 600 tokens "
    "(500 in the messages, 100 in the completion). Please reduce the length of the messages "
    "or completion.",
    "'max_tokens' or 'max_completion_tokens' is too large: 100. This model's maximum context "
    "length is 512 tokens and your request has 500 input tokens (100 > 512 - 500).",
    "The decoder prompt (length 600) is longer than the maximum model length of 512. Make "
    "sure that `max_model_len` is no smaller than the number of text tokens.",
    "Input prompt (600 tokens) is too long and exceeds limit of 512",
    # llama.cpp server and llama-cpp-python
    "the request exceeds the available context size, try increasing it",
    "Requested tokens (600) exceed context window of 512",
    # Ollama
    "input length exceeds the context length",
    # LiteLLM
    "litellm.ContextWindowExceededError: litellm.BadRequestError: ContextWindowExceededError: "
    "OpenAIException - Error code: 400",
    # OpenRouter
    "This endpoint's maximum context length is 8192 tokens. However, you requested about "
    "9000 tokens (8000 of text input, 1000 in the output). Please reduce the length.",
    # Gemini's OpenAI-compatible endpoint
    "The input token count (40000) exceeds the maximum number of tokens allowed (32768).",
    # Anthropic behind a proxy
    "prompt is too long: 210000 tokens > 200000 maximum",
    # Hugging Face TGI
    "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 "
    "`inputs` tokens and 200 `max_new_tokens`",
]


@pytest.mark.parametrize("message", OVER_LENGTH)
@pytest.mark.parametrize("status", [400, 413, 422])
def test_each_servers_over_length_error_is_context_length_exceeded(message, status):
    error = error_from_response(status, {}, json.dumps({"error": {"message": message}}).encode())
    assert isinstance(error, ContextLengthExceeded)
    assert error.code == "context_length_exceeded"


def test_llama_cpp_says_it_by_its_error_type_too():
    body = {"error": {"code": 400, "message": "…", "type": "exceed_context_size_error"}}
    assert isinstance(
        error_from_response(400, {}, json.dumps(body).encode()), ContextLengthExceeded
    )


@pytest.mark.parametrize(
    "message",
    [
        "Invalid value for 'temperature'.",
        "max_tokens is too large: 9000. This model supports at most 4096 completion tokens.",
        "Unrecognized request argument supplied: stream_options",
        "The context parameter is not supported.",
    ],
)
def test_other_refusals_stay_bad_requests(message):
    body = json.dumps({"error": {"message": message}}).encode()
    assert type(error_from_response(400, {}, body)) is BadRequest


def test_a_fastapi_validation_error_names_the_field():
    body = {
        "detail": [{"loc": ["body", "stream_options"], "msg": "Extra inputs are not permitted"}]
    }
    error = error_from_response(422, {}, json.dumps(body).encode())
    assert (error.upstream_param, error.detail) == (
        "stream_options",
        "stream_options: Extra inputs are not permitted",
    )


@pytest.mark.django_db(transaction=True)
async def test_a_vllm_over_length_answer_tells_the_user_what_to_do(
    alice, upstream_model, fake, open_socket
):
    error = {"message": OVER_LENGTH[0], "type": "BadRequestError", "param": None, "code": 400}
    fake.enqueue(Scenario(status=400, error=error))
    socket = await open_socket(alice)
    result = await socket.turn("A long story")
    assert result.done["error"]["code"] == "context_length_exceeded"
    answer = await stored(result.message_id)
    assert answer.error_message == errors.user_message("context_length_exceeded")
    assert len(fake.chat_requests) == 1  # not retried
