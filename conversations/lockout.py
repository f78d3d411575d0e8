"""Sign-in lockout, by django-axes: after CHATSITE_SIGNIN_FAILURE_LIMIT failed
sign-ins for one account, or from one address, both are refused for
CHATSITE_SIGNIN_LOCKOUT_MINUTES (docs/configuration.md).

Attempts live in the database (axes' database handler), which every worker
shares: the admin lists them under "Axes" and deleting one unlocks
(`manage.py axes_reset_username NAME` / `axes_reset_ip ADDRESS` too). A changed
password unlocks its account (signals.py), so password reset is the way out.
"""

from axes.backends import AxesStandaloneBackend
from axes.utils import reset
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import ngettext


class SignInLockoutBackend(AxesStandaloneBackend):
    """Refuses sign-in while locked out; signs no one in itself (ModelBackend does)."""

    def authenticate(self, request: HttpRequest | None, *args, **kwargs):
        if request is None:  # code, not a visitor (a shell, the test client's login())
            return None
        return super().authenticate(request, *args, **kwargs)


def locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """The sign-in page again, saying why (AXES_LOCKOUT_CALLABLE), with status 429."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    minutes = settings.CHATSITE_SIGNIN_LOCKOUT_MINUTES
    message = ngettext(
        "Too many failed sign-ins for this account or from this address. "
        "Try again in %(minutes)d minute, or reset your password.",
        "Too many failed sign-ins for this account or from this address. "
        "Try again in %(minutes)d minutes, or reset your password.",
        minutes,
    ) % {"minutes": minutes}
    context = {
        "form": AuthenticationForm(request, initial={"username": username[:150]}),
        "locked_out": message,
        "next": request.POST.get("next", ""),
    }
    return render(request, "registration/login.html", context, status=429)


def unlock(*, username: str | None = None, ip: str | None = None) -> int:
    """Forget the failed sign-ins of an account or an address; how many were forgotten."""
    if not (username or ip):
        raise ValueError("unlock needs a username or an address")  # axes would forget all
    return reset(username=username, ip=ip)
