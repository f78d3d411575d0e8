"""The sign-in pages when single sign-on is on (chatsite/urls.py adds them then).

- /oidc/authenticate/ sends the visitor to the provider, /oidc/callback/ brings
  them back (mozilla-django-oidc's views, with the provider's endpoints read
  lazily and every refusal shown on a page of ours instead of a redirect); a
  first sign-in that found an account with a password goes on to /oidc/link/
  (views/sso_link.py) for that password.
- /accounts/login/ shows "Sign in with <provider>" beside the password form;
  with OIDC_SSO_ONLY the form is gone and password sign-in is refused, except
  the break-glass form (?breakglass=1) which signs in superusers only.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from mozilla_django_oidc import views as oidc_views

from conversations import sso_discovery, sso_link
from conversations.refusals import Refused
from conversations.sso import LinkNeedsPassword, SsoRefused


def refusal_page(request: HttpRequest, refused: Refused) -> HttpResponse:
    context = {"refusal": refused, "provider_name": settings.OIDC_PROVIDER_NAME}
    return render(request, "registration/sso_refused.html", context, status=refused.status)


# The provider's answers to prompt=none that only mean "ask the person" (OIDC Core 3.1.2.6).
SIGN_IN_AGAIN = {
    "login_required",
    "interaction_required",
    "consent_required",
    "account_selection_required",
}


@method_decorator(login_not_required, name="dispatch")
class SignInStart(oidc_views.OIDCAuthenticationRequestView):
    def __init__(self, *args, **kwargs) -> None:
        super(oidc_views.OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            self.OIDC_OP_AUTH_ENDPOINT = sso_discovery.endpoint("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except sso_discovery.ProviderUnavailable as refused:
            return refusal_page(request, refused)
        return super().get(request)


@method_decorator(login_not_required, name="dispatch")
class SignInCallback(oidc_views.OIDCAuthenticationCallbackView):
    def get(self, request: HttpRequest) -> HttpResponse:
        # Only an answer to a sign-in this browser started, errors included: the
        # parent signs the person out on any error, which a link must not do.
        if request.GET.get("state") not in request.session.get("oidc_states", {}):
            return refusal_page(request, _stale_state())
        # Kept before the parent signs the person out on a provider error.
        self.next_url = request.session.get("oidc_login_next") or "/"
        try:
            return super().get(request)
        except LinkNeedsPassword as needed:  # an account with a password: ask for it once
            sso_link.keep_pending(request, needed, next_url=self.next_url)
            return HttpResponseRedirect(reverse("sso_link"))

    def login_failure(self) -> HttpResponse:
        if self.request.GET.get("error") in SIGN_IN_AGAIN:
            # A silent renewal (prompt=none) found no session at the provider:
            # the person signs in there again, then goes where they were going.
            start = reverse("oidc_authentication_init")
            return HttpResponseRedirect(f"{start}?{urlencode({'next': self.next_url})}")
        refused = getattr(self.request, "sso_refusal", None)
        if refused is None and self.request.GET.get("error"):
            refused = SsoRefused(
                "sso_provider_refused", _("The sign-in provider did not sign you in.")
            )
        return refusal_page(self.request, refused or _stale_state())


def _stale_state() -> SsoRefused:
    return SsoRefused(
        "sso_stale", _("This sign-in link has expired or was already used. Please sign in again.")
    )


class BreakGlassForm(AuthenticationForm):
    """Password sign-in while SSO is the only way: superusers only, for when the
    provider is down. Others get the same answer as a wrong password."""

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not user.is_superuser:
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


@login_not_required
def login_page(request: HttpRequest) -> HttpResponse:
    if not settings.OIDC_SSO_ONLY:
        return auth_views.LoginView.as_view()(request)
    breakglass = request.GET.get("breakglass") == "1" or request.POST.get("breakglass") == "1"
    if breakglass:
        view = auth_views.LoginView.as_view(
            authentication_form=BreakGlassForm, extra_context={"breakglass": True}
        )
        return view(request)
    if request.method == "POST":
        refused = SsoRefused(
            "sso_only",
            _("Password sign-in is turned off. Sign in with %(provider)s.")
            % {"provider": settings.OIDC_PROVIDER_NAME},
        )
        return refusal_page(request, refused)
    return auth_views.LoginView.as_view()(request)
