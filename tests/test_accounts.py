"""Every page but sign-in needs a signed-in user; sign-in and sign-out work."""

from conversations.models import ModelConfig
from tests.conftest import PASSWORD


def test_the_sign_in_page_is_served(client, db):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b"Sign in to chatsite" in response.content


def test_the_home_page_redirects_to_sign_in(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/")


def test_signing_in_lands_on_the_home_page(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_a_wrong_password_is_refused_with_a_form_error(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b"form-errors" in response.content


def test_signing_out_ends_the_session(client, alice):
    client.force_login(alice)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_without_a_provider_the_user_is_told_how_to_configure_one(client, alice):
    client.force_login(alice)
    response = client.get("/")
    assert response.status_code == 200
    assert b"No model is configured yet" in response.content
    assert b"OPENAI_BASE_URL" in response.content


def test_with_a_model_the_notice_is_gone(client, alice, chat_model):
    client.force_login(alice)
    response = client.get("/")
    assert b"No model is configured yet" not in response.content


def test_pages_carry_a_strict_content_security_policy(client, db):
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "connect-src 'self'" in policy


def test_the_admin_needs_a_staff_account(client, alice):
    client.force_login(alice)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert ModelConfig.objects.count() == 0
