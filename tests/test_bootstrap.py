"""The environment's provider and model are created once, idempotently."""

from io import StringIO

from django.contrib.auth.models import User
from django.core.management import call_command

from conversations.bootstrap import ENV_PROVIDER_NAME, ensure_env_provider
from conversations.models import ModelConfig, Provider


def bootstrap(settings, **values) -> str:
    settings.OPENAI_BASE_URL = values.get("base_url", "http://127.0.0.1:8001/v1")
    settings.OPENAI_API_KEY = values.get("api_key", "sk-test")
    settings.OPENAI_MODEL = values.get("model", "gpt-4o-mini")
    out = StringIO()
    call_command("bootstrap", stdout=out)
    return out.getvalue()


def test_it_creates_the_provider_and_a_default_model(db, settings):
    output = bootstrap(settings)
    provider = Provider.objects.get(name=ENV_PROVIDER_NAME)
    model = ModelConfig.objects.get()
    assert provider.base_url == "http://127.0.0.1:8001/v1"
    assert model.model_id == "gpt-4o-mini"
    assert model.is_default
    assert model.context_window == 128_000
    assert "created provider" in output


def test_it_is_idempotent(db, settings):
    bootstrap(settings)
    output = bootstrap(settings)
    assert Provider.objects.count() == 1
    assert ModelConfig.objects.count() == 1
    assert "nothing new" in output


def test_it_never_stores_the_key_itself(db, settings, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-bootstrap")
    bootstrap(settings, api_key="sk-canary-bootstrap")
    provider = Provider.objects.get()
    assert provider.api_key_encrypted == ""
    assert provider.api_key_env == "OPENAI_API_KEY"
    assert provider.get_api_key() == "sk-canary-bootstrap"


def test_it_follows_a_changed_base_url(db, settings):
    bootstrap(settings)
    bootstrap(settings, base_url="http://127.0.0.1:11434/v1", model="llama3.1")
    provider = Provider.objects.get()
    assert provider.base_url == "http://127.0.0.1:11434/v1"
    assert set(provider.models.values_list("model_id", flat=True)) == {"gpt-4o-mini", "llama3.1"}
    assert ModelConfig.objects.get(is_default=True).model_id == "gpt-4o-mini"


def test_it_does_nothing_without_a_model_and_says_how_to_configure(db, settings):
    output = bootstrap(settings, model="")
    assert Provider.objects.count() == 0
    assert "OPENAI_MODEL is not set" in output


def test_a_keyless_server_gets_no_key_variable(db):
    result = ensure_env_provider(base_url="http://127.0.0.1:11434/v1", api_key="", model_id="qwen")
    assert result.provider.api_key_env == ""


def test_ensure_admin_creates_one_admin_and_prints_how_to_sign_in(db):
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    assert User.objects.filter(is_superuser=True).count() == 1
    assert "password:" in out.getvalue()
    again = StringIO()
    call_command("ensure_admin", stdout=again)
    assert User.objects.filter(is_superuser=True).count() == 1
    assert "password:" not in again.getvalue()
