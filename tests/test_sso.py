"""Single sign-on against a real OpenID provider (oidc-provider, started on loopback),
driven through its own pages by an HTTP client, against the app in Daphne."""

import asyncio
import time

import aiohttp
import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import Group, Permission, User
from django.contrib.sessions.backends.db import SessionStore

from conversations.models import AuditEntry, SsoIdentity
from tests import oidcprovider
from tests.conftest import PASSWORD, make_user
from tests.livedaphne import LiveDaphne, app_env
from tests.oidcprovider import (
    CLIENT_ID,
    CLIENT_SECRET,
    answer_the_provider,
    browser,
    refusal_code,
    sign_in,
)

pytestmark = pytest.mark.django_db(transaction=True)
oidc_provider = oidcprovider.oidc_provider  # the fixture: one provider for the run

PROVIDER_NAME = "Example IdP"


def sso_env(provider, **overrides) -> dict[str, str]:
    return app_env(
        OIDC_ISSUER=provider.issuer,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=CLIENT_SECRET,
        OIDC_PROVIDER_NAME=PROVIDER_NAME,
        OIDC_TEAMS="research,ops",
        **overrides,
    )


@pytest.fixture(scope="module")
def sso_app(django_db_setup, django_db_blocker, oidc_provider):
    with django_db_blocker.unblock():
        env = sso_env(oidc_provider)
    with LiveDaphne(env) as app:
        yield app


@pytest.fixture(scope="module")
def sso_only_app(django_db_setup, django_db_blocker, oidc_provider):
    with django_db_blocker.unblock():
        env = sso_env(oidc_provider, OIDC_SSO_ONLY="true")
    with LiveDaphne(env) as app:
        yield app


def session_of(visitor) -> SessionStore | None:
    key = visitor.cookies.get(settings.SESSION_COOKIE_NAME)
    return SessionStore(key) if key else None


def signed_in_user(visitor) -> User | None:
    session = session_of(visitor)
    user_id = session.load().get(SESSION_KEY) if session else None
    return User.objects.filter(pk=user_id).first() if user_id else None


def passwordless(username: str, **extra) -> User:
    """An account that cannot sign in with a password (made by an administrator so,
    or by an earlier single sign-on): its verified address alone may link it."""
    return User.objects.create_user(username=username, password=None, **extra)


def sign_ins() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=AuditEntry.Action.SIGN_IN).order_by("pk"))


def test_it_links_an_account_without_a_password_by_verified_email(sso_app, oidc_provider):
    alice = passwordless("alice", email="alice@example.test")
    oidc_provider.set_account("a-1", email="Alice@Example.test", email_verified=True)
    visitor = browser(sso_app.url)
    landing = sign_in(visitor, "a-1")
    assert landing.status_code == 200 and landing.url.path == "/", (landing.url, sso_app.output())
    assert signed_in_user(visitor) == alice
    assert session_of(visitor).load()[BACKEND_SESSION_KEY] == "conversations.sso.SsoBackend"
    assert User.objects.count() == 1
    assert SsoIdentity.objects.get(user=alice).subject == "a-1"
    [entry] = sign_ins()
    assert entry.actor == alice
    assert entry.details["op"] == "sso" and entry.details["created"] is False
    assert entry.details["issuer"] == oidc_provider.issuer


def test_it_creates_an_account_on_first_sign_in(sso_app, oidc_provider):
    oidc_provider.set_account(
        "c-1",
        email="carol@example.test",
        email_verified=True,
        preferred_username="carol",
        name="Carol Doe",
    )
    visitor = browser(sso_app.url)
    sign_in(visitor, "c-1")
    carol = User.objects.get(email="carol@example.test")
    assert signed_in_user(visitor) == carol
    assert (carol.username, carol.first_name) == ("carol", "Carol Doe")
    assert not carol.has_usable_password()  # no password to guess: the provider only
    assert sign_ins()[-1].details["created"] is True


def test_a_new_account_does_not_take_a_username_already_in_use(sso_app, oidc_provider):
    make_user("carol", email="someone-else@example.test")
    oidc_provider.set_account(
        "c-2", email="carol@corp.test", email_verified=True, preferred_username="carol"
    )
    visitor = browser(sso_app.url)
    sign_in(visitor, "c-2")
    assert signed_in_user(visitor).username == "carol2"


