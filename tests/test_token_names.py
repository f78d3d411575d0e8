"""Exact prompt counts with message names, on cl100k_base and o200k_base models.

Real tiktoken, with the encodings from TIKTOKEN_CACHE_DIR. The expected totals are
worked out by hand below, token by token, and match what the API reported for
the same messages (OpenAI's cookbook, "How to count tokens with tiktoken":
129 for gpt-3.5-turbo and gpt-4, 124 for gpt-4o and gpt-4o-mini).
"""

import json

import pytest

from conversations import tokens
from conversations.tokens import TokenCount, count_messages, count_text

# The cookbook's example: a system prompt, few-shot turns carrying names, a question.
NAMED_EXAMPLE = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates "
        "corporate jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more time to touch base on "
        "opportunities for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the "
        "client deliverable.",
    },
]

# Content tokens, by hand. cl100k_base splits "j|argon", "Let|'s", "we|'re", "don|'t";
# o200k_base keeps "jargon", "Let's", " we're", " don't" whole but splits " sy|nergies".
CL100K_CONTENT = 18 + 10 + 8 + 18 + 15 + 19  # 88
O200K_CONTENT = 17 + 10 + 8 + 17 + 13 + 18  # 83
ROLES = 6  # "system" and "user" are one token each in both encodings
NAMES = 2 + 3 + 2 + 3  # "example|_user", "example|_ass|istant", in both encodings

O200K_MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4o-2024-08-06",
    "chatgpt-4o-latest",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.5-preview",
    "gpt-5",
    "gpt-5-mini",
    "o1",
    "o1-mini",
    "o3",
    "o3-mini",
    "o4-mini",
    "openai/gpt-4o",
    "ft:gpt-4o-mini-2024-07-18:my-org::abc123",
]


@pytest.fixture(autouse=True)
def fresh_cache():
    tokens._reset_cache_for_tests()
    yield
    tokens._reset_cache_for_tests()


def test_the_hand_counts_of_the_contents_are_right():
    contents = [message["content"] for message in NAMED_EXAMPLE]

    assert sum(count_text(c, "gpt-4").tokens for c in contents) == CL100K_CONTENT
    assert sum(count_text(c, "gpt-4o").tokens for c in contents) == O200K_CONTENT
    assert [count_text(n, "gpt-4o").tokens for n in ("example_user", "example_assistant")] == [
        2,
        3,
    ]


@pytest.mark.parametrize("model", ["gpt-4", "gpt-4-0613", "gpt-3.5-turbo", "gpt-3.5-turbo-0125"])
def test_named_messages_on_cl100k_models_count_as_the_api_did(model):
    # 3 per message, 1 more per name, 3 to prime the reply.
    expected = 6 * 3 + ROLES + NAMES + 4 * 1 + CL100K_CONTENT + 3

    assert expected == 129
    assert count_messages(NAMED_EXAMPLE, model) == TokenCount(129, True, "cl100k_base")


@pytest.mark.parametrize("model", O200K_MODELS)
def test_named_messages_on_o200k_models_count_as_the_api_did(model):
    expected = 6 * 3 + ROLES + NAMES + 4 * 1 + O200K_CONTENT + 3

    assert expected == 124
    assert count_messages(NAMED_EXAMPLE, model) == TokenCount(124, True, "o200k_base")


def test_gpt_3_5_turbo_0301_takes_one_token_off_per_name():
    # The seeds' rule for 0301: 4 per message, a name replaces the role (-1), and
    # 2 to prime the reply.
    expected = 6 * 4 + ROLES + NAMES - 4 * 1 + CL100K_CONTENT + 2

    assert count_messages(NAMED_EXAMPLE, "gpt-3.5-turbo-0301").tokens == expected == 126
    assert count_messages(NAMED_EXAMPLE, "azure/gpt-35-turbo-0301").tokens == 126


def test_a_name_adds_its_tokens_and_one_on_o200k_models():
    plain = [{"role": "user", "content": "Hello!"}]
    named = [{"role": "user", "content": "Hello!", "name": "example_assistant"}]

    # <|start|>user<|message|>Hello!<|end|> + <|start|>assistant<|message|>
    assert count_messages(plain, "gpt-4o").tokens == 3 + 1 + 2 + 3 == 9
    assert count_messages(named, "gpt-4o").tokens == 9 + 1 + 3


def test_an_empty_name_counts_as_no_name():
    named = [{"role": "user", "content": "Hello!", "name": ""}]

    assert count_messages(named, "gpt-4o").tokens == 9


def test_the_developer_role_costs_its_own_token():
    message = [{"role": "developer", "content": "Hello!"}]

    assert count_messages(message, "o3-mini") == TokenCount(9, True, "o200k_base")


@pytest.mark.parametrize("name", ["alice", "example_user", "Bob-2", "x" * 64])
def test_it_accepts_names_the_api_accepts(name):
    assert tokens.is_valid_name(name)


@pytest.mark.parametrize("name", ["", "x" * 65, "with space", "émile", "a.b", 7, None, ["a"]])
def test_it_refuses_names_the_api_refuses(name):
    assert not tokens.is_valid_name(name)


URL = "/api/tokens/count"


def post(client, body) -> tuple[int, dict]:
    response = client.post(URL, json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


def test_the_count_endpoint_counts_names(client, alice, chat_model):
    client.force_login(alice)
    messages = [{"role": "user", "content": "Hello!", "name": "example_assistant"}]

    status, body = post(client, {"model": chat_model.pk, "messages": messages})

    assert status == 200
    assert (body["prompt_tokens"], body["exact"]) == (9 + 1 + 3, True)


def test_the_count_endpoint_treats_a_null_name_as_none(client, alice, chat_model):
    client.force_login(alice)
    messages = [{"role": "user", "content": "Hello!", "name": None}]

    status, body = post(client, {"model": chat_model.pk, "messages": messages})

    assert (status, body["prompt_tokens"]) == (200, 9)


@pytest.mark.parametrize("name", ["has space", "x" * 65, 42, ""])
def test_the_count_endpoint_refuses_a_bad_name_with_a_typed_error(client, alice, chat_model, name):
    client.force_login(alice)
    messages = [{"role": "user", "content": "Hello!", "name": name}]

    status, body = post(client, {"model": chat_model.pk, "messages": messages})

    assert status == 400
    assert body["error"]["code"] == "invalid_request"
    assert "name" in body["error"]["message"]
