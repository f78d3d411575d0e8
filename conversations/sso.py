"""Single sign-on with OpenID Connect (mozilla-django-oidc), when OIDC_ISSUER is set.

The code flow with PKCE: the provider signs people in, chatsite trades the code
for tokens, checks the ID token (RS256 with the provider's published keys; issuer,
audience, expiry, nonce), then reads the user's claims. An account is linked or
created by email only when the provider says the address is verified; the teams
named in the groups claim (OIDC_GROUPS_CLAIM) among OIDC_TEAMS are synced on
every sign-in, never a team that carries permissions.

The first single sign-on binds the account to the provider's subject
(SsoIdentity); later ones find it by subject, whatever the email says then.
Local addresses are never verified, so an existing account is bound by email
alone only when it has no password and no staff rights; otherwise its password
is asked once first (LinkNeedsPassword, sso_link.py).

A refusal is kept on the request (`request.sso_refusal`) for the callback page,
which shows it; it is also written to the audit log.
"""

import logging
import re

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import SuspiciousOperation
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from conversations import audit, sso_discovery
from conversations.models import AuditEntry, SsoIdentity
from conversations.refusals import Refused
from conversations.sso_discovery import ProviderUnavailable

logger = logging.getLogger(__name__)
# Leeway for the provider's clock against ours, in seconds.
CLOCK_SKEW = 60
USERNAME_UNSAFE = re.compile(r"[^\w.@+-]")


class SsoRefused(Refused):
    status = 403


def _stale_sign_in() -> SsoRefused:
    return SsoRefused("sso_conflict", _("Another sign-in got there first. Please sign in again."))


def refuse_unverifiable() -> SsoRefused:
    return SsoRefused(
        "sso_invalid_token", _("The sign-in provider's answer could not be verified.")
    )


def _linked_elsewhere() -> SsoRefused:
    return SsoRefused(
        "sso_linked_elsewhere",
        _("This account belongs to another person at the sign-in provider. Ask an administrator."),
    )


def _disabled() -> SsoRefused:
    return SsoRefused("sso_account_disabled", _("This account is disabled."))


class LinkNeedsPassword(Exception):
    """The person's first single sign-on found their address on an account that
    has a password or staff rights: anyone may have registered that address, so
    the account's password must be given once before the two are bound.

    Not a refusal: it passes through Django's authenticate() (so it counts as no
    failed sign-in) to the callback view, which keeps it in the session and
    asks for the password (sso_link.py).
    """

    def __init__(self, *, user_id: int, issuer: str, subject: str, claims: dict) -> None:
        super().__init__("the account's password is needed to link it")
        self.user_id = user_id
        self.issuer = issuer
        self.subject = subject
        self.claims = claims