def test_the_groups_claim_joins_and_leaves_the_mapped_teams(sso_app, oidc_provider):
    alice = passwordless("alice", email="alice@example.test")
    research, ops = Group.objects.create(name="research"), Group.objects.create(name="ops")
    unmapped = Group.objects.create(name="book club")  # not in OIDC_TEAMS
    alice.groups.add(ops, unmapped)
    oidc_provider.set_account(
        "a-2", email="alice@example.test", email_verified=True, groups=["/research", "ghost"]
    )
    sign_in(browser(sso_app.url), "a-2")
    assert set(alice.groups.all()) == {research, unmapped}
    assert not Group.objects.filter(name="ghost").exists()  # unknown names are ignored
    assert sign_ins()[-1].details["groups"] == ["research"]

    oidc_provider.set_account(
        "a-2", email="alice@example.test", email_verified=True, groups=["ops"]
    )
    sign_in(browser(sso_app.url), "a-2")
    assert set(alice.groups.all()) == {ops, unmapped}


def test_without_a_groups_claim_the_teams_stay_as_they_are(sso_app, oidc_provider):
    alice = passwordless("alice", email="alice@example.test")
    ops = Group.objects.create(name="ops")
    alice.groups.add(ops)
    oidc_provider.set_account("a-3", email="alice@example.test", email_verified=True)
    sign_in(browser(sso_app.url), "a-3")
    assert list(alice.groups.all()) == [ops]


def test_it_refuses_an_unverified_email(sso_app, oidc_provider):
    alice = make_user("alice", email="alice@example.test")
    oidc_provider.set_account("m-1", email="alice@example.test", email_verified=False)
    visitor = browser(sso_app.url)
    page = sign_in(visitor, "m-1")
    assert page.status_code == 403
    assert refusal_code(page) == "sso_email_unverified"
    assert "did not confirm your email address" in page.text
    assert signed_in_user(visitor) is None
    assert list(User.objects.all()) == [alice]
    refused = AuditEntry.objects.get(action=AuditEntry.Action.REFUSED)
    assert refused.details == {
        "op": "sso",
        "issuer": oidc_provider.issuer,
        "reason": "sso_email_unverified",
    }


def test_it_refuses_a_tampered_id_token(sso_app, oidc_provider):
    oidc_provider.set_account("t-1", email="tess@example.test", email_verified=True)
    oidc_provider.alter_next_token("tampered")
    visitor = browser(sso_app.url)
    page = sign_in(visitor, "t-1")
    assert page.status_code == 403 and refusal_code(page) == "sso_invalid_token"
    assert signed_in_user(visitor) is None
    assert not User.objects.exists()


def test_it_refuses_an_id_token_made_for_another_client(sso_app, oidc_provider):
    """Signed by the provider's own key, so only the audience check can catch it."""
    oidc_provider.set_account("w-1", email="walt@example.test", email_verified=True)
    oidc_provider.alter_next_token("wrong-audience")
    visitor = browser(sso_app.url)
    page = sign_in(visitor, "w-1")
    assert page.status_code == 403 and refusal_code(page) == "sso_invalid_token"
    assert signed_in_user(visitor) is None
    assert not User.objects.exists()


def test_it_refuses_a_disabled_account(sso_app, oidc_provider):
    make_user("alice", email="alice@example.test", is_active=False)
    oidc_provider.set_account("a-4", email="alice@example.test", email_verified=True)
    visitor = browser(sso_app.url)
    page = sign_in(visitor, "a-4")
    assert page.status_code == 403 and refusal_code(page) == "sso_account_disabled"
    assert signed_in_user(visitor) is None


def test_a_replayed_callback_is_refused_with_a_page(sso_app, oidc_provider):
    oidc_provider.set_account("a-5", email="alice@example.test", email_verified=True)
    passwordless("alice", email="alice@example.test")
    visitor = browser(sso_app.url)
    callback_urls = []
    visitor.event_hooks["request"] = [
        lambda request: (
            callback_urls.append(str(request.url))
            if request.url.path == "/oidc/callback/"
            else None
        )
    ]
    sign_in(visitor, "a-5")
    stranger = browser(sso_app.url)
    page = stranger.get(callback_urls[-1])
    assert page.status_code == 403 and refusal_code(page) == "sso_stale"
    assert signed_in_user(stranger) is None


