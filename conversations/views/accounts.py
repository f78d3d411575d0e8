"""Account pages: sign-up (open, or by a single-use invitation) and settings.

Sign-in, sign-out, password change and reset are Django's own views (see
chatsite/urls.py); reset mails go through Django's email backend (the console
unless EMAIL_* settings say otherwise).
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from conversations import quotas, review, teams
from conversations.forms.accounts import SettingsForm, SignUpForm
from conversations.models import Invitation, Profile, SiteSettings, UsageDaily
from conversations.models.accounts import hash_token
from conversations.views import teams as team_views


@login_not_required
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if not SiteSettings.load().open_signup:
        raise Http404("Sign-up is by invitation only.")
    return _signup_form(request, invitation=None)


@login_not_required
@require_http_methods(["GET", "POST"])
def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    invitation = Invitation.objects.filter(token_hash=hash_token(token)).first()
    if invitation is None or not invitation.is_usable:
        return render(request, "accounts/invitation_invalid.html", status=410)
    if request.user.is_authenticated:  # someone with an account joins the invitation's teams
        return team_views.join_page(request, invitation)
    if not _may_create_account(invitation):
        messages.info(
            request, _("This invitation is for people who have an account: sign in to join.")
        )
        return redirect_to_login(request.get_full_path())
    return _signup_form(request, invitation=invitation)


def _may_create_account(invitation: Invitation) -> bool:
    """Staff's invitations make accounts; a team admin's do where staff allow it (a
    site setting), else they bring into the team only people who have an account."""
    inviter = invitation.created_by
    if inviter is None or inviter.is_staff:
        return True
    site = SiteSettings.load()
    return site.open_signup or site.team_invitations_create_accounts


def _signup_form(request: HttpRequest, invitation: Invitation | None) -> HttpResponse:
    if settings.OIDC_SSO_ONLY:  # accounts come from the sign-in provider only
        raise Http404("Accounts are made by single sign-on.")
    initial = {"email": invitation.email} if invitation else {}
    form = SignUpForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        user = _create_account(form, invitation)
        if user is None:
            return render(request, "accounts/invitation_invalid.html", status=410)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome to chatsite, %s!") % user.get_username())
        return redirect("home")
    return render(request, "accounts/signup.html", {"form": form, "invitation": invitation})


@transaction.atomic
def _create_account(form: SignUpForm, invitation: Invitation | None):
    """The account, and the invitation spent, or None if someone else spent it first."""
    if invitation is not None:
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if not invitation.is_usable:
            return None
    user = form.save()
    if invitation is not None:
        user.groups.set(invitation.teams.all())
        invitation.used_at, invitation.used_by = timezone.now(), user
        invitation.save(update_fields=["used_at", "used_by"])
        teams.record_joined(user=user, invitation=invitation)
    return user


@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    profile = Profile.for_user(request.user)
    form = SettingsForm(request.POST or None, instance=profile, user=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your settings are saved."))
        return redirect("settings")
    context = {
        "form": form,
        "budgets": quotas.budgets_for(request.user),
        "usage": _usage_this_month(request.user),
        "policy": review.policy_summary(),
        "teams": request.user.groups.order_by("name"),
    }
    return render(request, "accounts/settings.html", context)


def _usage_this_month(user) -> list:
    today = timezone.localdate()
    rows = UsageDaily.objects.filter(user=user, day__gte=today.replace(day=1))
    return list(rows.order_by("-day", "model_name"))
