"""The page that links a first single sign-on to an existing account with a
password, once that password is given (conversations/sso_link.py)."""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from conversations import sso_link
from conversations.sso import SsoRefused
from conversations.views.sso import refusal_page


@login_not_required
@require_http_methods(["GET", "POST"])
def link_account(request: HttpRequest) -> HttpResponse:
    found = sso_link.pending(request)
    user = sso_link.account(found) if found else None
    if user is None:
        return refusal_page(request, sso_link.stale_link())
    error, status = "", 200
    if request.method == "POST":
        password = request.POST.get("password", "")
        if sso_link.password_is_right(request, user=user, password=password):
            try:
                sso_link.link(request, user=user, found=found)
            except SsoRefused as refused:
                return refusal_page(request, refused)
            return HttpResponseRedirect(found["next"])
        error, status = _("That is not the password of this account."), 403
    context = {
        "email": found["claims"].get("email", ""),
        "provider_name": settings.OIDC_PROVIDER_NAME,
        "error": error,
    }
    return render(request, "registration/sso_link.html", context, status=status)