def test_an_expired_sign_in_goes_back_to_the_provider_and_json_gets_401(sso_app, oidc_provider):
    alice = passwordless("alice", email="alice@example.test")
    oidc_provider.set_account("a-6", email="alice@example.test", email_verified=True)
    visitor = browser(sso_app.url)
    sign_in(visitor, "a-6")
    assert visitor.get("/api/conversations").status_code == 200
    session = session_of(visitor)
    session["oidc_id_token_expiration"] = time.time() - 1
    session.save()

    api = visitor.get("/api/conversations", follow_redirects=False)
    assert api.status_code == 401
    assert api.json()["error"]["code"] == "session_expired"
    page = visitor.get("/", follow_redirects=False)
    assert page.status_code == 302
    assert page.headers["location"].startswith(f"{oidc_provider.issuer}/auth?")
    assert "prompt=none" in page.headers["location"]

    # Still signed in at the provider: the trip there and back is silent.
    back = visitor.get("/")
    assert back.status_code == 200 and back.url.path == "/"
    assert signed_in_user(visitor) == alice
    assert visitor.get("/api/conversations").status_code == 200


def test_password_sessions_are_never_sent_to_the_provider(sso_app, oidc_provider):
    make_user("bob")
    visitor = browser(sso_app.url)
    visitor.get("/accounts/login/")
    form = {"username": "bob", "password": PASSWORD, "csrfmiddlewaretoken": csrf(visitor)}
    visitor.post("/accounts/login/", data=form)
    assert signed_in_user(visitor).username == "bob"
    assert visitor.get("/", follow_redirects=False).status_code == 200


def csrf(visitor) -> str:
    return visitor.cookies["csrftoken"]


def test_the_sign_in_page_offers_the_provider_beside_the_password(sso_app):
    page = browser(sso_app.url).get("/accounts/login/?next=/settings/")
    assert f"Sign in with {PROVIDER_NAME}" in page.text
    assert 'href="/oidc/authenticate/?next=/settings/"' in page.text
    assert 'id="password-sign-in"' in page.text


def test_sso_only_hides_the_password_form(sso_only_app):
    page = browser(sso_only_app.url).get("/accounts/login/")
    assert f"Sign in with {PROVIDER_NAME}" in page.text
    assert 'id="password-sign-in"' not in page.text
    assert 'name="password"' not in page.text


def test_sso_only_refuses_a_password_sign_in(sso_only_app):
    make_user("bob")
    visitor = browser(sso_only_app.url)
    visitor.get("/accounts/login/?breakglass=1")  # for a CSRF token: the page has no form
    form = {"username": "bob", "password": PASSWORD, "csrfmiddlewaretoken": csrf(visitor)}
    page = visitor.post("/accounts/login/", data=form)
    assert page.status_code == 403 and refusal_code(page) == "sso_only"
    assert signed_in_user(visitor) is None


def test_sso_only_refuses_sign_up(sso_only_app):
    assert browser(sso_only_app.url).get("/accounts/signup/").status_code == 404


def test_sso_only_break_glass_signs_in_a_superuser_only(sso_only_app):
    User.objects.create_superuser("root", password=PASSWORD)
    make_user("bob")
    for username, allowed in (("bob", False), ("root", True)):
        visitor = browser(sso_only_app.url)
        page = visitor.get("/accounts/login/?breakglass=1")
        assert 'name="password"' in page.text
        form = {
            "username": username,
            "password": PASSWORD,
            "breakglass": "1",
            "csrfmiddlewaretoken": csrf(visitor),
        }
        visitor.post("/accounts/login/?breakglass=1", data=form)
        assert (signed_in_user(visitor) is not None) is allowed


def test_sso_only_still_signs_in_with_the_provider(sso_only_app, oidc_provider):
    alice = passwordless("alice", email="alice@example.test")
    oidc_provider.set_account("a-7", email="alice@example.test", email_verified=True)
    visitor = browser(sso_only_app.url)
    sign_in(visitor, "a-7")
    assert signed_in_user(visitor) == alice


