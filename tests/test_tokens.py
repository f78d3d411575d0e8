import logging
import threading

import pytest
import requests
import tiktoken

from conversations import tokens
from conversations.tokens import (
    ContextError,
    ContextTooSmall,
    EncodingUnavailable,
    HistoryItem,
    MessageTooLong,
    TokenCount,
    build_context,
    count_messages,
    count_text,
    decode_token,
    estimate_tokens,
    is_valid_token_id,
    message_overhead,
    preload,
    reply_priming,
    token_ids,
    vocab_size,
)

# The chat example in /work/shared/seeds/002_*.txt; the API answered prompt_tokens 56.
SEED_EXAMPLE = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Who won the world series in 2020?"},
    {"role": "assistant", "content": "The Los Angeles Dodgers won the World Series in 2020."},
    {"role": "user", "content": "Where was it played?"},
]
# The curl example in /work/shared/seeds/001_*.txt; the API answered prompt_tokens 9.
SEED_HELLO = [{"role": "user", "content": "Hello!"}]

# The test TIKTOKEN_CACHE_DIR holds cl100k_base and o200k_base and there is no
# network, so models on p50k_base (text-davinci-003...) really fail to load theirs.
UNLOADABLE_MODEL = "text-davinci-003"
UNLOADABLE_ENCODING = "p50k_base"


@pytest.fixture(autouse=True)
def fresh_cache():
    tokens._reset_cache_for_tests()
    yield
    tokens._reset_cache_for_tests()


@pytest.fixture
def nothing_loads(monkeypatch):
    calls = []

    def fail(name):
        calls.append(name)
        raise requests.ConnectionError(f"Failed to resolve host for {name}")

    monkeypatch.setattr(tiktoken, "get_encoding", fail)
    return calls


def history(*contents, role="user"):
    return [HistoryItem(role=role, content=c, ref=i) for i, c in enumerate(contents)]


def test_it_counts_the_seed_example_as_the_api_did():
    assert count_messages(SEED_EXAMPLE, "gpt-3.5-turbo-0301") == TokenCount(56, True, "cl100k_base")


def test_it_counts_the_seed_hello_as_the_api_did():
    assert count_messages(SEED_HELLO, "gpt-3.5-turbo-0301").tokens == 9
    assert count_messages(SEED_HELLO, "gpt-3.5-turbo").tokens == 9


def test_it_counts_current_models_with_three_tokens_per_message():
    assert count_messages(SEED_EXAMPLE, "gpt-3.5-turbo").tokens == 53
    assert count_messages(SEED_EXAMPLE, "gpt-4").tokens == 53
    assert reply_priming("gpt-4") == 3
    assert reply_priming("gpt-3.5-turbo-0301") == 2


def test_it_adds_a_token_and_the_name_for_a_named_message_on_current_models():
    named = [{"role": "user", "content": "Hello!", "name": "alice"}]
    name_tokens = count_text("alice", "gpt-4").tokens

    assert count_messages(named, "gpt-4").tokens == 9 + 1 + name_tokens


def test_it_lets_a_name_replace_the_role_on_0301():
    named = [{"role": "user", "content": "Hello!", "name": "alice"}]
    name_tokens = count_text("alice", "gpt-3.5-turbo-0301").tokens

    assert count_messages(named, "gpt-3.5-turbo-0301").tokens == 9 - 1 + name_tokens


def test_overhead_plus_cached_content_equals_the_full_count():
    for model in ("gpt-4", "gpt-3.5-turbo-0301", "llama3"):
        parts = [
            message_overhead(model, m["role"]) + count_text(m["content"], model).tokens
            for m in SEED_EXAMPLE
        ]
        assert sum(parts) + reply_priming(model) == count_messages(SEED_EXAMPLE, model).tokens


def test_message_overhead_includes_the_name():
    with_name = message_overhead("gpt-4", "user", "alice")
    assert with_name == message_overhead("gpt-4", "user") + 1 + count_text("alice", "gpt-4").tokens


def test_it_counts_special_token_text_as_plain_text():
    count = count_text("<|endoftext|>", "gpt-4")

    assert count.exact
    assert count.tokens > 1
    assert 100257 not in token_ids("<|endoftext|>", "gpt-4")
    assert count_messages([{"role": "user", "content": "<|endofprompt|>"}], "gpt-4").exact


def test_it_counts_empty_text_as_no_tokens():
    assert count_text("", "gpt-4") == TokenCount(0, True, "cl100k_base")
    assert estimate_tokens("") == 0
    assert token_ids("", "gpt-4") == []


def test_it_counts_a_message_without_content():
    message = {"role": "assistant", "content": None}
    assert count_messages([message], "gpt-4").tokens == message_overhead("gpt-4", "assistant") + 3


