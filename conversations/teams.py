"""Who may do what inside a team, and the changes themselves.

Roles: an owner, an admin, or a member (in the group, no role row). Owners
and admins manage the team: invite and remove members, see who used how much,
take personas out of the team's sharing. Only owners make or unmake admins
and owners, and remove either. A team always keeps one owner: the last owner
can neither leave nor be demoted nor be removed.

Editing a persona stays with its author (and staff): a team admin can only
stop sharing it with the team. Every change is written to the audit log as a
TEAM entry whose ``details["op"]`` says which change it was.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations import audit, invitations
from conversations.models import AuditEntry, Invitation, Persona, Team, TeamRole, UsageDaily
from conversations.refusals import Refused

Role = TeamRole.Role
MEMBER = "member"
ROLES = (Role.OWNER, Role.ADMIN, MEMBER)


class TeamRefused(Refused):
    """A change the rules do not allow (the page says why)."""

    status = 400


class NotAllowed(TeamRefused):
    """The person's role does not allow the change."""

    status = 403

    def __init__(self) -> None:
        super().__init__("team_not_allowed", _("Your role in this team does not allow that."))


# --- Reading ---------------------------------------------------------------------


def role_of(user, team: Team) -> str | None:
    """ "owner", "admin", "member", or None for someone outside the team."""
    if not team.group.user_set.filter(pk=user.pk).exists():
        return None
    row = TeamRole.objects.filter(team=team, user=user).first()
    return row.role if row else MEMBER


def may_manage(user, team: Team) -> bool:
    return role_of(user, team) in (Role.OWNER, Role.ADMIN)


def is_owner(user, team: Team) -> bool:
    return role_of(user, team) == Role.OWNER


def members(team: Team) -> list:
    """The team's users, each with a ``team_role``; owners first, then admins."""
    roles = dict(TeamRole.objects.filter(team=team).values_list("user_id", "role"))
    users = list(team.group.user_set.order_by("username"))
    for user in users:
        user.team_role = roles.get(user.pk, MEMBER)
    order = {Role.OWNER: 0, Role.ADMIN: 1, MEMBER: 2}
    return sorted(users, key=lambda user: order[user.team_role])


def shared_personas(team: Team):
    return Persona.objects.filter(teams=team.group).select_related("owner").order_by("name")


def usage_this_month(team: Team) -> list[dict]:
    """Per member: requests, tokens and cost this month (a row per user)."""
    today = timezone.localdate()
    rows = UsageDaily.objects.filter(user__groups=team.group).between(today.replace(day=1), today)
    return list(rows.grouped_by("user"))


# --- Changing --------------------------------------------------------------------


def invite(*, actor, team: Team, email: str = "") -> str:
    """A single-use link into the team (the existing invitation machinery); returns its token."""
    _require_manager(actor, team)
    invitation, token = invitations.create_invitation(
        created_by=actor, email=email, teams=[team.group]
    )
    _audit(actor, "invite", team, details={"invitation": invitation.pk, "email": email})
    return token


@transaction.atomic
def join(*, user, invitation: Invitation) -> list[Team]:
    """A signed-in person spends a team invitation: they join its teams."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_usable:
        raise TeamRefused("invitation_spent", _("This invitation has expired or been used."))
    groups = list(invitation.teams.all())
    user.groups.add(*groups)
    invitation.used_at, invitation.used_by = timezone.now(), user
    invitation.save(update_fields=["used_at", "used_by"])
    record_joined(user=user, invitation=invitation)
    return [Team.objects.get_or_create(group=group)[0] for group in groups]


def record_joined(*, user, invitation: Invitation) -> None:
    """Audit each team an invitation brought someone into (sign-up calls this too)."""
    for team in Team.objects.filter(group__in=invitation.teams.all()).select_related("group"):
        _audit(user, "join", team, user=user, details={"invitation": invitation.pk})


@transaction.atomic
def remove_member(*, actor, team: Team, user) -> None:
    team = _locked(team)
    _require_manager(actor, team)
    if user.pk == actor.pk:
        raise TeamRefused("team_remove_self", _("To leave the team, use Leave."))
    target = role_of(user, team)
    if target is None:
        raise TeamRefused("team_not_member", _("That person is not in this team."))
    if target != MEMBER and not is_owner(actor, team):
        raise NotAllowed()
    _keep_an_owner(team, user)
    team.group.user_set.remove(user)  # the signal drops their role row
    _audit(actor, "remove", team, user=user, details={"role": target})


@transaction.atomic
def leave(*, user, team: Team) -> None:
    team = _locked(team)
    role = role_of(user, team)
    if role is None:
        raise TeamRefused("team_not_member", _("You are not in this team."))
    _keep_an_owner(team, user)
    team.group.user_set.remove(user)
    _audit(user, "leave", team, user=user, details={"role": role})


@transaction.atomic
def set_role(*, actor, team: Team, user, role: str) -> None:
    """Only owners make or unmake admins and owners."""
    if role not in ROLES:
        raise TeamRefused("team_bad_role", _("Choose owner, admin or member."))
    team = _locked(team)
    if not is_owner(actor, team):
        raise NotAllowed()
    before = role_of(user, team)
    if before is None:
        raise TeamRefused("team_not_member", _("That person is not in this team."))
    if before == Role.OWNER and role != Role.OWNER:
        _keep_an_owner(team, user)
    TeamRole.objects.filter(team=team, user=user).delete()
    if role != MEMBER:
        TeamRole.objects.create(team=team, user=user, role=role)
    _audit(actor, "role", team, user=user, details={"from": before, "to": role})


@transaction.atomic
def unshare_persona(*, actor, team: Team, persona: Persona) -> None:
    """Take a persona out of the team's sharing; the persona itself stays its author's."""
    _require_manager(actor, team)
    if not persona.teams.filter(pk=team.group_id).exists():
        raise TeamRefused("team_persona_not_shared", _("That persona is not shared with the team."))
    persona.teams.remove(team.group)
    details = {"persona": str(persona.pk), "persona_name": persona.name}
    _audit(actor, "unshare_persona", team, user=persona.owner, details=details)


# --- Helpers ---------------------------------------------------------------------


def _require_manager(actor, team: Team) -> None:
    if not may_manage(actor, team):
        raise NotAllowed()


def _locked(team: Team) -> Team:
    """The team's row locked, so two changes cannot both take the last owner away."""
    return Team.objects.select_for_update().select_related("group").get(pk=team.pk)


def _keep_an_owner(team: Team, leaving) -> None:
    owners = TeamRole.objects.filter(team=team, role=Role.OWNER)
    if owners.filter(user=leaving).exists() and not owners.exclude(user=leaving).exists():
        raise TeamRefused(
            "team_last_owner", _("A team needs an owner: make someone else owner first.")
        )


def record(actor, op: str, team: Team, *, user=None, details: dict | None = None) -> None:
    """One audit entry for a change to ``team`` (also used by the admin)."""
    _audit(actor, op, team, user=user, details=details)


def _audit(actor, op: str, team: Team, *, user=None, details: dict | None = None) -> None:
    entry = {"op": op, "team": team.name, "team_id": str(team.pk)}
    if user is not None:
        entry["user"] = user.get_username()
    audit.append(AuditEntry.Action.TEAM, actor=actor, details=entry | (details or {}))
