"""Team pages: the teams someone is in, one team's members, invitations,
shared personas, usage and budgets.

Every team id goes through ``access.team_for``: a team someone is not in
answers 404, like one that does not exist. Who may change what is decided in
conversations/teams.py; a refusal comes back to the team page with its reason
(or 403 when the person's role does not allow the change).
"""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from conversations import access, quotas, teams
from conversations.models import Invitation, Persona, Quota, Team

User = get_user_model()


@require_GET
def team_list(request: HttpRequest) -> HttpResponse:
    mine = Team.objects.for_user(request.user).select_related("group")
    rows = [(team, teams.role_of(request.user, team)) for team in mine]
    return render(request, "teams/list.html", {"rows": rows})


@require_GET
def team_detail(request: HttpRequest, team_id) -> HttpResponse:
    team = access.team_for(request.user, team_id)
    return _detail(request, team)


@never_cache  # the page may show a new link, which must not sit in a cache
@require_POST
def team_invite(request: HttpRequest, team_id) -> HttpResponse:
    team = access.team_for(request.user, team_id)
    email = request.POST.get("email", "").strip()
    if email and not _is_email(email):
        messages.error(request, _("Enter a valid email address, or none."))
        return redirect("team_detail", team_id=team.pk)
    token = _apply(request, teams.invite, actor=request.user, team=team, email=email)
    if token is False:
        return redirect("team_detail", team_id=team.pk)
    # The link is shown once, on this page: only its hash is stored.
    link = request.build_absolute_uri(reverse("accept_invitation", args=[token]))
    return _detail(request, team, invite_link=link)


@require_POST
def team_remove(request: HttpRequest, team_id, user_id: int) -> HttpResponse:
    team = access.team_for(request.user, team_id)
    user = _member(team, user_id)
    done = _apply(request, teams.remove_member, actor=request.user, team=team, user=user)
    if done is not False:
        notice = _("%(name)s is no longer in the team.")
        messages.success(request, notice % {"name": user.get_username()})
    return redirect("team_detail", team_id=team.pk)


@require_POST
def team_set_role(request: HttpRequest, team_id, user_id: int) -> HttpResponse:
    team = access.team_for(request.user, team_id)
    user = _member(team, user_id)
    role = request.POST.get("role", "")
    done = _apply(request, teams.set_role, actor=request.user, team=team, user=user, role=role)
    if done is not False:
        messages.success(request, _("The role is saved."))
    return redirect("team_detail", team_id=team.pk)


@require_POST
def team_leave(request: HttpRequest, team_id) -> HttpResponse:
    team = access.team_for(request.user, team_id)
    if _apply(request, teams.leave, user=request.user, team=team) is False:
        return redirect("team_detail", team_id=team.pk)
    messages.success(request, _("You left %(team)s.") % {"team": team.name})
    return redirect("teams")


@require_POST
def team_unshare_persona(request: HttpRequest, team_id, persona_id) -> HttpResponse:
    team = access.team_for(request.user, team_id)
    persona = _shared_persona(team, persona_id)
    done = _apply(request, teams.unshare_persona, actor=request.user, team=team, persona=persona)
    if done is not False:
        notice = _("“%(name)s” is no longer shared with the team.")
        messages.success(request, notice % {"name": persona.name})
    return redirect("team_detail", team_id=team.pk)


def join_page(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    """A signed-in person opening an invitation link: "Join <team>", then join."""
    groups = list(invitation.teams.order_by("name"))
    if not groups:  # an invitation to the site only: they already have an account
        messages.info(request, _("You already have an account."))
        return redirect("home")
    if request.method != "POST":
        return render(request, "teams/join.html", {"groups": groups})
    joined = _apply(request, teams.join, user=request.user, invitation=invitation)
    if joined is False:
        return render(request, "accounts/invitation_invalid.html", status=410)
    names = ", ".join(team.name for team in joined)
    messages.success(request, _("You joined %(teams)s.") % {"teams": names})
    if len(joined) == 1:
        return redirect("team_detail", team_id=joined[0].pk)
    return redirect("teams")


# --- Helpers ---------------------------------------------------------------------


def _detail(request: HttpRequest, team: Team, *, invite_link: str = "") -> HttpResponse:
    role = teams.role_of(request.user, team)
    manager = role in (teams.Role.OWNER, teams.Role.ADMIN)
    context = {
        "team": team,
        "role": role,
        "may_manage": manager,
        "is_owner": role == teams.Role.OWNER,
        "members": teams.members(team),
        "personas": teams.shared_personas(team),
        # Members see the budgets they share; who used how much is for managers.
        "budgets": quotas.team_budgets(team.group) if _has_quota(team) else [],
        "usage": teams.usage_this_month(team) if manager else None,
        "invite_link": invite_link,
        "roles": teams.ROLES,
    }
    return render(request, "teams/detail.html", context)


def _apply(request: HttpRequest, change, **arguments):
    """Run one change; a refusal becomes a message (or 403). False when refused."""
    try:
        return change(**arguments)
    except teams.NotAllowed as refusal:
        raise PermissionDenied(refusal.message) from None
    except teams.TeamRefused as refusal:
        messages.error(request, refusal.message)
        return False


def _is_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return len(value) <= 254


def _has_quota(team: Team) -> bool:
    return Quota.objects.filter(group=team.group).exists()


def _member(team: Team, user_id: int):
    """A person in the team; anyone else is NotFound, like a missing team."""
    try:
        return team.group.user_set.get(pk=user_id)
    except User.DoesNotExist:
        raise access.NotFound("No such member.") from None


def _shared_persona(team: Team, persona_id) -> Persona:
    """A persona shared with the team (whoever wrote it); any other is NotFound."""
    try:
        return teams.shared_personas(team).get(pk=access.parse_uuid(persona_id))
    except Persona.DoesNotExist:
        raise access.NotFound("No such persona.") from None
