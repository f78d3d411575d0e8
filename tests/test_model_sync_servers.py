"""Model sync against listings shaped like real servers: kinds, windows, re-syncs, the admin.

Each test builds the /v1/models listing a server of that family sends (and
LiteLLM's /model/info) and syncs through the admin against the local fake.
"""

import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import Group

from conversations import catalog
from conversations.models import ModelConfig
from tests.fakeupstream import FakeUpstream
from tests.test_admin_providers import provider_for

CREATED = 1_733_000_000


def sync(admin_client, server: FakeUpstream, provider=None):
    """Sync through the admin's button; the provider's rows by id, and the page."""
    provider = provider or provider_for(server.base_url)
    response = admin_client.post(f"/admin/conversations/provider/{provider.pk}/sync-models/")
    assert response.status_code == 200
    rows = {row.model_id: row for row in ModelConfig.objects.filter(provider=provider)}
    return rows, response.content.decode(), provider


def facts(row: ModelConfig) -> tuple:
    return (row.kind, row.context_window, row.max_output_tokens, row.context_window_source)


def entry(model_id: str, owned_by: str = "organization-owner", **fields) -> dict:
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": owned_by, **fields}


# --- What each kind of server lists -------------------------------------------------------


def test_a_vllm_listing_gives_the_window_it_serves_and_instruct_models_are_chat(admin_client):
    served = entry(
        "meta-llama/Llama-3.1-8B-Instruct",
        "vllm",
        root="meta-llama/Llama-3.1-8B-Instruct",
        parent=None,
        max_model_len=512,
        permission=[{"id": "modelperm-1", "object": "model_permission", "allow_sampling": True}],
    )
    with FakeUpstream(listing=[served]) as server:
        rows, page, _provider = sync(admin_client, server)
    row = rows["meta-llama/Llama-3.1-8B-Instruct"]
    assert facts(row) == ("chat", 512, None, "listed")
    assert not row.enabled
    assert "1 new model added, disabled until you enable it." in page
    assert "Kinds found: chat: 1." in page


def test_an_openrouter_listing_gives_kinds_windows_and_output_caps(admin_client):
    def routed(model_id, outputs, window, cap):
        architecture = {
            "modality": f"text->{'+'.join(outputs)}",
            "input_modalities": ["text"],
            "output_modalities": outputs,
            "tokenizer": "Other",
        }
        top = {"context_length": window, "max_completion_tokens": cap, "is_moderated": False}
        return {
            "id": model_id,
            "name": model_id.title(),
            "created": CREATED,
            "context_length": window,
            "architecture": architecture,
            "pricing": {"prompt": "0.0000025", "completion": "0.00001"},
            "top_provider": top,
        }

    listing = [
        routed("openai/gpt-4o", ["text"], 128_000, 16_384),
        routed("openai/gpt-3.5-turbo-instruct", ["text"], 4_095, 4_096),
        routed("google/gemini-2.5-flash-image", ["image", "text"], 32_768, 8_192),
        routed("black-forest-labs/flux-pro", ["image"], 4_096, None),
    ]
    with FakeUpstream(listing=listing) as server:
        rows, page, _provider = sync(admin_client, server)
    assert facts(rows["openai/gpt-4o"]) == ("chat", 128_000, 16_384, "listed")
    # OpenRouter serves every text model through chat completions.
    assert facts(rows["openai/gpt-3.5-turbo-instruct"]) == ("chat", 4_095, None, "listed")
    assert rows["google/gemini-2.5-flash-image"].kind == "chat"
    assert facts(rows["black-forest-labs/flux-pro"]) == ("image", 4_096, None, "listed")
    assert "Kinds found: chat: 3, image: 1." in page