@pytest.mark.parametrize("model", ["llama3", "mistral-large-latest", "qwen2.5:7b", "my-finetune"])
def test_it_counts_unknown_models_with_cl100k_but_not_as_exact(model):
    count = count_text("Where was it played?", model)

    assert count == TokenCount(
        count_text("Where was it played?", "gpt-4").tokens, False, "cl100k_base"
    )
    assert count_messages(SEED_EXAMPLE, model).tokens == 53


@pytest.mark.parametrize("model", ["openai/gpt-4", "azure/gpt-35-turbo", "OpenAI/GPT-4-turbo"])
def test_it_strips_a_provider_prefix(model):
    assert count_text("Hello!", model) == TokenCount(2, True, "cl100k_base")


def test_it_reads_the_base_model_of_a_fine_tune():
    model = "ft:gpt-3.5-turbo-0125:my-org::abc123"

    assert count_text("Hello!", model) == TokenCount(2, True, "cl100k_base")
    assert count_messages(SEED_EXAMPLE, model).tokens == 53


def test_it_applies_the_0301_rule_behind_a_prefix():
    assert count_messages(SEED_EXAMPLE, "azure/gpt-35-turbo-0301").tokens == 56


def test_it_falls_back_to_a_flagged_estimate_when_the_encoding_cannot_load():
    count = count_text("Where was it played?", UNLOADABLE_MODEL)

    assert count == TokenCount(
        count_text("Where was it played?", "gpt-4").tokens, False, "cl100k_base"
    )
    assert count_messages(SEED_EXAMPLE, UNLOADABLE_MODEL) == TokenCount(53, False, "cl100k_base")


def test_it_counts_current_models_exactly_with_o200k_base():
    count = count_messages(SEED_HELLO, "gpt-4o-mini")

    assert count.exact and count.encoding == "o200k_base"


def test_it_estimates_from_characters_when_no_encoding_loads(nothing_loads):
    text = "Where was it played?"

    assert count_text(text, "gpt-4") == TokenCount(estimate_tokens(text), False, "estimate")
    assert count_messages(SEED_EXAMPLE, "gpt-4").encoding == "estimate"


def test_it_logs_the_failed_load_once(caplog):
    with caplog.at_level(logging.WARNING, logger="conversations.tokens"):
        for _ in range(3):
            count_text("Hello!", UNLOADABLE_MODEL)
            count_messages(SEED_HELLO, "text-davinci-002")

    assert len(caplog.records) == 1
    assert UNLOADABLE_ENCODING in caplog.records[0].getMessage()


def test_it_does_not_retry_a_failed_load(nothing_loads):
    for _ in range(3):
        count_text("Hello!", "gpt-4")
        count_text("Hello!", UNLOADABLE_MODEL)

    assert sorted(nothing_loads) == ["cl100k_base", UNLOADABLE_ENCODING]


def test_it_retries_after_the_cache_is_reset(nothing_loads):
    count_text("Hello!", "gpt-4")
    tokens._reset_cache_for_tests()
    count_text("Hello!", "gpt-4")

    assert nothing_loads == ["cl100k_base", "cl100k_base"]


def test_it_loads_an_encoding_once_across_threads(monkeypatch):
    real_get_encoding = tiktoken.get_encoding
    calls = []
    monkeypatch.setattr(
        tiktoken, "get_encoding", lambda name: calls.append(name) or real_get_encoding(name)
    )
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(count_messages(SEED_EXAMPLE, "gpt-4")))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert calls == ["cl100k_base"]
    assert results == [TokenCount(53, True, "cl100k_base")] * 8


def test_it_estimates_ascii_at_four_characters_per_token():
    assert estimate_tokens("a") == 1
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("x" * 400) == 100


def test_it_estimates_cjk_at_one_token_per_character():
    assert estimate_tokens("你好世界") == 4
    assert estimate_tokens("hi 你好") == 1 + 2


def test_preload_loads_what_it_can_and_never_raises(caplog):
    with caplog.at_level(logging.WARNING, logger="conversations.tokens"):
        preload(["gpt-4", UNLOADABLE_MODEL, "llama3"])
        count_text("Hello!", UNLOADABLE_MODEL)

    assert len(caplog.records) == 1
    assert UNLOADABLE_ENCODING in caplog.records[0].getMessage()


def test_it_keeps_the_whole_history_when_it_fits():
    plan = build_context(
        system=SEED_EXAMPLE[:1],
        history=[
            HistoryItem(m["role"], m["content"], ref=i) for i, m in enumerate(SEED_EXAMPLE[1:])
        ],
        model="gpt-3.5-turbo-0301",
        context_window=4096,
        max_tokens=1000,
    )

    assert plan.messages == SEED_EXAMPLE
    assert plan.prompt_tokens == 56
    assert (plan.omitted, plan.exact, plan.kept_refs) == (0, True, [0, 1, 2])


