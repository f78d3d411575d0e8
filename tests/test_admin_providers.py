"""Providers and models in the admin: test connection, sync, host changes, parameters."""

import pytest

from conversations.models import ModelConfig, Provider
from tests.fakeupstream import FakeUpstream

CANARY = "sk-canary-0d1e2f3a4b5c6d7e"


@pytest.fixture(scope="module")
def keyed_server():
    """A fake upstream that only answers requests carrying the canary key."""
    with FakeUpstream(api_key=CANARY, models=["gpt-4o", "text-embedding-3-small", "tts-1"]) as s:
        yield s


def provider_for(base_url: str, key: str = "", name: str = "Fake") -> Provider:
    provider = Provider(name=name, base_url=base_url, connect_timeout=2, first_byte_timeout=2)
    provider.allow_local_network = True  # the fakes listen on 127.0.0.1
    provider.set_api_key(key)
    provider.save()
    return provider


def provider_form(provider: Provider, **changes) -> dict:
    form = {
        "name": provider.name,
        "base_url": provider.base_url,
        "api_key": "",
        "api_key_env": provider.api_key_env,
        "organization": "",
        "connect_timeout": 10,
        "first_byte_timeout": 60,
        "idle_timeout": 60,
        "total_timeout": 600,
        "enabled": "on",
        "allow_local_network": "on",  # the fakes and Ollama examples are local
    }
    form.update(changes)
    return form


def run_action(client, action: str, objects, model: str = "provider"):
    return client.post(
        f"/admin/conversations/{model}/",
        {"action": action, "_selected_action": [o.pk for o in objects]},
    )


# --- Test connection ----------------------------------------------------------------------


def test_test_connection_calls_v1_models_and_shows_what_it_found(admin_client, keyed_server):
    provider = provider_for(keyed_server.base_url, CANARY)
    keyed_server.reset()
    response = run_action(admin_client, "test_connection", [provider])
    page = response.content.decode()
    assert response.status_code == 200
    assert "Connected." in page
    assert "with 3 models" in page
    assert "<code>gpt-4o</code>" in page
    [request] = keyed_server.requests
    assert (request.method, request.path) == ("GET", "/v1/models")
    assert request.headers["authorization"] == f"Bearer {CANARY}"
    assert CANARY not in page


def test_a_failed_connection_shows_the_error_without_the_key(admin_client, keyed_server):
    wrong = "sk-wrong-9f8e7d6c5b4a39281706"
    provider = provider_for(keyed_server.base_url, wrong)
    page = admin_client.post(f"/admin/conversations/provider/{provider.pk}/test-connection/")
    text = page.content.decode()
    assert "The connection failed." in text
    assert "upstream_auth" in text
    assert wrong not in text
    assert "[redacted]" in text


def test_an_unreachable_provider_is_reported_quickly(admin_client, db):
    provider = provider_for("http://127.0.0.1:9/v1")
    page = admin_client.post(f"/admin/conversations/provider/{provider.pk}/test-connection/")
    assert "upstream_unreachable" in page.content.decode()


def test_the_change_page_offers_test_and_sync_buttons(admin_client, fake):
    provider = provider_for(fake.base_url)
    page = admin_client.get(f"/admin/conversations/provider/{provider.pk}/change/").content
    assert f"/admin/conversations/provider/{provider.pk}/test-connection/".encode() in page
    assert f"/admin/conversations/provider/{provider.pk}/sync-models/".encode() in page


def test_the_buttons_accept_only_post(admin_client, fake):
    provider = provider_for(fake.base_url)
    response = admin_client.get(f"/admin/conversations/provider/{provider.pk}/test-connection/")
    assert response.status_code == 405
    assert fake.requests == []


# --- Sync models --------------------------------------------------------------------------


def test_sync_creates_disabled_models_with_a_guessed_kind_and_window(admin_client, keyed_server):
    provider = provider_for(keyed_server.base_url, CANARY)
    page = run_action(admin_client, "sync_models", [provider]).content.decode()
    rows = {m.model_id: m for m in ModelConfig.objects.filter(provider=provider)}
    assert set(rows) == {"gpt-4o", "text-embedding-3-small", "tts-1"}
    assert not any(m.enabled for m in rows.values())
    assert (rows["gpt-4o"].kind, rows["gpt-4o"].context_window) == ("chat", 128_000)
    assert rows["gpt-4o"].max_output_tokens == 16_384
    assert rows["text-embedding-3-small"].kind == "embedding"
    assert rows["tts-1"].kind == "other"
    assert "Added (disabled until you enable them)" in page


def test_sync_keeps_edited_rows_and_reports_models_no_longer_listed(admin_client, fake):
    provider = provider_for(fake.base_url)
    kept = ModelConfig.objects.create(
        provider=provider, model_id="gpt-4o", context_window=4096, display_name="Mine"
    )
    ModelConfig.objects.create(provider=provider, model_id="retired-model")
    page = admin_client.post(f"/admin/conversations/provider/{provider.pk}/sync-models/")
    text = page.content.decode()
    kept.refresh_from_db()
    assert (kept.context_window, kept.display_name, kept.enabled) == (4096, "Mine", True)
    assert "<code>retired-model</code>" in text.split("No longer listed")[1]
    assert ModelConfig.objects.filter(model_id="retired-model").exists()
    assert ModelConfig.objects.filter(provider=provider).count() == 4