def test_a_llama_cpp_listing_gives_the_served_context_when_it_says_it(admin_client):
    def gguf(model_id, **meta):
        meta = {"vocab_type": 2, "n_vocab": 49152, "n_embd": 576, "n_params": 134515008, **meta}
        return entry(model_id, "llamacpp", meta=meta)

    listing = [
        gguf("SmolLM2-135M-Instruct-Q8_0.gguf", n_ctx_train=8192),
        gguf("/models/qwen2.5-0.5b-instruct-q4_k_m.gguf", n_ctx_train=32768, n_ctx=512),
    ]
    with FakeUpstream(listing=listing) as server:
        rows, page, _provider = sync(admin_client, server)
    # The length it was trained for is only an upper bound: the server may serve less.
    assert facts(rows["SmolLM2-135M-Instruct-Q8_0.gguf"]) == ("chat", 8192, None, "guessed")
    assert facts(rows["/models/qwen2.5-0.5b-instruct-q4_k_m.gguf"]) == (
        "chat",
        512,
        None,
        "listed",
    )
    assert "1 context window is a guess: check it." in page


def test_a_litellm_proxy_tells_kinds_and_limits_in_its_model_info(admin_client):
    listing = [entry(name, "openai") for name in ("team-gpt", "team-embedder", "team-drawer")]
    info = {
        "data": [
            {
                "model_name": "team-gpt",
                "litellm_params": {"model": "azure/gpt-4o", "api_base": "https://x.example"},
                "model_info": {
                    "id": "a1",
                    "mode": "chat",
                    "max_tokens": 16_384,
                    "max_input_tokens": 128_000,
                    "max_output_tokens": 16_384,
                },
            },
            {
                "model_name": "team-embedder",
                "model_info": {"mode": "embedding", "max_tokens": 8191},
            },
            {"model_name": "team-drawer", "model_info": {"mode": "image_generation"}},
        ]
    }
    with FakeUpstream(listing=listing, model_info=info) as server:
        rows, _page, provider = sync(admin_client, server)
        paths = sorted(request.path for request in server.requests)
    assert paths == ["/v1/model/info", "/v1/models"]
    assert facts(rows["team-gpt"]) == ("chat", 128_000, 16_384, "listed")
    assert facts(rows["team-embedder"]) == ("embedding", 8191, None, "listed")
    assert facts(rows["team-drawer"]) == ("image", 8192, None, "guessed")
    provider.refresh_from_db()
    assert provider.last_error_code == ""


OPENAI_KINDS = {
    "gpt-4o-mini": "chat",
    "gpt-4.1": "chat",
    "o3-mini": "chat",
    "gpt-3.5-turbo-instruct": "completion",
    "davinci-002": "completion",
    "babbage-002": "completion",
    "text-embedding-3-small": "embedding",
    "text-embedding-ada-002": "embedding",
    "dall-e-3": "image",
    "gpt-image-1": "image",
    "whisper-1": "other",
    "tts-1-hd": "other",
    "gpt-4o-mini-tts": "other",
    "gpt-4o-transcribe": "other",
    "omni-moderation-latest": "other",
    "gpt-4o-realtime-preview": "other",
    "gpt-4o-audio-preview": "other",
    "o1-pro": "other",  # the Responses API only
}


def test_an_openai_listing_is_classified_by_well_known_names(admin_client):
    listing = [entry(model_id, "system") for model_id in OPENAI_KINDS]
    with FakeUpstream(listing=listing) as server:
        rows, page, provider = sync(admin_client, server)
    assert {model_id: row.kind for model_id, row in rows.items()} == OPENAI_KINDS
    assert facts(rows["gpt-4o-mini"]) == ("chat", 128_000, 16_384, "known")
    assert "Kinds found: other: 8, chat: 3, completion: 3, embedding: 2, image: 2." in page
    provider.refresh_from_db()
    assert provider.last_error_code == ""  # its 404 for /model/info is nobody's error


