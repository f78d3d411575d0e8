"""Settings come from the environment, fail loudly when malformed, and are secure by default."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from chatsite import env

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_KEY = "k3y-for-the-deploy-check-" + "x7Qp2LmZ9vRt4WcY8nBd3FhJ6sKa1GuE"


def run_django(command: list[str], **variables: str) -> subprocess.CompletedProcess:
    """Run manage.py with only the given settings variables in its environment."""
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **variables}
    return subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def production(**extra: str) -> dict[str, str]:
    return {
        "DJANGO_SECRET_KEY": PRODUCTION_KEY,
        "DJANGO_ALLOWED_HOSTS": "chat.example.com",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://chat.example.com",
        **extra,
    }


def test_the_deploy_check_is_clean_with_only_the_four_required_settings():
    result = run_django(["check", "--deploy", "--fail-level", "WARNING"], **production())
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_the_deploy_check_fails_while_the_tests_fast_password_hasher_is_on():
    result = run_django(["check", "--deploy"], **production(CHATSITE_FAST_PASSWORD_HASHER="true"))
    assert result.returncode != 0
    assert "chatsite.E001" in result.stderr + result.stdout


def test_it_refuses_to_start_with_a_wildcard_host_when_debug_is_off():
    result = run_django(["check"], **production(DJANGO_ALLOWED_HOSTS="chat.example.com,*"))
    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS" in result.stderr


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off():
    variables = production()
    del variables["DJANGO_SECRET_KEY"]
    result = run_django(["check"], **variables)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_it_starts_without_a_secret_key_in_debug():
    result = run_django(["check"], DJANGO_DEBUG="true")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DJANGO_DEBUG", "ture"),
        ("DJANGO_SECURE_HSTS_SECONDS", "a year"),
        ("DATABASE_CONN_MAX_AGE", "-5"),
        ("DJANGO_CSRF_TRUSTED_ORIGINS", "chat.example.com"),
        ("REDIS_URL", "localhost:6379"),
        ("OPENAI_BASE_URL", "api.example.com/v1"),
        ("LLM_MAX_RETRIES", "5"),
        ("LOG_LEVEL", "chatty"),
        ("DATABASE_URL", "nosuchdb://whatever"),
    ],
)
def test_a_malformed_value_stops_the_process_and_names_the_variable(name, value):
    result = run_django(["check"], **production(**{name: value}))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr


def read_settings(names: list[str], **variables: str) -> list[str]:
    code = "from django.conf import settings as s; print(*[repr(getattr(s, n)) for n in %r])"
    result = run_django(["shell", "--no-imports", "-c", code % names], **variables)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_debug_off_defaults_are_the_secure_ones():
    names = [
        "DEBUG",
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_PRELOAD",
    ]
    values = read_settings(names, **production())
    assert values == ["False", "True", "True", "True", "31536000", "True"]


def test_each_secure_default_can_be_relaxed_by_its_variable():
    values = read_settings(
        ["SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS"],
        **production(DJANGO_SECURE_SSL_REDIRECT="false", DJANGO_SECURE_HSTS_SECONDS="0"),
    )
    assert values == ["False", "0"]


def test_redis_url_selects_the_redis_channel_layer():
    layers = read_settings(["CHANNEL_LAYERS"], **production(REDIS_URL="redis://127.0.0.1:6379/0"))
    assert "'channels_redis.core.RedisChannelLayer'," in layers


def test_without_redis_url_the_in_memory_layer_is_used():
    layers = read_settings(["CHANNEL_LAYERS"], **production())
    assert "'channels.layers.InMemoryChannelLayer'}}" in layers


class TestEnvHelpers:
    def test_it_reads_booleans_in_common_spellings(self, monkeypatch):
        for word, expected in [("YES", True), ("on", True), ("0", False), ("False", False)]:
            monkeypatch.setenv("X_FLAG", word)
            assert env.env_bool("X_FLAG", not expected) is expected

    def test_it_uses_the_default_for_unset_and_blank_values(self, monkeypatch):
        monkeypatch.delenv("X_NUMBER", raising=False)
        assert env.env_int("X_NUMBER", 7) == 7
        monkeypatch.setenv("X_NUMBER", "   ")
        assert env.env_int("X_NUMBER", 7) == 7

    def test_it_rejects_numbers_out_of_range(self, monkeypatch):
        monkeypatch.setenv("X_NUMBER", "11")
        with pytest.raises(ImproperlyConfigured, match="X_NUMBER='11'"):
            env.env_int("X_NUMBER", 1, maximum=10)

    def test_it_splits_lists_and_drops_blank_items(self, monkeypatch):
        monkeypatch.setenv("X_LIST", " a.example, ,b.example ")
        assert env.env_list("X_LIST", []) == ["a.example", "b.example"]
