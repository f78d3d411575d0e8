"""Make sure the provider and model named by the environment exist.

Idempotent: `make run` calls it on every start. The key itself never enters
the database: the provider reads it from the OPENAI_API_KEY variable. Its
timeouts are the LLM_*_TIMEOUT settings (the Provider fields' defaults), and
it may reach the local network when OPENAI_BASE_URL names a loopback or
private address, or a name that resolves to one (a LAN or container name).
"""

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import transaction

from conversations.catalog import facts_for, reasoning_facts
from conversations.llm import address
from conversations.models import ModelConfig, Provider

ENV_PROVIDER_NAME = "Default (from environment)"
ENV_KEY_VARIABLE = "OPENAI_API_KEY"


@dataclass
class BootstrapResult:
    provider: Provider | None
    model: ModelConfig | None
    created: list[str]

    @property
    def configured(self) -> bool:
        return self.model is not None


@transaction.atomic
def ensure_env_provider(*, base_url: str, api_key: str, model_id: str) -> BootstrapResult:
    """Create or update the environment's provider and default model."""
    if not model_id:
        return BootstrapResult(None, None, [])
    created = []
    provider, made = Provider.objects.update_or_create(
        name=ENV_PROVIDER_NAME,
        defaults={"base_url": base_url, "api_key_env": ENV_KEY_VARIABLE if api_key else ""},
    )
    # OPENAI_BASE_URL=http://localhost:11434/v1 (or a LAN name such as http://ollama:11434)
    # is what the person asked for; a permission staff gave is never taken back here.
    if not provider.allow_local_network and _is_local(base_url):
        provider.allow_local_network = True
        provider.save(update_fields=["allow_local_network"])
    if made:
        created.append(f"provider {provider.name}")
    model = _ensure_model(provider, model_id, created)
    return BootstrapResult(provider, model, created)


def _is_local(url: str) -> bool:
    """Whether the URL's host is on a local network: by its text, else by resolving it."""
    kind = address.url_kind(url)
    if kind is not None:
        return kind == "local"
    try:
        found = socket.getaddrinfo(urlsplit(url).hostname or "", None)
    except (OSError, UnicodeError, ValueError):
        return False  # unresolvable now: the transport checks again when connecting
    return any(_kind_of(info[4][0]) == "local" for info in found)


def _kind_of(ip: str) -> str | None:
    try:
        return address.classify(ip.split("%", 1)[0])  # a scoped IPv6 address: fe80::1%eth0
    except ValueError:
        return None


def _ensure_model(provider: Provider, model_id: str, created: list[str]) -> ModelConfig:
    model = ModelConfig.objects.filter(provider=provider, model_id=model_id).first()
    if model is None:
        facts = facts_for(model_id)
        model = ModelConfig.objects.create(
            provider=provider,
            model_id=model_id,
            context_window=facts.context_window,
            max_output_tokens=facts.max_output_tokens,
            context_window_source=facts.source,
            **reasoning_facts(model_id)._asdict(),
        )
        created.append(f"model {model_id}")
    if not ModelConfig.objects.filter(is_default=True).exists():
        model.is_default = True
        model.save(update_fields=["is_default"])
    return model
