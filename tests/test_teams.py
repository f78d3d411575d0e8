"""Team roles: owners and admins manage their team on the product's pages.

alice owns the team "research", carol is an admin, bob and dave are members.
"""

import re

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from conversations.admin.teams import TeamRoleForm
from conversations.invitations import create_invitation
from conversations.models import (
    AuditEntry,
    Invitation,
    Persona,
    Quota,
    SiteSettings,
    Team,
    TeamRole,
    UsageDaily,
)
from tests import conftest
from tests.conftest import make_user
from tests.upgrade import upgrade

PASSWORD = "a sturdy pass phrase 42"
NEW_USER = {"username": "erin", "password1": PASSWORD, "password2": PASSWORD}
INVITE_LINK = re.compile(r'value="https?://[^"]*(/accounts/invite/[^/"]+/)"')


@pytest.fixture
def carol(db) -> User:
    return make_user("carol")


@pytest.fixture
def dave(db) -> User:
    return make_user("dave")


@pytest.fixture
def research(team, alice, bob, carol, dave) -> Team:
    team.user_set.add(alice, bob, carol, dave)
    research = Team.objects.get(group=team)
    TeamRole.objects.create(team=research, user=alice, role=TeamRole.Role.OWNER)
    TeamRole.objects.create(team=research, user=carol, role=TeamRole.Role.ADMIN)
    return research


def url(team: Team, action: str = "", *ids) -> str:
    path = f"/teams/{team.pk}/"
    if action in ("remove", "role"):
        return f"{path}members/{ids[0]}/{action}/"
    if action == "unshare":
        return f"{path}personas/{ids[0]}/unshare/"
    return path + (f"{action}/" if action else "")


def role_of(team: Team, user: User) -> str | None:
    if not team.group.user_set.filter(pk=user.pk).exists():
        return None
    row = TeamRole.objects.filter(team=team, user=user).first()
    return row.role if row else "member"


def team_ops() -> list[str]:
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.TEAM).order_by("created", "id")
    return [entry.details["op"] for entry in entries]


def invite_path(client: Client, team: Team) -> str:
    response = client.post(url(team, "invite"))
    assert response.status_code == 200
    return INVITE_LINK.search(response.content.decode()).group(1)


# --- Teams follow groups ---------------------------------------------------------------


def test_every_new_group_becomes_a_team(db):
    group = Group.objects.create(name="design")
    assert Team.objects.get(group=group).name == "design"


@pytest.mark.django_db(transaction=True)
def test_groups_made_before_the_upgrade_become_teams():
    with upgrade("0013_budgets", "0014_teams") as step:
        step.apps.get_model("auth", "Group").objects.create(name="early")
        after = step.run()
    assert after.get_model("conversations", "Team").objects.get().group.name == "early"


def test_leaving_the_group_in_any_way_drops_the_role(research, alice, carol):
    carol.groups.remove(research.group)
    assert not TeamRole.objects.filter(user=carol).exists()
    research.group.user_set.clear()
    assert not TeamRole.objects.filter(team=research).exists()


# --- Pages -----------------------------------------------------------------------------


def test_the_team_list_shows_my_teams_and_my_role(client, research, bob):
    Group.objects.create(name="someone else's")
    client.force_login(bob)
    page = client.get("/teams/").content.decode()
    assert "research" in page and "member" in page
    assert "someone else" not in page
    assert 'href="/teams/"' in client.get("/").content.decode()  # in the navigation


def test_a_member_sees_members_and_roles_but_no_management(client, research, bob):
    client.force_login(bob)
    page = client.get(url(research)).content.decode()
    assert "alice" in page and "carol" in page and "owner" in page and "admin" in page
    assert url(research, "invite") not in page
    assert "/remove/" not in page and "/role/" not in page
    assert url(research, "leave") in page