def test_new_rows_take_the_reasoning_habits_of_their_name(admin_client):
    names = ["o3-mini", "o1-mini", "gpt-5-nano", "gpt-4o", "openai/o4-mini"]
    with FakeUpstream(listing=[entry(name) for name in names]) as server:
        rows, _page, _provider = sync(admin_client, server)

    def habits(name):
        row = rows[name]
        return (row.token_limit_param, row.system_role, row.takes_reasoning_effort)

    assert habits("o3-mini") == ("max_completion_tokens", "developer", True)
    assert habits("openai/o4-mini") == ("max_completion_tokens", "developer", True)
    assert habits("gpt-5-nano") == ("max_completion_tokens", "developer", True)
    assert habits("o1-mini") == ("max_completion_tokens", "system", False)
    assert habits("gpt-4o") == ("max_tokens", "system", False)


def test_an_unknown_model_with_no_listed_window_gets_a_marked_guess(admin_client):
    with FakeUpstream(listing=[entry("HuggingFaceTB/SmolLM2-135M-Instruct", "me")]) as server:
        rows, page, _provider = sync(admin_client, server)
    assert facts(rows["HuggingFaceTB/SmolLM2-135M-Instruct"]) == ("chat", 8192, None, "guessed")
    assert "Context window guessed (check it)" in page


@pytest.mark.parametrize(
    "bad",
    [
        {"max_model_len": "4096"},
        {"max_model_len": True},
        {"max_model_len": -4096},
        {"max_model_len": 10**15},
        {"max_model_len": 4096.5},
        {"context_length": None, "top_provider": "big"},
        {"meta": ["n_ctx", 512]},
        {"architecture": {"output_modalities": "image"}},
        {"model_info": {"mode": ["chat"]}},
    ],
)
def test_listing_values_of_the_wrong_shape_are_ignored(admin_client, bad):
    with FakeUpstream(listing=[entry("some-model", **bad)]) as server:
        rows, _page, _provider = sync(admin_client, server)
    assert facts(rows["some-model"]) == ("chat", 8192, None, "guessed")


def test_a_hostile_model_id_is_shown_as_text(admin_client):
    hostile = '<img src=x onerror="alert(1)">'
    with FakeUpstream(listing=[entry(hostile)]) as server:
        _rows, page, _provider = sync(admin_client, server)
    assert hostile not in page
    assert "&lt;img src=x" in page
    changelist = admin_client.get("/admin/conversations/modelconfig/").content.decode()
    assert hostile not in changelist


# --- What a re-sync changes ---------------------------------------------------------------


def test_a_resync_takes_a_listed_window_over_a_guess_or_a_known_name_never_over_staff(
    admin_client,
):
    listing = [entry(name, max_model_len=4096) for name in ("guessed", "gpt-4o", "staff")]
    with FakeUpstream(listing=listing) as server:
        provider = provider_for(server.base_url)
        make = ModelConfig.objects.create
        make(provider=provider, model_id="guessed", context_window_source="guessed")
        make(
            provider=provider,
            model_id="gpt-4o",
            context_window=128_000,
            max_output_tokens=16_384,
            context_window_source="known",
        )
        make(
            provider=provider, model_id="staff", context_window=2048, context_window_source="staff"
        )
        rows, page, _provider = sync(admin_client, server, provider)
    assert facts(rows["guessed"]) == ("chat", 4096, None, "listed")
    assert facts(rows["gpt-4o"]) == ("chat", 4096, None, "listed")
    assert facts(rows["staff"]) == ("chat", 2048, None, "staff")
    assert "<code>gpt-4o</code>, <code>guessed</code>" in page.split("Updated from the listing")[1]


def test_a_resync_never_trades_a_listed_window_for_a_guess(admin_client):
    with FakeUpstream(listing=[entry("local-model", max_model_len=2048)]) as server:
        rows, _page, provider = sync(admin_client, server)
        server.listing = [entry("local-model")]  # restarted without saying it
        rows, _page, _provider = sync(admin_client, server, provider)
    assert facts(rows["local-model"]) == ("chat", 2048, None, "listed")


