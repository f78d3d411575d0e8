"""A team admin invites someone in Chromium; the new person signs up through the
link and lands in the team; someone with an account joins with one click."""

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from conversations.models import AuditEntry, Team, TeamRole
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a sturdy pass phrase 42"


@pytest.fixture
def research(team, alice) -> Team:
    team.user_set.add(alice)
    research = Team.objects.get(group=team)
    TeamRole.objects.create(team=research, user=alice, role=TeamRole.Role.ADMIN)
    return research


def make_invitation(browse, admin, team: Team) -> str:
    page, watched = browse(admin, path=f"/teams/{team.pk}/")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("#make-invite")
    link = page.locator("#invite-link")
    expect(link).to_be_visible()
    page.click("#copy-invite")
    expect(page.locator("#copy-invite")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == link.input_value()
    assert watched.errors == []
    return link.input_value()


def test_an_admin_invites_and_a_new_person_signs_up_into_the_team(browse, alice, research):
    link = make_invitation(browse, alice, research)
    page, watched = browse(None, path=link)
    page.fill("#id_username", "erin")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/")
    page.goto("/teams/")
    expect(page.locator(".team-list")).to_contain_text("research")
    erin = User.objects.get(username="erin")
    assert research.group.user_set.filter(pk=erin.pk).exists()
    ops = AuditEntry.objects.filter(action=AuditEntry.Action.TEAM).values_list("details__op")
    assert sorted(op for (op,) in ops) == ["invite", "join"]
    assert watched.errors == []


def test_someone_signed_in_opens_the_link_and_joins(browse, alice, research):
    link = make_invitation(browse, alice, research)
    frank = make_user("frank")
    page, watched = browse(frank, path=link)
    expect(page.locator("h1")).to_have_text("Join research")
    page.click("#join-team")
    page.wait_for_url(f"**/teams/{research.pk}/")
    expect(page.locator("#members")).to_contain_text("frank")
    assert research.group.user_set.filter(pk=frank.pk).exists()
    assert watched.errors == []
