"""From a Provider row to the llm package's plain settings, and its failures back."""

import hashlib
import hmac

from django.conf import settings

from conversations.llm import LLMError, ProviderSettings
from conversations.models import Provider


def provider_settings(provider: Provider) -> ProviderSettings:
    """Settings for calling the provider; decrypts the key, so call it off the loop."""
    return ProviderSettings(
        base_url=provider.base_url,
        api_key=provider.get_api_key(),
        organization=provider.organization,
        connect_timeout=provider.connect_timeout,
        first_byte_timeout=provider.first_byte_timeout,
        idle_timeout=provider.idle_timeout,
        total_timeout=provider.total_timeout,
        max_retries=settings.LLM_MAX_RETRIES,
        retry_cap=settings.LLM_RETRY_CAP,
        transport=settings.LLM_TRANSPORT,
        allow_local_network=provider.allow_local_network,
    )


def record_provider_error(
    error: LLMError, *, provider_id: int | None = None, model_config_id: int | None = None
) -> None:
    """Keep a failure as the provider's last error (by its id or one of its models').

    The detail (redacted by the llm package) never goes to users; staff read
    it in the log and on the provider's admin page.
    """
    if model_config_id is not None:
        provider = Provider.objects.filter(models__pk=model_config_id).first()
    else:
        provider = Provider.objects.filter(pk=provider_id).first()
    if provider is not None:
        provider.record_error(code=error.code, detail=error.describe())


def upstream_user(user_pk: int) -> str:
    """A stable, opaque id of the account for the API's abuse monitoring."""
    key = settings.CHATSITE_ENCRYPTION_KEY.encode()
    digest = hmac.new(key, f"chatsite-user:{user_pk}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]