def test_an_admin_sees_invite_and_remove_but_not_role_changes(client, research, carol, bob):
    client.force_login(carol)
    page = client.get(url(research)).content.decode()
    assert url(research, "invite") in page
    assert url(research, "remove", bob.pk) in page
    assert "/role/" not in page  # only owners change roles


def test_staff_outside_the_team_get_404_and_keep_the_admin(client, research, superuser):
    client.force_login(superuser)
    assert client.get(url(research)).status_code == 404
    assert client.get(f"/admin/conversations/team/{research.pk}/change/").status_code == 200


# --- Invitations -----------------------------------------------------------------------


def test_an_admin_invites_and_a_new_person_joins_by_signing_up(client, research, carol):
    client.force_login(carol)
    path = invite_path(client, research)
    client.logout()
    page = client.get(path).content.decode()
    assert f'href="/accounts/login/?next={path}"' in page  # "I already have an account"
    assert client.post(path, NEW_USER).status_code == 302
    erin = User.objects.get(username="erin")
    assert role_of(research, erin) == "member"
    assert team_ops() == ["invite", "join"]


def test_staff_can_keep_team_admins_from_creating_accounts(client, research, carol):
    settings = {"open_signup": False, "team_invitations_create_accounts": False}
    SiteSettings.objects.update_or_create(pk=1, defaults=settings)
    client.force_login(carol)
    path = invite_path(client, research)
    client.logout()
    page = client.get(path)
    assert page.status_code == 302 and page.url.startswith("/accounts/login/?next=")
    assert client.post(path, NEW_USER).status_code == 302
    assert not User.objects.filter(username="erin").exists()


def test_a_signed_in_person_opening_the_link_sees_join_and_joins(client, research, alice):
    client.force_login(alice)
    path = invite_path(client, research)
    outsider = make_user("frank")
    client.force_login(outsider)
    page = client.get(path)
    assert "Join research" in page.content.decode()
    assert role_of(research, outsider) is None  # opening it changes nothing
    response = client.post(path)
    assert response.status_code == 302 and response.url == url(research)
    assert role_of(research, outsider) == "member"
    assert Invitation.objects.get().used_by == outsider
    assert client.post(path).status_code == 410  # single use


def test_someone_with_an_account_signs_in_from_the_invitation_and_comes_back_to_join(
    client, research, alice
):
    client.force_login(alice)
    path = invite_path(client, research)
    client.logout()
    frank = make_user("frank")
    credentials = {"username": "frank", "password": conftest.PASSWORD, "next": path}
    response = client.post("/accounts/login/", credentials)
    assert response.status_code == 302 and response.url == path
    client.post(path)
    assert role_of(research, frank) == "member"
    assert team_ops() == ["invite", "join"]


def test_an_invitation_with_a_bad_email_is_refused_with_a_reason(client, research, carol):
    client.force_login(carol)
    response = client.post(url(research, "invite"), {"email": "not an address"}, follow=True)
    assert "Enter a valid email address" in response.content.decode()
    assert not Invitation.objects.exists()


def test_a_site_invitation_without_teams_sends_someone_signed_in_home(client, staff, bob):
    _invitation, token = create_invitation(created_by=staff)
    client.force_login(bob)
    response = client.get(f"/accounts/invite/{token}/")
    assert response.status_code == 302 and response.url == "/"
    assert Invitation.objects.get().used_at is None


def test_a_member_cannot_invite(client, research, bob):
    client.force_login(bob)
    assert client.post(url(research, "invite")).status_code == 403
    assert not Invitation.objects.exists()
    assert team_ops() == []


# --- Removing and leaving --------------------------------------------------------------


def test_an_admin_removes_a_member(client, research, carol, bob):
    client.force_login(carol)
    assert client.post(url(research, "remove", bob.pk)).status_code == 302
    assert role_of(research, bob) is None
    assert team_ops() == ["remove"]


