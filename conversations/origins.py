"""The websocket accepts only the site's own origins, by the rule of Django's CSRF check.

An origin is the site's own when it is the handshake's own scheme and host
(`Host`, or `X-Forwarded-Host` with USE_X_FORWARDED_HOST; https behind a TLS
proxy that says so, with SECURE_PROXY_SSL_HEADER), or one of
CSRF_TRUSTED_ORIGINS (`https://*.example.com` covers subdomains). Scheme, host
and port must all match: `http://host:9999` is not `https://host`.
"""

import io
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http.request import is_same_domain


class SameOriginOnly:
    """ASGI middleware: refuses the handshake (HTTP 403) from any other origin."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send) -> None:
        if not is_own_origin(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


def is_own_origin(scope: dict) -> bool:
    origin = _header(scope, b"origin")
    if not origin or origin == "null":
        return False
    own = _own_origin(scope)
    if own is not None and origin == own:
        return True
    return _trusted(origin)


def _own_origin(scope: dict) -> str | None:
    # Django's own request, so that ALLOWED_HOSTS, X-Forwarded-Host and the TLS
    # proxy header are read exactly as for pages.
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    request = ASGIRequest({**scope, "method": "GET", "scheme": scheme}, io.BytesIO())
    try:
        host = request.get_host()
    except DisallowedHost:
        return None
    return f"{'https' if request.is_secure() else 'http'}://{host}"


def _trusted(origin: str) -> bool:
    trusted = settings.CSRF_TRUSTED_ORIGINS
    if origin in trusted:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    wildcards = [urlsplit(o) for o in trusted if "*" in o]
    return any(
        parts.scheme == w.scheme and is_same_domain(parts.netloc, w.netloc.removeprefix("*"))
        for w in wildcards
    )


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None