class SsoBackend(OIDCAuthenticationBackend):
    """Signs in from the provider's verified answer; never from a password."""

    def __init__(self, *args, **kwargs) -> None:
        # Not the parent's: it reads every endpoint at once, and Django makes a
        # backend for every password sign-in too, which must not need the provider.
        self.UserModel = get_user_model()
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:  # the parent's name
        return sso_discovery.endpoint("OIDC_OP_TOKEN_ENDPOINT")

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str:
        return sso_discovery.endpoint("OIDC_OP_USER_ENDPOINT")

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:
        return sso_discovery.endpoint("OIDC_OP_JWKS_ENDPOINT")

    def authenticate(self, request, **kwargs):
        # Only the callback passes a nonce; a password sign-in never reaches the provider.
        if request is None or "nonce" not in kwargs:
            return None
        try:
            return super().authenticate(request, **kwargs)
        except SsoRefused as refused:
            return self._refused(request, refused)
        except (SuspiciousOperation, jwt.InvalidTokenError) as error:
            logger.warning("Single sign-on refused: %s", error)
            return self._refused(request, refuse_unverifiable())
        except ProviderUnavailable as refused:
            return self._refused(request, refused)
        except IntegrityError:  # the same person's first sign-in, twice at once
            return self._refused(request, _stale_sign_in())
        except requests.RequestException as error:
            logger.warning("Single sign-on: the provider failed: %s", error)
            return self._refused(request, provider_failure(error))

    def retrieve_matching_jwk(self, token):
        # The parent reads the provider's key set without checking its shape: a set
        # without "keys", a key without "kid", or a key PyJWT cannot load must
        # refuse the token like a bad signature, not fail the request.
        try:
            return super().retrieve_matching_jwk(token)
        except (KeyError, TypeError, ValueError, jwt.PyJWTError) as error:
            logger.warning("Single sign-on: unusable key set from the provider: %r", error)
            raise refuse_unverifiable() from error

    def _refused(self, request, refused: Refused) -> None:
        request.sso_refusal = refused
        details = {"op": "sso", "issuer": settings.OIDC_ISSUER, "reason": refused.code}
        audit.append(AuditEntry.Action.REFUSED, details=details)

    def get_payload_data(self, token, key) -> dict:
        """The ID token's claims, once its signature, issuer, audience and times hold."""
        payload = jwt.decode(
            token,
            key,
            algorithms=[self.OIDC_RP_SIGN_ALGO],
            audience=self.OIDC_RP_CLIENT_ID,
            issuer=settings.OIDC_ISSUER,
            leeway=CLOCK_SKEW,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
        # With several audiences, the token must have been issued to us (OIDC Core 3.1.3.7).
        several = isinstance(payload["aud"], list) and len(payload["aud"]) > 1
        if several and payload.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise refuse_unverifiable()
        return payload

    def get_or_create_user(self, access_token, id_token, payload):
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if userinfo.get("sub") != payload.get("sub"):  # OIDC Core 5.3.2: the same person
            raise refuse_unverifiable()
        # Some providers put a claim (often the groups) in the ID token only.
        claims = {**payload, **userinfo}
        email = verified_email(claims)
        with transaction.atomic():
            user, created = self._bound_user(str(payload["sub"]), email, claims)
            record_sign_in(user=user, claims=claims, details={"op": "sso", "created": created})
        return user

    def _bound_user(self, subject: str, email: str, claims: dict):
        """The account bound to this person at the provider; at their first
        single sign-on, the one with their verified email (bound from then on,
        once its password was given if it has one), or a new one."""
        issuer = settings.OIDC_ISSUER
        bound = SsoIdentity.objects.filter(issuer=issuer, subject=subject).first()
        if bound is not None:
            user, created = bound.user, False
        else:
            user, created = self._linked_or_new_user(email, claims)
            if not created and not links_by_email(user):
                refuse_unlinkable(user)
                raise LinkNeedsPassword(
                    user_id=user.pk, issuer=issuer, subject=subject, claims=claims
                )
            bind_identity(user=user, issuer=issuer, subject=subject)
        if not self.user_can_authenticate(user):
            raise _disabled()
        return user, created

    def _linked_or_new_user(self, email: str, claims: dict):
        users = list(self.UserModel.objects.filter(email__iexact=email)[:2])
        if len(users) > 1:
            raise SsoRefused(
                "sso_email_ambiguous",
                _("More than one account has this email address. Ask an administrator."),
            )
        if users:
            user, created = users[0], False
        elif settings.OIDC_CREATE_USERS:
            user, created = create_user_from(claims, email=email), True
        else:
            raise SsoRefused(
                "sso_no_account",
                _("There is no chatsite account for %(email)s. Ask an administrator.")
                % {"email": email},
            )
        return user, created

    def get_user(self, user_id):
        """The signed-in user on each request; None once the account is disabled."""
        user = super().get_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


def links_by_email(user) -> bool:
    """Whether a verified address alone may bind this existing account. Local
    addresses are never verified (open sign-up takes any), so an account with a
    password may be an impostor's, made under someone else's address; and staff
    rights are never handed over without the account's own password."""
    return not (user.has_usable_password() or user.is_staff or user.is_superuser)


def refuse_unlinkable(user) -> None:
    """Refuse now what the password step could not fix."""
    if SsoIdentity.objects.filter(user=user, issuer=settings.OIDC_ISSUER).exists():
        raise _linked_elsewhere()
    if not user.is_active:
        raise _disabled()
    if not user.has_usable_password():  # staff without a password: nothing to give
        raise SsoRefused(
            "sso_link_needs_password",
            _(
                "This account has staff rights and no password, so it cannot be linked "
                "to your sign-in. Ask an administrator to set a password for it, then "
                "sign in again."
            ),
        )


def bind_identity(*, user, issuer: str, subject: str) -> None:
    """Bind the account to the person at the provider, for good."""
    if SsoIdentity.objects.filter(user=user, issuer=issuer).exists():
        raise _linked_elsewhere()
    SsoIdentity.objects.create(user=user, issuer=issuer, subject=subject)


def record_sign_in(*, user, claims: dict, details: dict) -> None:
    """Sync the person's teams and write the sign-in to the audit log."""
    teams = sync_teams(user=user, claims=claims)
    entry = {**details, "issuer": settings.OIDC_ISSUER, "groups": teams}
    audit.append(AuditEntry.Action.SIGN_IN, actor=user, details=entry)


def provider_failure(error: requests.RequestException) -> Refused:
    """A provider that answered "no" (4xx: a used or expired code...) refused this
    sign-in; one that did not answer, or failed, is unavailable."""
    reply = getattr(error, "response", None)
    if reply is not None and 400 <= reply.status_code < 500:
        return SsoRefused("sso_provider_refused", _("The sign-in provider did not sign you in."))
    return ProviderUnavailable()


def verified_email(claims: dict) -> str:
    email = claims.get("email")
    # Some providers send the flag as a string.
    verified = claims.get("email_verified") in (True, "true")
    if not isinstance(email, str) or "@" not in email or not verified:
        raise SsoRefused(
            "sso_email_unverified",
            _(
                "Your sign-in provider did not confirm your email address, so chatsite "
                "cannot sign you in with it. Confirm it with the provider, or ask an "
                "administrator."
            ),
        )
    return email.strip()


def create_user_from(claims: dict, *, email: str):
    """A new account without a password: it signs in through the provider only."""
    User = get_user_model()
    username = free_username(claims.get("preferred_username") or email.split("@")[0])
    name = claims.get("name") if isinstance(claims.get("name"), str) else ""
    user = User(username=username, email=email, first_name=name[:150])
    user.set_unusable_password()
    user.save()
    return user


def free_username(wanted) -> str:
    User = get_user_model()
    base = USERNAME_UNSAFE.sub("", str(wanted))[:140] or "user"
    candidate, number = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        number += 1
        candidate = f"{base}{number}"
    return candidate


def claimed_groups(claims: dict) -> set[str] | None:
    """The group names in the claim; None when the provider sent no such claim."""
    value = claims.get(settings.OIDC_GROUPS_CLAIM)
    if value is None:
        return None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list):
        return set()
    # Keycloak sends full paths ("/research") unless told otherwise.
    return {name.strip("/") for name in names if isinstance(name, str)}


def managed_teams():
    """The teams whose membership the provider decides: those of OIDC_TEAMS ("*" is
    all; none by default), except any group that carries a permission. Those are
    roles staff hand out (e.g. reviewers); a claim must never grant or strip them."""
    if "*" in settings.OIDC_TEAMS:
        named = Group.objects.all()
    else:
        named = Group.objects.filter(name__in=settings.OIDC_TEAMS)
    return named.filter(permissions__isnull=True)


def sync_teams(*, user, claims: dict) -> list[str]:
    """Join the managed teams named in the claim, leave the managed ones it omits.

    Names of no existing team are ignored (teams are made by staff, not by the
    provider); teams outside OIDC_TEAMS, and teams with permissions, are left
    alone. Returns the user's managed teams afterwards.
    """
    wanted = claimed_groups(claims)
    managed = managed_teams()
    if wanted is not None:
        user.groups.add(*managed.filter(name__in=wanted))
        user.groups.remove(*user.groups.filter(pk__in=managed).exclude(name__in=wanted))
    return sorted(user.groups.filter(pk__in=managed).values_list("name", flat=True))
