"""What the sign-in page needs to know of single sign-on (a context processor)."""

from django.conf import settings
from django.http import HttpRequest


def sso(request: HttpRequest) -> dict:
    if not settings.OIDC_ISSUER:
        return {"sso": None}
    return {"sso": {"provider_name": settings.OIDC_PROVIDER_NAME, "only": settings.OIDC_SSO_ONLY}}