def test_a_resync_corrects_the_kind_the_old_instruct_rule_guessed(admin_client):
    with FakeUpstream(listing=[entry("meta-llama/Llama-3.1-8B-Instruct")]) as server:
        provider = provider_for(server.base_url)
        ModelConfig.objects.create(  # as the sync before this one made it
            provider=provider,
            model_id="meta-llama/Llama-3.1-8B-Instruct",
            kind="completion",
            enabled=False,
            context_window_source="guessed",
        )
        rows, page, _provider = sync(admin_client, server, provider)
    assert rows["meta-llama/Llama-3.1-8B-Instruct"].kind == "chat"
    corrected = page.split("Kind corrected (the old guess was wrong)")[1].split("</tr>")[0]
    assert "<code>meta-llama/Llama-3.1-8B-Instruct</code>" in corrected


def test_a_kind_staff_chose_in_the_admin_survives_a_resync(admin_client):
    with FakeUpstream(listing=[entry("acme/Writer-Instruct")]) as server:
        rows, _page, provider = sync(admin_client, server)
        row = rows["acme/Writer-Instruct"]
        form = change_form(row, kind="completion")
        response = admin_client.post(f"/admin/conversations/modelconfig/{row.pk}/change/", form)
        assert response.status_code == 302
        rows, _page, _provider = sync(admin_client, server, provider)
    assert rows["acme/Writer-Instruct"].kind == "completion"


def test_a_context_window_staff_typed_in_the_admin_is_theirs(admin_client):
    with FakeUpstream(listing=[entry("local-model", max_model_len=4096)]) as server:
        rows, _page, provider = sync(admin_client, server)
        row = rows["local-model"]
        form = change_form(row, context_window=3000)
        response = admin_client.post(f"/admin/conversations/modelconfig/{row.pk}/change/", form)
        assert response.status_code == 302
        server.listing = [entry("local-model", max_model_len=8192)]
        rows, _page, _provider = sync(admin_client, server, provider)
    assert facts(rows["local-model"]) == ("chat", 3000, None, "staff")


def test_staff_confirm_a_guess_by_choosing_set_by_staff(admin_client):
    with FakeUpstream(listing=[entry("mystery")]) as server:
        rows, _page, _provider = sync(admin_client, server)
    row = rows["mystery"]
    form = change_form(row, context_window_source="staff")
    admin_client.post(f"/admin/conversations/modelconfig/{row.pk}/change/", form)
    row.refresh_from_db()
    assert (row.context_window, row.context_window_source) == (8192, "staff")


def change_form(row: ModelConfig, **changes) -> dict:
    form = {
        "provider": row.provider_id,
        "model_id": row.model_id,
        "display_name": row.display_name,
        "kind": row.kind,
        "context_window": row.context_window,
        "max_output_tokens": row.max_output_tokens or "",
        "context_window_source": row.context_window_source,
        "token_limit_param": row.token_limit_param,
        "system_role": row.system_role,
        "supports_n": "on",
        "price_input_per_million": "0",
        "price_output_per_million": "0",
    }
    form.update(changes)
    return form


# --- What the admin tells staff -----------------------------------------------------------


def test_the_models_list_marks_guesses_and_says_why_a_model_is_hidden(admin_client, provider):
    make = ModelConfig.objects.create
    make(provider=provider, model_id="guessy", context_window_source="guessed")
    make(provider=provider, model_id="vectors", kind="embedding", context_window_source="listed")
    make(provider=provider, model_id="dormant", enabled=False, context_window_source="known")
    team_only = make(provider=provider, model_id="team-only")
    team_only.allowed_groups.add(Group.objects.create(name="research"))
    page = admin_client.get("/admin/conversations/modelconfig/").content.decode()
    row = {name: page.split(f">{name}</a>")[1].split("</tr>")[0] for name in
           ("guessy", "vectors", "dormant", "team-only")}  # fmt: skip
    assert 'class="badge source-guessed"' in row["guessy"]
    assert ">guess<" in row["guessy"]
    assert "Everyone" in row["guessy"]
    assert "No: not a chat model (embedding)" in row["vectors"]
    assert "No: disabled" in row["dormant"]
    assert "Only research" in row["team-only"]
    assert "source-guessed" not in row["vectors"]


