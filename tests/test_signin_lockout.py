"""Sign-in locks out an account, and an address, after too many wrong passwords."""

import re

from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command

from tests.conftest import PASSWORD

LOGIN = "/accounts/login/"
LIMIT = settings.CHATSITE_SIGNIN_FAILURE_LIMIT


def sign_in(client, username: str, password: str, address: str = "127.0.0.1"):
    form = {"username": username, "password": password}
    return client.post(LOGIN, form, REMOTE_ADDR=address)


def fail(client, username: str, times: int = LIMIT, address: str = "127.0.0.1") -> None:
    for _ in range(times):
        sign_in(client, username, "wrong password", address)


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def test_the_right_password_after_too_many_wrong_ones_is_refused(client, alice):
    fail(client, "alice", times=25)
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert not signed_in(client)


def test_fewer_wrong_passwords_than_the_limit_do_not_lock(client, alice):
    fail(client, "alice", times=LIMIT - 1)
    assert sign_in(client, "alice", PASSWORD).status_code == 302
    assert signed_in(client)


def test_the_lockout_is_the_sign_in_page_saying_why(client, alice):
    fail(client, "alice")
    response = sign_in(client, "alice", PASSWORD)
    page = response.content.decode()
    assert response.status_code == 429
    assert "Too many failed sign-ins" in page
    assert f"Try again in {settings.CHATSITE_SIGNIN_LOCKOUT_MINUTES} minutes" in page
    assert 'name="password"' in page  # the sign-in form, not a bare error page
    assert 'value="alice"' in page
    assert "/accounts/password_reset/" in page


def test_the_lockout_message_is_translated(client, alice):
    fail(client, "alice")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    page = sign_in(client, "alice", PASSWORD).content.decode()
    assert "登录失败次数过多" in page


def test_the_account_stays_locked_from_another_address(client, alice):
    fail(client, "alice", address="203.0.113.7")
    assert sign_in(client, "alice", PASSWORD, address="198.51.100.9").status_code == 429


def test_an_address_that_tried_many_accounts_is_locked_for_all(client, alice, bob):
    for number in range(LIMIT):
        sign_in(client, f"guess{number}", "wrong password", "203.0.113.7")
    assert sign_in(client, "bob", PASSWORD, address="203.0.113.7").status_code == 429
    assert sign_in(client, "bob", PASSWORD, address="198.51.100.9").status_code == 302


def test_tries_during_a_lockout_do_not_extend_it(client, alice):
    fail(client, "alice")
    attempt = AccessAttempt.objects.get(username="alice")
    fail(client, "alice", times=5)
    attempt.refresh_from_db()
    assert attempt.failures_since_start == LIMIT


def test_a_successful_sign_in_clears_the_count(client, alice):
    fail(client, "alice", times=LIMIT - 1)
    assert sign_in(client, "alice", PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    fail(client, "alice", times=LIMIT - 1)
    assert sign_in(client, "alice", PASSWORD).status_code == 302


def test_signing_in_to_another_account_does_not_clear_the_guessed_ones(client, alice, bob):
    fail(client, "alice", times=LIMIT - 1)
    assert sign_in(client, "bob", PASSWORD).status_code == 302  # same address, own account
    client.post("/accounts/logout/")
    fail(client, "alice", times=1)
    assert sign_in(client, "alice", PASSWORD, address="10.0.0.9").status_code == 429


def test_an_admin_unlocks_an_account_in_the_admin(client, alice, superuser):
    fail(client, "alice")
    admin = client.__class__()
    admin.force_login(superuser)
    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert "alice" in listing.content.decode()
    rows = [str(pk) for pk in AccessAttempt.objects.values_list("pk", flat=True)]
    form = {"action": "delete_selected", "_selected_action": rows, "post": "yes"}
    assert admin.post("/admin/axes/accessattempt/", form).status_code == 302
    assert sign_in(client, "alice", PASSWORD).status_code == 302


def test_the_management_command_unlocks_an_account(client, alice):
    fail(client, "alice", address="203.0.113.7")
    call_command("axes_reset_username", "alice")
    assert sign_in(client, "alice", PASSWORD, address="198.51.100.9").status_code == 302


def test_password_reset_works_for_a_locked_account_and_unlocks_it(client, alice, mailoutbox):
    alice.email = "alice@example.com"
    alice.save()
    fail(client, "alice", address="203.0.113.7")
    response = client.post("/accounts/password_reset/", {"email": "alice@example.com"})
    assert response.status_code == 302
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mailoutbox[0].body)[1]
    form_page = client.get(link, follow=True)
    new = "a brand new passphrase 42"
    done = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": new, "new_password2": new}
    )
    assert done.status_code == 302
    assert sign_in(client, "alice", new, address="198.51.100.9").status_code == 302


def test_the_test_clients_login_and_force_login_are_never_counted(client, alice):
    for _ in range(LIMIT + 1):
        assert not client.login(username="alice", password="wrong password")
    assert client.login(username="alice", password=PASSWORD)
    assert AccessAttempt.objects.count() == 0
    client.logout()
    client.force_login(alice)
    assert signed_in(client)
