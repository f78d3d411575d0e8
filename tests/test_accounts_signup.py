"""Invitations, open sign-up, password reset, and the settings page."""

from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from conversations.invitations import create_invitation
from conversations.models import Invitation, Persona, Profile, Quota, SiteSettings, UsageDaily
from conversations.models.accounts import hash_token

PASSWORD = "a sturdy pass phrase 42"
NEW_USER = {"username": "carol", "email": "carol@example.com"}
NEW_USER |= {"password1": PASSWORD, "password2": PASSWORD}


def test_sign_up_is_closed_unless_staff_open_it(client, db):
    assert client.get("/accounts/signup/").status_code == 404
    assert b"Create an account" not in client.get("/accounts/login/").content
    site = SiteSettings.load()
    site.open_signup = True
    site.save()
    assert b"Create an account" in client.get("/accounts/login/").content
    response = client.post("/accounts/signup/", NEW_USER)
    assert response.status_code == 302
    assert User.objects.filter(username="carol").exists()
    assert client.get("/").status_code == 200  # signed in straight away


def test_an_invitation_creates_one_account_in_its_teams(client, staff, team):
    invitation, token = create_invitation(created_by=staff, email="carol@example.com", teams=[team])
    page = client.get(f"/accounts/invite/{token}/")
    assert page.status_code == 200
    assert b"carol@example.com" in page.content
    assert client.post(f"/accounts/invite/{token}/", NEW_USER).status_code == 302
    carol = User.objects.get(username="carol")
    assert list(carol.groups.all()) == [team]
    invitation.refresh_from_db()
    assert invitation.used_by == carol
    client.logout()
    again = client.post(f"/accounts/invite/{token}/", {**NEW_USER, "username": "dave"})
    assert again.status_code == 410
    assert not User.objects.filter(username="dave").exists()


def test_an_expired_invitation_is_refused(client, staff):
    invitation, token = create_invitation(created_by=staff)
    invitation.expires_at = timezone.now() - timedelta(minutes=1)
    invitation.save()
    assert client.get(f"/accounts/invite/{token}/").status_code == 410


def test_a_guessed_invitation_token_is_refused(client, db):
    assert client.get("/accounts/invite/not-a-real-token/").status_code == 410


def test_only_the_hash_of_an_invitation_token_is_stored(staff):
    invitation, token = create_invitation(created_by=staff)
    assert token not in invitation.token_hash


def test_password_reset_sends_a_link_by_email(client, alice, mailoutbox):
    alice.email = "alice@example.com"
    alice.save()
    response = client.post("/accounts/password_reset/", {"email": "alice@example.com"})
    assert response.status_code == 302
    [mail] = mailoutbox
    assert mail.to == ["alice@example.com"]
    assert "/accounts/reset/" in mail.body


def test_the_password_can_be_changed(client, alice):
    client.force_login(alice)
    response = client.post(
        "/accounts/password_change/",
        {"old_password": "correct horse battery staple", "new_password1": "another fine phrase 7",
         "new_password2": "another fine phrase 7"},
    )  # fmt: skip
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("another fine phrase 7")


def test_the_settings_page_shows_budget_usage_and_review_policy(client, alice, chat_model):
    Quota.objects.create(user=alice, daily_tokens=1000)
    UsageDaily.objects.create(
        user=alice, day=timezone.localdate(), model_name="gpt-4", prompt_tokens=120
    )
    client.force_login(alice)
    page = client.get("/settings/").content.decode()
    assert "1000" in page and "880" in page
    assert "History review is off" in page


def test_settings_keep_the_theme_and_defaults(client, alice, chat_model, persona):
    client.force_login(alice)
    response = client.post(
        "/settings/",
        {"theme": "dark", "default_persona": str(persona.pk), "default_model": chat_model.pk},
    )
    assert response.status_code == 302
    profile = Profile.objects.get(user=alice)
    assert (profile.theme, profile.default_persona, profile.default_model) == (
        "dark", persona, chat_model,
    )  # fmt: skip


def test_settings_refuse_a_persona_the_user_cannot_see(client, alice, bob, chat_model):
    hidden = Persona.objects.create(owner=bob, name="Bob's")
    client.force_login(alice)
    response = client.post("/settings/", {"theme": "light", "default_persona": str(hidden.pk)})
    assert response.status_code == 200
    assert Profile.objects.get(user=alice).default_persona is None


def test_staff_make_an_invitation_in_the_admin_and_see_its_link_once(admin_client, team):
    response = admin_client.post(
        "/admin/conversations/invitation/add/",
        {"email": "erin@example.com", "teams": [team.pk], "days": 3},
        follow=True,
    )
    page = response.content.decode()
    assert response.status_code == 200
    link = page.split("/accounts/invite/")[1].split("/")[0]
    invitation = Invitation.objects.get()
    assert invitation.token_hash == hash_token(link)
    assert list(invitation.teams.all()) == [team]
    assert (invitation.expires_at - timezone.now()).days in (2, 3)
    listing = admin_client.get("/admin/conversations/invitation/").content.decode()
    assert link not in listing


def test_staff_see_and_adjust_budgets_in_the_admin(admin_client, alice):
    quota = Quota.objects.create(user=alice, daily_tokens=100)
    UsageDaily.objects.create(
        user=alice, day=timezone.localdate(), model_name="gpt-4", prompt_tokens=42
    )
    listing = admin_client.get("/admin/conversations/quota/").content.decode()
    assert ">42<" in listing
    response = admin_client.post(
        f"/admin/conversations/quota/{quota.pk}/change/",
        {"user": alice.pk, "daily_tokens": 500, "monthly_tokens": ""},
    )
    assert response.status_code == 302
    quota.refresh_from_db()
    assert quota.daily_tokens == 500