def test_an_expired_sign_in_without_a_provider_session_signs_in_there_again(sso_app, oidc_provider):
    """The provider answers prompt=none with login_required: the person is asked to
    sign in at the provider, then lands where they were going."""
    passwordless("alice", email="alice@example.test")
    oidc_provider.set_account("a-8", email="alice@example.test", email_verified=True)
    first = browser(sso_app.url)
    sign_in(first, "a-8")
    session = session_of(first)
    session["oidc_id_token_expiration"] = time.time() - 1
    session.save()
    elsewhere = browser(sso_app.url)  # the same chatsite session, no provider cookie
    elsewhere.cookies.set(settings.SESSION_COOKIE_NAME, session.session_key, domain="127.0.0.1")
    asked = elsewhere.get("/settings/")
    assert 'name="prompt" value="login"' in asked.text  # the provider's own sign-in page
    assert signed_in_user(elsewhere) is None
    landing = answer_the_provider(elsewhere, asked, "a-8")
    assert landing.status_code == 200 and landing.url.path == "/settings/"


def test_a_refused_sign_in_counts_toward_the_lockout(sso_app, oidc_provider):
    oidc_provider.set_account("m-2", email="mallory@example.test", email_verified=False)
    sign_in(browser(sso_app.url), "m-2")
    assert AccessAttempt.objects.get(ip_address="127.0.0.1").failures_since_start == 1


def test_a_locked_out_address_cannot_sign_in_with_the_provider(sso_app, oidc_provider):
    alice = make_user("alice", email="alice@example.test")
    AccessAttempt.objects.create(
        ip_address="127.0.0.1",
        username="someone",
        user_agent="",
        failures_since_start=settings.CHATSITE_SIGNIN_FAILURE_LIMIT,
        get_data="",
        post_data="",
        http_accept="",
        path_info="/accounts/login/",
    )
    oidc_provider.set_account("a-9", email="alice@example.test", email_verified=True)
    visitor = browser(sso_app.url)
    page = sign_in(visitor, "a-9")
    assert page.status_code == 429, (page.url, page.text[:300])
    assert signed_in_user(visitor) is None
    assert not AuditEntry.objects.filter(actor=alice).exists()


def test_the_chat_socket_of_a_provider_session_is_signed_in(sso_app, oidc_provider):
    """The socket checks its session through the backend that signed it in."""
    passwordless("alice", email="alice@example.test")
    oidc_provider.set_account("a-10", email="alice@example.test", email_verified=True)
    visitor = browser(sso_app.url)
    sign_in(visitor, "a-10")
    cookie = f"{settings.SESSION_COOKIE_NAME}={session_of(visitor).session_key}"

    async def ping() -> dict:
        headers = {"Cookie": cookie, "Origin": sso_app.url}
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(sso_app.ws_url, headers=headers) as socket,
        ):
            await socket.send_json({"type": "ping"})
            return await socket.receive_json(timeout=10)

    assert asyncio.run(ping())["type"] == "pong"


def test_a_forged_error_link_does_not_sign_anyone_out(sso_app):
    bob = make_user("bob")
    visitor = browser(sso_app.url)
    visitor.get("/accounts/login/")
    form = {"username": "bob", "password": PASSWORD, "csrfmiddlewaretoken": csrf(visitor)}
    visitor.post("/accounts/login/", data=form)
    page = visitor.get("/oidc/callback/?error=access_denied&state=forged")
    assert page.status_code == 403 and refusal_code(page) == "sso_stale"
    assert signed_in_user(visitor) == bob


def test_a_bound_account_is_found_by_subject_after_its_email_changes(sso_app, oidc_provider):
    alice = passwordless("alice", email="alice@example.test")
    oidc_provider.set_account("a-12", email="alice@example.test", email_verified=True)
    sign_in(browser(sso_app.url), "a-12")
    oidc_provider.set_account("a-12", email="alice.smith@example.test", email_verified=True)
    visitor = browser(sso_app.url)
    sign_in(visitor, "a-12")
    assert signed_in_user(visitor) == alice
    assert User.objects.count() == 1


def test_an_address_given_to_someone_else_does_not_open_the_bound_account(sso_app, oidc_provider):
    passwordless("alice", email="alice@example.test")
    oidc_provider.set_account("a-13", email="alice@example.test", email_verified=True)
    sign_in(browser(sso_app.url), "a-13")
    oidc_provider.set_account("n-1", email="alice@example.test", email_verified=True)
    visitor = browser(sso_app.url)
    page = sign_in(visitor, "n-1")
    assert page.status_code == 403 and refusal_code(page) == "sso_linked_elsewhere"
    assert signed_in_user(visitor) is None