def test_a_disabled_provider_hides_its_models_and_the_filter_finds_them(admin_client, provider):
    ModelConfig.objects.create(provider=provider, model_id="orphan")
    provider.enabled = False
    provider.save()
    hidden = admin_client.get("/admin/conversations/modelconfig/?visible=no").content.decode()
    assert "No: provider disabled" in hidden
    shown = admin_client.get("/admin/conversations/modelconfig/?visible=yes").content.decode()
    assert ">orphan</a>" not in shown


def test_the_change_form_asks_staff_to_check_a_guess(admin_client, provider):
    guessed = ModelConfig.objects.create(
        provider=provider, model_id="guessy", context_window_source="guessed", enabled=False
    )
    page = admin_client.get(f"/admin/conversations/modelconfig/{guessed.pk}/change/")
    text = page.content.decode()
    assert "A guess: the provider did not say." in text
    assert "No: disabled" in text


def test_saving_a_hidden_model_says_why_nobody_can_chat_with_it(admin_client, provider):
    row = ModelConfig.objects.create(provider=provider, model_id="vectors", kind="embedding")
    response = admin_client.post(
        f"/admin/conversations/modelconfig/{row.pk}/change/",
        change_form(row, enabled="on"),
        follow=True,
    )
    assert "Nobody can chat with this model yet: not a chat model (embedding)." in (
        response.content.decode()
    )


def test_a_model_staff_add_takes_the_reasoning_habits_of_its_name(admin_client, provider):
    form = change_form(
        ModelConfig(provider=provider, model_id="o3-mini"), enabled="on", reasoning_effort="high"
    )
    for name in ("context_window_source", "token_limit_param", "system_role", "supports_n"):
        form.pop(name)
    response = admin_client.post("/admin/conversations/modelconfig/add/", form)
    assert response.status_code == 302
    row = ModelConfig.objects.get(model_id="o3-mini")
    assert (row.token_limit_param, row.system_role, row.context_window_source) == (
        "max_completion_tokens",
        "developer",
        "staff",
    )
    assert row.default_params == {"reasoning_effort": "high"}


# --- The catalog and the data fix ---------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "kind"),
    [
        ("HuggingFaceTB/SmolLM2-135M-Instruct", "chat"),
        ("Qwen/Qwen2.5-7B-Instruct", "chat"),
        ("mistralai/Mistral-7B-Instruct-v0.3", "chat"),
        ("gpt-3.5-turbo-instruct-0914", "completion"),
        ("text-davinci-003", "completion"),
        ("nomic-embed-text:latest", "embedding"),
        ("BAAI/bge-reranker-v2-m3", "other"),
        ("stabilityai/stable-diffusion-xl-base-1.0", "image"),
        ("llama3.1:8b", "chat"),
        ("adapted-llama", "chat"),
    ],
)
def test_names_say_the_kind_only_when_well_known(model_id, kind):
    assert catalog.kind_for(model_id) == kind


def test_the_data_fix_marks_what_the_old_sync_took_from_its_table_or_guessed(provider):
    make = ModelConfig.objects.create
    known = make(
        provider=provider, model_id="gpt-4o", context_window=128_000, max_output_tokens=16_384
    )
    blind = make(provider=provider, model_id="local/llama", context_window=8192)
    edited = make(provider=provider, model_id="gpt-4", context_window=4096)
    fix = importlib.import_module("conversations.migrations.0008_context_window_sources")
    fix.mark_sources(apps, None)
    sources = {row.model_id: row.context_window_source for row in (known, blind, edited)}
    for row in (known, blind, edited):
        row.refresh_from_db()
    assert {row.model_id: row.context_window_source for row in (known, blind, edited)} == {
        "gpt-4o": "known",
        "local/llama": "guessed",
        "gpt-4": "staff",
    }
    assert set(sources.values()) == {"staff"}  # as migration 0007 left them