def test_a_context_window_reported_by_the_listing_replaces_the_stored_one(provider):
    model = ModelConfig.objects.create(
        provider=provider,
        model_id="meta/llama",
        context_window=8192,
        max_output_tokens=8000,
        context_window_source="guessed",
    )
    report = ModelConfig.objects.sync_listing(
        provider, [{"id": "meta/llama", "max_model_len": 4096}]
    )
    model.refresh_from_db()
    assert report.updated == ["meta/llama"]
    assert (model.context_window, model.max_output_tokens) == (4096, None)


def test_checking_a_model_uses_v1_models_id(admin_client, fake):
    provider = provider_for(fake.base_url)
    known = ModelConfig.objects.create(provider=provider, model_id="gpt-4o-mini")
    unknown = ModelConfig.objects.create(provider=provider, model_id="no-such-model")
    page = run_action(admin_client, "check_with_provider", [known, unknown], "modelconfig")
    text = page.content.decode()
    paths = sorted(r.path for r in fake.requests)
    assert paths == ["/v1/models/gpt-4o-mini", "/v1/models/no-such-model"]
    assert "owned by fake-upstream" in text
    assert "model_not_found" in text


# --- The key and the host ------------------------------------------------------------------


def test_changing_the_host_requires_the_key_again(admin_client, db):
    provider = provider_for("https://api.example.com/v1", CANARY)
    url = f"/admin/conversations/provider/{provider.pk}/change/"
    moved = provider_form(provider, base_url="https://evil.example.net/v1")
    response = admin_client.post(url, moved)
    assert response.status_code == 200
    assert "The host changed: enter the key again" in response.content.decode()
    assert CANARY not in response.content.decode()
    assert Provider.objects.get().base_url == "https://api.example.com/v1"
    assert admin_client.post(url, {**moved, "api_key": "sk-new-key-123"}).status_code == 302
    assert Provider.objects.get().get_api_key() == "sk-new-key-123"


def test_changing_only_the_path_keeps_the_key(admin_client, db):
    provider = provider_for("https://api.example.com/v1", CANARY)
    url = f"/admin/conversations/provider/{provider.pk}/change/"
    response = admin_client.post(
        url, provider_form(provider, base_url="https://api.example.com/v2")
    )
    assert response.status_code == 302
    assert Provider.objects.get().get_api_key() == CANARY


def test_moving_host_is_allowed_when_the_key_is_removed(admin_client, db):
    provider = provider_for("https://api.example.com/v1", CANARY)
    url = f"/admin/conversations/provider/{provider.pk}/change/"
    form = provider_form(provider, base_url="http://localhost:11434/v1", clear_api_key="on")
    assert admin_client.post(url, form).status_code == 302
    assert Provider.objects.get().get_api_key() == ""


def test_a_key_from_the_environment_also_needs_confirming_on_a_new_host(admin_client, db):
    provider = Provider.objects.create(
        name="Env", base_url="https://api.example.com/v1", api_key_env="OPENAI_API_KEY"
    )
    url = f"/admin/conversations/provider/{provider.pk}/change/"
    form = provider_form(provider, base_url="https://other.example.com/v1")
    assert "The host changed" in admin_client.post(url, form).content.decode()
    assert admin_client.post(url, {**form, "api_key_env": ""}).status_code == 302


def test_the_key_is_shown_masked_only(admin_client, db):
    provider = provider_for("https://api.example.com/v1", CANARY)
    page = admin_client.get(f"/admin/conversations/provider/{provider.pk}/change/").content
    assert "•••••••• stored, encrypted".encode() in page
    assert CANARY.encode() not in page
    listing = admin_client.get("/admin/conversations/provider/").content
    assert CANARY.encode() not in listing
    assert provider.api_key_encrypted.encode() not in listing


# --- Models: defaults by the chat's rules --------------------------------------------------


def model_form(provider, **changes) -> dict:
    form = {
        "provider": provider.pk,
        "model_id": "gpt-4o",
        "display_name": "GPT-4o",
        "kind": "chat",
        "context_window": 128000,
        "max_output_tokens": 16384,
        "price_input_per_million": "2.5",
        "price_output_per_million": "10",
        "enabled": "on",
    }
    form.update(changes)
    return form


def test_model_defaults_are_validated_by_the_chat_rules(admin_client, provider):
    url = "/admin/conversations/modelconfig/add/"
    response = admin_client.post(url, model_form(provider, temperature="2.5"))
    assert "Must be from 0 to 2." in response.content.decode()
    response = admin_client.post(url, model_form(provider, max_tokens="20000"))
    assert "Must be from 1 to 16384." in response.content.decode()
    assert not ModelConfig.objects.exists()


def test_model_defaults_are_saved_with_logit_bias_words_as_ids(admin_client, provider):
    form = model_form(
        provider, model_id="gpt-4-turbo", max_output_tokens=4096, temperature="0.3",
        logit_bias="hello: -10",
    )  # fmt: skip
    response = admin_client.post("/admin/conversations/modelconfig/add/", form)
    assert response.status_code == 302
    model = ModelConfig.objects.get()
    assert model.default_params == {"temperature": 0.3, "logit_bias": {"15339": -10}}
    assert model.price_output_per_million == 10
    page = admin_client.get(f"/admin/conversations/modelconfig/{model.pk}/change/").content
    assert b"15339: -10" in page