# --- Linking an existing account that has a password -------------------------


def link_with(visitor, password: str):
    form = {"password": password, "csrfmiddlewaretoken": csrf(visitor)}
    return visitor.post("/oidc/link/", data=form)


def test_an_account_with_a_password_is_not_linked_by_email_alone(sso_app, oidc_provider):
    """Open sign-up never verifies addresses: mallory's account under alice's address
    must not become alice's at her first single sign-on."""
    mallory = make_user("mallory", email="alice@corp.test")
    oidc_provider.set_account("a-20", email="Alice@corp.test", email_verified=True)
    visitor = browser(sso_app.url)
    page = sign_in(visitor, "a-20")
    assert page.status_code == 200 and page.url.path == "/oidc/link/"
    assert "Link your existing account" in page.text and 'id="sso-link"' in page.text
    assert "mallory" not in page.text
    assert signed_in_user(visitor) is None
    assert not SsoIdentity.objects.filter(user=mallory).exists()
    assert sign_ins() == []
    assert not AccessAttempt.objects.exists()  # being asked is no failed sign-in


def test_linking_with_the_accounts_password_signs_in_and_binds_it(sso_app, oidc_provider):
    alice = make_user("alice", email="alice@corp.test")
    research = Group.objects.create(name="research")
    oidc_provider.set_account(
        "a-21", email="alice@corp.test", email_verified=True, groups=["research"]
    )
    visitor = browser(sso_app.url)
    sign_in(visitor, "a-21", start="/oidc/authenticate/?next=/settings/")
    landing = link_with(visitor, PASSWORD)
    assert landing.status_code == 200 and landing.url.path == "/settings/"
    assert signed_in_user(visitor) == alice
    assert session_of(visitor).load()[BACKEND_SESSION_KEY] == "conversations.sso.SsoBackend"
    assert session_of(visitor).load()["oidc_id_token_expiration"] > time.time()
    assert SsoIdentity.objects.get(user=alice).subject == "a-21"
    assert list(alice.groups.all()) == [research]
    [entry] = sign_ins()
    assert entry.actor == alice
    assert entry.details["op"] == "link" and entry.details["issuer"] == oidc_provider.issuer
    assert entry.details["groups"] == ["research"]

    # From now on the provider signs her in directly.
    again = browser(sso_app.url)
    landing = sign_in(again, "a-21")
    assert landing.status_code == 200 and landing.url.path == "/"
    assert signed_in_user(again) == alice
    assert sign_ins()[-1].details["op"] == "sso"
    # The link is used up: the page now refuses.
    stale = visitor.get("/oidc/link/")
    assert stale.status_code == 403 and refusal_code(stale) == "sso_link_stale"


def test_a_wrong_password_is_refused_and_counts_toward_the_lockout(sso_app, oidc_provider):
    mallory = make_user("mallory", email="alice@corp.test")
    oidc_provider.set_account("a-22", email="alice@corp.test", email_verified=True)
    visitor = browser(sso_app.url)
    sign_in(visitor, "a-22")
    page = link_with(visitor, "not mallory's password")
    assert page.status_code == 403
    assert 'id="sso-link-error"' in page.text and 'id="sso-link"' in page.text
    assert signed_in_user(visitor) is None
    assert not SsoIdentity.objects.exists()
    assert AccessAttempt.objects.get(username="mallory").failures_since_start == 1
    refused = AuditEntry.objects.get(action=AuditEntry.Action.REFUSED)
    assert refused.details["reason"] == "sso_link_wrong_password"
    assert not SsoIdentity.objects.filter(user=mallory).exists()