def test_an_admin_cannot_remove_the_owner_but_an_owner_removes_an_admin(
    client, research, alice, carol
):
    client.force_login(carol)
    assert client.post(url(research, "remove", alice.pk)).status_code == 403
    assert role_of(research, alice) == "owner"
    client.force_login(alice)
    client.post(url(research, "remove", carol.pk))
    assert role_of(research, carol) is None
    assert not TeamRole.objects.filter(user=carol).exists()


def test_a_member_cannot_remove_anyone(client, research, bob, dave):
    client.force_login(bob)
    assert client.post(url(research, "remove", dave.pk)).status_code == 403
    assert role_of(research, dave) == "member"


def test_a_member_leaves(client, research, bob):
    client.force_login(bob)
    response = client.post(url(research, "leave"))
    assert response.status_code == 302 and response.url == "/teams/"
    assert role_of(research, bob) is None
    assert client.get(url(research)).status_code == 404
    assert team_ops() == ["leave"]


def test_the_last_owner_cannot_leave_until_there_is_another(client, research, alice, bob):
    client.force_login(alice)
    response = client.post(url(research, "leave"), follow=True)
    assert "A team needs an owner" in response.content.decode()
    assert role_of(research, alice) == "owner"
    client.post(url(research, "role", bob.pk), {"role": "owner"})
    client.post(url(research, "leave"))
    assert role_of(research, alice) is None
    assert role_of(research, bob) == "owner"


# --- Roles -----------------------------------------------------------------------------


def test_an_owner_makes_and_unmakes_an_admin(client, research, alice, bob):
    client.force_login(alice)
    client.post(url(research, "role", bob.pk), {"role": "admin"})
    assert role_of(research, bob) == "admin"
    client.post(url(research, "role", bob.pk), {"role": "member"})
    assert role_of(research, bob) == "member"
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.TEAM).order_by("created", "id")
    details = entries.last().details
    assert details | {"team_id": None} == {
        "op": "role",
        "team": "research",
        "team_id": None,
        "user": "bob",
        "from": "admin",
        "to": "member",
    }


def test_an_admin_cannot_make_admins_or_owners(client, research, carol, bob):
    client.force_login(carol)
    assert client.post(url(research, "role", bob.pk), {"role": "admin"}).status_code == 403
    assert client.post(url(research, "role", carol.pk), {"role": "owner"}).status_code == 403
    assert role_of(research, bob) == "member" and role_of(research, carol) == "admin"


def test_the_last_owner_cannot_be_demoted(client, research, alice):
    client.force_login(alice)
    response = client.post(url(research, "role", alice.pk), {"role": "admin"}, follow=True)
    assert "A team needs an owner" in response.content.decode()
    assert role_of(research, alice) == "owner"


def test_an_unknown_role_is_refused_with_a_reason(client, research, alice, bob):
    client.force_login(alice)
    response = client.post(url(research, "role", bob.pk), {"role": "king"}, follow=True)
    assert "Choose owner, admin or member." in response.content.decode()
    assert role_of(research, bob) == "member"


def test_someone_outside_the_team_cannot_be_given_a_role(client, research, alice):
    outsider = make_user("frank")
    client.force_login(alice)
    assert client.post(url(research, "role", outsider.pk), {"role": "admin"}).status_code == 404
    assert not TeamRole.objects.filter(user=outsider).exists()


def test_the_admin_gives_roles_only_to_the_groups_members(research, bob):
    outsider = make_user("frank")
    for user, valid in ((bob, True), (outsider, False)):
        form = TeamRoleForm({"user": user.pk, "role": "admin"}, instance=TeamRole(team=research))
        assert form.is_valid() is valid


# --- Shared personas -------------------------------------------------------------------


@pytest.fixture
def shared(research, bob, chat_model) -> Persona:
    persona = Persona.objects.create(
        owner=bob, name="Reviewer", system_prompt="Be strict.", visibility=Persona.Visibility.TEAM
    )
    persona.teams.add(research.group)
    return persona


