"""Sessions signed in through the provider are checked with it again every
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS (mozilla-django-oidc's SessionRefresh).

Once that time has passed, the next page load goes back to the provider
(`prompt=none`: silent while the person is still signed in there). A JSON call
cannot follow that redirect: it gets 401 with code `session_expired` instead,
whose message asks for a page load. Sessions signed in with a password are never checked.
The websocket is not HTTP middleware's business: it checks its session itself
(sessions.is_current).
"""

import time

from django.contrib.auth import BACKEND_SESSION_KEY
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from mozilla_django_oidc.middleware import SessionRefresh

from conversations import sso_discovery
from conversations.views.sso import refusal_page

JSON_PATH_PREFIXES = ("/api/", "/v1/")
SSO_BACKEND = "conversations.sso.SsoBackend"


def wants_json(request: HttpRequest) -> bool:
    return (
        request.path.startswith(JSON_PATH_PREFIXES)
        or request.headers.get("x-requested-with") == "XMLHttpRequest"
        or "application/json" in request.headers.get("accept", "")
    )


class SsoSessionRefresh(SessionRefresh):
    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        if not self._expired(request):
            return None
        if wants_json(request):
            body = {
                "error": {
                    "code": "session_expired",
                    "message": _("Your sign-in has expired. Reload the page to sign in again."),
                }
            }
            return JsonResponse(body, status=401)
        try:
            self.OIDC_OP_AUTHORIZATION_ENDPOINT = sso_discovery.endpoint(
                "OIDC_OP_AUTHORIZATION_ENDPOINT"
            )
        except sso_discovery.ProviderUnavailable as refused:
            return refusal_page(request, refused)
        return super().process_request(request)

    def _expired(self, request: HttpRequest) -> bool:
        # Pages on GET, as the parent does; JSON on any method (a write must not
        # outlive the sign-in either).
        checked = request.method == "GET" or wants_json(request)
        expiry = request.session.get("oidc_id_token_expiration", 0)
        return checked and self._signed_in_by_provider(request) and expiry <= time.time()

    def _signed_in_by_provider(self, request: HttpRequest) -> bool:
        return (
            request.user.is_authenticated
            and request.session.get(BACKEND_SESSION_KEY) == SSO_BACKEND
            and request.path not in self.exempt_urls
        )
