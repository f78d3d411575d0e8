"""The OpenID provider's endpoints, read once from its discovery document.

OIDC_ISSUER names the provider; its `/.well-known/openid-configuration` says
where to send people, where to trade the code for tokens, where the user's
claims and the signing keys are. The document is fetched on first use (not at
start-up, so that `manage.py` and password sign-in work while the provider is
down) and kept for an hour in the process; an endpoint set explicitly in the
environment (OIDC_AUTHORIZATION_ENDPOINT...) wins over the document.
"""

import threading
import time

import httpx
from django.conf import settings
from django.utils.translation import gettext as _

from conversations.refusals import Refused

DOCUMENT_TTL = 3600.0
# Our setting for each endpoint, and its field in the discovery document.
ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}

_lock = threading.Lock()
_cached: dict = {}  # {"issuer": ..., "document": ..., "fetched": monotonic time}


class ProviderUnavailable(Refused):
    """The provider's discovery document could not be read or does not fit."""

    status = 503

    def __init__(self) -> None:
        super().__init__(
            "sso_provider_unavailable",
            _("The sign-in provider cannot be reached right now. Try again in a minute."),
        )


def endpoint(setting: str) -> str:
    """The URL of one endpoint: the explicit setting, else the discovered one."""
    explicit = getattr(settings, setting, "")
    if explicit:
        return explicit
    url = document().get(ENDPOINTS[setting])
    if not isinstance(url, str) or not url:
        raise ProviderUnavailable()
    return url


def document() -> dict:
    issuer = settings.OIDC_ISSUER
    with _lock:
        fresh = time.monotonic() - _cached.get("fetched", -DOCUMENT_TTL) < DOCUMENT_TTL
        if _cached.get("issuer") == issuer and fresh:
            return _cached["document"]
    found = _fetch(issuer)
    with _lock:
        _cached.update(issuer=issuer, document=found, fetched=time.monotonic())
    return found


def _fetch(issuer: str) -> dict:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        reply = httpx.get(url, timeout=settings.OIDC_TIMEOUT, follow_redirects=False)
        reply.raise_for_status()
        found = reply.json()
    except (httpx.HTTPError, ValueError) as error:
        raise ProviderUnavailable() from error
    # The document must be the issuer's own (OpenID Connect Discovery 1.0, 4.3).
    if not isinstance(found, dict) or found.get("issuer") != issuer:
        raise ProviderUnavailable()
    return found
