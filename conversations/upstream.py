"""From a Provider row to the llm package's plain settings (the one bridge)."""

import hashlib
import hmac

from django.conf import settings

from conversations.llm import ProviderSettings
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
    )


def upstream_user(user_pk: int) -> str:
    """A stable, opaque id of the account for the API's abuse monitoring."""
    key = settings.CHATSITE_ENCRYPTION_KEY.encode()
    digest = hmac.new(key, f"chatsite-user:{user_pk}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]