def test_a_locked_out_account_cannot_be_linked_even_with_its_password(sso_app, oidc_provider):
    alice = make_user("alice", email="alice@corp.test")
    AccessAttempt.objects.create(
        ip_address="10.9.9.9",
        username="alice",
        user_agent="",
        failures_since_start=settings.CHATSITE_SIGNIN_FAILURE_LIMIT,
        get_data="",
        post_data="",
        http_accept="",
        path_info="/accounts/login/",
    )
    oidc_provider.set_account("a-23", email="alice@corp.test", email_verified=True)
    visitor = browser(sso_app.url)
    sign_in(visitor, "a-23")
    page = link_with(visitor, PASSWORD)
    assert page.status_code == 429, page.text[:300]
    assert signed_in_user(visitor) is None
    assert not SsoIdentity.objects.filter(user=alice).exists()


def test_the_link_page_needs_a_pending_sign_in_and_a_csrf_token(sso_app, oidc_provider):
    stranger = browser(sso_app.url)
    page = stranger.get("/oidc/link/")
    assert page.status_code == 403 and refusal_code(page) == "sso_link_stale"

    make_user("alice", email="alice@corp.test")
    oidc_provider.set_account("a-24", email="alice@corp.test", email_verified=True)
    visitor = browser(sso_app.url)
    sign_in(visitor, "a-24")
    assert visitor.post("/oidc/link/", data={"password": PASSWORD}).status_code == 403
    assert signed_in_user(visitor) is None
    assert not SsoIdentity.objects.exists()


def test_a_staff_account_is_never_linked_without_its_password(sso_app, oidc_provider):
    User.objects.create_user("boss", email="boss@corp.test", password=None, is_staff=True)
    oidc_provider.set_account("s-1", email="boss@corp.test", email_verified=True)
    visitor = browser(sso_app.url)
    page = sign_in(visitor, "s-1")
    assert page.status_code == 403 and refusal_code(page) == "sso_link_needs_password"
    assert signed_in_user(visitor) is None

    User.objects.create_superuser("root", email="root@corp.test", password=PASSWORD)
    oidc_provider.set_account("s-2", email="root@corp.test", email_verified=True)
    visitor = browser(sso_app.url)
    page = sign_in(visitor, "s-2")
    assert page.url.path == "/oidc/link/" and signed_in_user(visitor) is None
    assert not SsoIdentity.objects.exists()


# --- Teams with permissions ------------------------------------------------------


def test_a_team_that_carries_permissions_is_never_synced(sso_app, oidc_provider):
    """ "ops" is in OIDC_TEAMS, but once it grants a permission the claim neither
    grants nor strips it."""
    alice = passwordless("alice", email="alice@example.test")
    bob = passwordless("bob", email="bob@example.test")
    ops = Group.objects.create(name="ops")
    ops.permissions.add(Permission.objects.get(codename="review_conversation"))
    alice.groups.add(ops)
    oidc_provider.set_account("a-30", email="alice@example.test", email_verified=True, groups=[])
    oidc_provider.set_account("b-30", email="bob@example.test", email_verified=True, groups=["ops"])
    sign_in(browser(sso_app.url), "a-30")
    sign_in(browser(sso_app.url), "b-30")
    assert list(alice.groups.all()) == [ops]
    assert not bob.groups.exists()
    assert sign_ins()[-1].details["groups"] == []


# --- A broken key set at the provider -------------------------------------------


@pytest.mark.parametrize("mode", ["no-keys", "no-kid", "unknown-kty"])
def test_a_broken_key_set_refuses_the_token(sso_app, oidc_provider, mode):
    oidc_provider.set_account("k-1", email="kim@example.test", email_verified=True)
    oidc_provider.break_next_jwks(mode)
    visitor = browser(sso_app.url)
    page = sign_in(visitor, "k-1")
    assert page.status_code == 403 and refusal_code(page) == "sso_invalid_token"
    assert signed_in_user(visitor) is None
    assert not User.objects.exists()


def test_a_pending_link_expires(sso_app, oidc_provider):
    alice = make_user("alice", email="alice@corp.test")
    oidc_provider.set_account("a-25", email="alice@corp.test", email_verified=True)
    visitor = browser(sso_app.url)
    sign_in(visitor, "a-25")
    session = session_of(visitor)
    pending = session["sso_pending_link"]
    session["sso_pending_link"] = {**pending, "until": time.time() - 1}
    session.save()
    page = link_with(visitor, PASSWORD)
    assert page.status_code == 403 and refusal_code(page) == "sso_link_stale"
    assert signed_in_user(visitor) is None
    assert not SsoIdentity.objects.filter(user=alice).exists()