def test_it_omits_the_oldest_history_first():
    items = history("one " * 50, "two " * 50, "three")
    system = [{"role": "system", "content": "Be brief."}]
    needed = count_messages(
        [*system, *({"role": "user", "content": i.content} for i in items[1:])], "gpt-4"
    )

    plan = build_context(
        system=system,
        history=items,
        model="gpt-4",
        context_window=needed.tokens + 100,
        max_tokens=100,
    )

    assert plan.omitted == 1
    assert plan.kept_refs == [1, 2]
    assert plan.messages[0] == system[0]
    assert plan.prompt_tokens == needed.tokens == count_messages(plan.messages, "gpt-4").tokens


def test_it_keeps_only_the_newest_message_when_space_is_tight():
    items = history("old " * 100, "newest")
    window = count_messages([{"role": "user", "content": "newest"}], "gpt-4").tokens + 10

    plan = build_context(
        system=[], history=items, model="gpt-4", context_window=window, max_tokens=10
    )

    assert (plan.kept_refs, plan.omitted) == ([1], 1)


def test_it_uses_cached_content_tokens():
    item = HistoryItem(role="user", content="Hello!", content_tokens=500, ref="m1")

    plan = build_context(
        system=[], history=[item], model="gpt-4", context_window=2000, max_tokens=100
    )

    assert plan.prompt_tokens == reply_priming("gpt-4") + message_overhead("gpt-4", "user") + 500


def test_it_builds_an_empty_history_from_the_system_prompt_alone():
    plan = build_context(
        system=SEED_EXAMPLE[:1], history=[], model="gpt-4", context_window=100, max_tokens=10
    )

    assert (plan.messages, plan.omitted, plan.kept_refs) == (SEED_EXAMPLE[:1], 0, [])


def test_it_refuses_a_newest_message_that_cannot_fit():
    long_text = "word " * 500
    needed = message_overhead("gpt-4", "user") + count_text(long_text, "gpt-4").tokens

    with pytest.raises(MessageTooLong) as caught:
        build_context(
            system=[],
            history=history("short and old", long_text),
            model="gpt-4",
            context_window=300,
            max_tokens=100,
        )

    assert caught.value.code == "message_too_long"
    assert isinstance(caught.value, ContextError)
    assert (caught.value.needed, caught.value.available) == (needed, 200 - reply_priming("gpt-4"))
    assert f"it needs {needed} tokens" in caught.value.message


def test_it_refuses_max_tokens_that_fill_the_window():
    with pytest.raises(ContextTooSmall) as caught:
        build_context(
            system=[], history=history("hi"), model="gpt-4", context_window=100, max_tokens=100
        )

    assert caught.value.code == "context_too_small"
    assert isinstance(caught.value, ContextError)
    assert (caught.value.needed, caught.value.available) == (100, 100)
    assert caught.value.extra == {"needed": 100, "available": 100}


def test_it_refuses_a_system_prompt_that_cannot_fit():
    system = [{"role": "system", "content": "rule " * 200}]
    needed = count_messages(system, "gpt-4").tokens

    with pytest.raises(ContextTooSmall) as caught:
        build_context(
            system=system, history=history("hi"), model="gpt-4", context_window=150, max_tokens=50
        )

    assert (caught.value.needed, caught.value.available) == (needed, 100)


def test_it_builds_a_context_with_estimates_when_nothing_loads(nothing_loads):
    plan = build_context(
        system=SEED_EXAMPLE[:1],
        history=history("Hello!"),
        model="gpt-4",
        context_window=100,
        max_tokens=10,
    )

    assert (plan.exact, plan.kept_refs) == (False, [0])


def test_token_ids_roundtrip_through_decode_token():
    ids = token_ids("hello", "gpt-4")

    assert ids == [15339]
    assert decode_token(ids[0], "gpt-4") == "hello"


def test_it_knows_which_token_ids_exist():
    assert vocab_size("gpt-4") == 100277
    assert is_valid_token_id(0, "gpt-4") is True
    assert is_valid_token_id(100276, "gpt-4") is True
    assert is_valid_token_id(100277, "gpt-4") is False
    assert is_valid_token_id(100261, "gpt-4") is False
    assert is_valid_token_id(-1, "gpt-4") is False
    assert decode_token(100277, "gpt-4") is None


def test_it_decodes_part_of_a_character_with_a_replacement_mark():
    first, _ = token_ids("🙂", "gpt-4")

    assert decode_token(first, "gpt-4") == "\ufffd"


@pytest.mark.parametrize("model", [UNLOADABLE_MODEL, "llama3"])
def test_it_refuses_token_ids_it_cannot_know(model):
    with pytest.raises(EncodingUnavailable, match=model):
        token_ids("hello", model)

    assert vocab_size(model) is None
    assert is_valid_token_id(15339, model) is None
    assert decode_token(15339, model) is None