def test_an_admin_stops_sharing_a_persona_but_cannot_edit_it(client, research, carol, shared):
    client.force_login(carol)
    assert "Reviewer" in client.get(url(research)).content.decode()
    assert client.get(f"/personas/{shared.pk}/edit/").status_code == 404  # its author's
    assert client.post(url(research, "unshare", shared.pk)).status_code == 302
    assert not shared.teams.exists()
    assert Persona.objects.filter(pk=shared.pk, system_prompt="Be strict.").exists()
    assert team_ops() == ["unshare_persona"]


def test_a_member_cannot_stop_sharing_a_persona(client, research, dave, shared):
    client.force_login(dave)
    assert client.post(url(research, "unshare", shared.pk)).status_code == 403
    assert shared.teams.filter(pk=research.group_id).exists()


def test_a_persona_not_shared_with_the_team_answers_404(client, research, carol, alice):
    private = Persona.objects.create(owner=alice, name="Mine", system_prompt="x")
    client.force_login(carol)
    assert client.post(url(research, "unshare", private.pk)).status_code == 404


# --- Usage and budgets -----------------------------------------------------------------


def test_admins_see_who_used_what_and_members_see_only_the_budgets(client, research, bob, carol):
    Quota.objects.create(group=research.group, daily_tokens=5000)
    UsageDaily.objects.create(
        user=bob, day=timezone.localdate(), model_name="gpt-4", requests=3, prompt_tokens=1200
    )
    client.force_login(carol)
    page = client.get(url(research)).content.decode()
    assert 'id="usage"' in page and "1200" in page and "5000" in page
    client.force_login(bob)
    page = client.get(url(research)).content.decode()
    assert 'id="usage"' not in page
    assert 'id="budgets"' in page and "5000" in page and "3800" in page  # left today


# --- Form safety -----------------------------------------------------------------------


def test_changes_are_post_only(client, research, alice, bob):
    client.force_login(alice)
    for path in (url(research, "invite"), url(research, "leave"), url(research, "remove", bob.pk)):
        assert client.get(path).status_code == 405
    assert role_of(research, bob) == "member"


def test_changes_need_the_csrf_token(research, alice, bob):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(url(research, "remove", bob.pk)).status_code == 403
    assert role_of(research, bob) == "member"


def test_the_page_showing_an_invitation_link_is_never_cached(client, research, carol):
    client.force_login(carol)
    response = client.post(url(research, "invite"))
    assert "no-store" in response["Cache-Control"]


def test_staff_role_changes_in_the_admin_are_audited(client, research, superuser, bob, carol):
    client.force_login(superuser)
    carol_role = TeamRole.objects.get(team=research, user=carol)
    alice_role = TeamRole.objects.get(team=research, role=TeamRole.Role.OWNER)
    form = {
        "roles-TOTAL_FORMS": "3", "roles-INITIAL_FORMS": "2",
        "roles-MIN_NUM_FORMS": "0", "roles-MAX_NUM_FORMS": "1000",
        "roles-0-id": alice_role.pk, "roles-0-team": research.pk,
        "roles-0-user": alice_role.user_id, "roles-0-role": "owner",
        "roles-1-id": carol_role.pk, "roles-1-team": research.pk,
        "roles-1-user": carol.pk, "roles-1-role": "owner",
        "roles-2-team": research.pk, "roles-2-user": bob.pk, "roles-2-role": "admin",
    }  # fmt: skip
    response = client.post(f"/admin/conversations/team/{research.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert (role_of(research, carol), role_of(research, bob)) == ("owner", "admin")
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.TEAM).order_by("pk")
    changes = {(e.details["user"], e.details["from"], e.details["to"]) for e in entries}
    assert changes == {("carol", "admin", "owner"), ("bob", "member", "admin")}
    assert all(e.details["by"] == "staff" and e.actor == superuser for e in entries)
