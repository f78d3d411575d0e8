"""Single sign-on's settings and the provider's discovery document."""

from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Group, Permission

from conversations import sso_discovery
from conversations.models import SsoIdentity
from conversations.sso import sync_teams
from tests import oidcprovider
from tests.test_settings import production, run_django

oidc_provider = oidcprovider.oidc_provider  # the fixture: one provider for the run

SSO = {
    "OIDC_ISSUER": "https://id.example.com/realms/staff",
    "OIDC_CLIENT_ID": "chatsite",
    "OIDC_CLIENT_SECRET": "s3cret-from-the-provider",
}


def test_the_deploy_check_passes_with_sso_and_never_calls_the_provider():
    """id.example.com does not answer here: nothing at start-up may need it."""
    result = run_django(["check", "--deploy", "--fail-level", "WARNING"], **production(**SSO))
    assert result.returncode == 0, result.stderr + result.stdout


def test_it_refuses_to_start_with_an_issuer_but_no_client():
    result = run_django(["check"], **production(OIDC_ISSUER=SSO["OIDC_ISSUER"]))
    assert result.returncode != 0
    assert "OIDC_CLIENT_ID" in result.stderr


def test_it_refuses_to_start_sso_only_without_an_issuer():
    result = run_django(["check"], **production(OIDC_SSO_ONLY="true"))
    assert result.returncode != 0
    assert "OIDC_SSO_ONLY needs OIDC_ISSUER" in result.stderr


def test_the_endpoints_come_from_the_discovery_document(settings, oidc_provider):
    settings.OIDC_ISSUER = oidc_provider.issuer
    assert sso_discovery.endpoint("OIDC_OP_TOKEN_ENDPOINT") == f"{oidc_provider.issuer}/token"
    assert sso_discovery.endpoint("OIDC_OP_JWKS_ENDPOINT") == f"{oidc_provider.issuer}/jwks"


def test_an_endpoint_set_in_the_environment_wins(settings, oidc_provider):
    settings.OIDC_ISSUER = oidc_provider.issuer
    settings.OIDC_OP_TOKEN_ENDPOINT = "https://id.example.com/token"
    assert sso_discovery.endpoint("OIDC_OP_TOKEN_ENDPOINT") == "https://id.example.com/token"


def test_a_document_naming_another_issuer_is_refused(settings, oidc_provider):
    port = urlsplit(oidc_provider.issuer).port
    settings.OIDC_ISSUER = f"http://localhost:{port}"  # the document says 127.0.0.1
    with pytest.raises(sso_discovery.ProviderUnavailable):
        sso_discovery.endpoint("OIDC_OP_TOKEN_ENDPOINT")


def test_an_unreachable_provider_is_a_typed_refusal(settings):
    settings.OIDC_ISSUER = "http://127.0.0.1:9"
    settings.OIDC_TIMEOUT = 2
    with pytest.raises(sso_discovery.ProviderUnavailable) as refused:
        sso_discovery.endpoint("OIDC_OP_AUTHORIZATION_ENDPOINT")
    assert refused.value.status == 503


def test_the_admin_lists_identities_read_only_and_deleting_one_unbinds(client, superuser, alice):
    identity = SsoIdentity.objects.create(user=alice, issuer=SSO["OIDC_ISSUER"], subject="a-1")
    client.force_login(superuser)
    listing = client.get("/admin/conversations/ssoidentity/")
    assert listing.status_code == 200 and "a-1" in listing.content.decode()
    assert client.get("/admin/conversations/ssoidentity/add/").status_code == 403
    url = f"/admin/conversations/ssoidentity/{identity.pk}/delete/"
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not SsoIdentity.objects.exists()


def test_the_provider_decides_no_team_unless_told():
    show = "from django.conf import settings; print(settings.OIDC_TEAMS)"
    result = run_django(["shell", "--verbosity", "0", "-c", show], **production(**SSO))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_every_team_still_leaves_teams_with_permissions_alone(settings, alice):
    settings.OIDC_GROUPS_CLAIM = "groups"
    settings.OIDC_TEAMS = ["*"]
    review = Permission.objects.get(codename="review_conversation")
    research = Group.objects.create(name="research")
    reviewers = Group.objects.create(name="Reviewers")
    reviewers.permissions.add(review)
    admins = Group.objects.create(name="admins")
    admins.permissions.add(review)
    alice.groups.add(admins)

    teams = sync_teams(user=alice, claims={"groups": ["research", "Reviewers"]})
    assert teams == ["research"]
    assert set(alice.groups.all()) == {research, admins}
