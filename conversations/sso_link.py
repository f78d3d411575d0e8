"""Linking a person's first single sign-on to an existing account with a password.

The provider vouches for the person's address, but chatsite never verified the
addresses of its own accounts: anyone could have registered alice@corp.com
with a password of their choosing before Alice's first single sign-on. So an
account with a usable password (and any staff account) is bound only once its
password is given: the provider's answer waits in the session (issuer, subject,
the verified claims, the account) for PENDING_SECONDS, the linking page asks
for the password, and only then is the account bound and signed in.

The password goes through django.contrib.auth.authenticate(), so the lockout of
lockout.py applies: a wrong one counts as a failed sign-in for the account and
the address, and while either is locked out no password is tried (AxesMiddleware
answers 429).
"""

import time

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from conversations import audit
from conversations.models import AuditEntry
from conversations.sso import LinkNeedsPassword, SsoRefused, bind_identity, record_sign_in

PENDING_KEY = "sso_pending_link"
PENDING_SECONDS = 600
SSO_BACKEND = "conversations.sso.SsoBackend"


def stale_link() -> SsoRefused:
    return SsoRefused(
        "sso_link_stale",
        _("This account link has expired or was already used. Please sign in again."),
    )


def keep_pending(request: HttpRequest, needed: LinkNeedsPassword, *, next_url: str) -> None:
    request.session[PENDING_KEY] = {
        "user": needed.user_id,
        "issuer": needed.issuer,
        "subject": needed.subject,
        "claims": needed.claims,
        "next": next_url,
        "until": time.time() + PENDING_SECONDS,
    }


def pending(request: HttpRequest) -> dict | None:
    """The link waiting for a password, while it is fresh and for today's provider."""
    found = request.session.get(PENDING_KEY)
    if not isinstance(found, dict) or found.get("until", 0) < time.time():
        return None
    return found if found.get("issuer") == settings.OIDC_ISSUER else None


def account(found: dict):
    """The account to link, unless it was disabled or deleted meanwhile."""
    return get_user_model().objects.filter(pk=found["user"], is_active=True).first()


def password_is_right(request: HttpRequest, *, user, password: str) -> bool:
    """The account's password, through every authentication backend (so through
    the lockout); a wrong one is a failed sign-in of that account."""
    found = auth.authenticate(request, username=user.get_username(), password=password)
    if found is not None and found.pk == user.pk:
        return True
    details = {"op": "link", "issuer": settings.OIDC_ISSUER, "reason": "sso_link_wrong_password"}
    audit.append(AuditEntry.Action.REFUSED, details=details)
    return False


def link(request: HttpRequest, *, user, found: dict) -> None:
    """Bind the account to the person at the provider, and sign them in as a
    single sign-on (so their session is checked with the provider from now on)."""
    try:
        with transaction.atomic():
            bind_identity(user=user, issuer=found["issuer"], subject=found["subject"])
            details = {"op": "link", "created": False, "subject": found["subject"]}
            record_sign_in(user=user, claims=found["claims"], details=details)
    except IntegrityError as error:  # the same person linked in another tab meanwhile
        raise stale_link() from error
    finally:
        request.session.pop(PENDING_KEY, None)
    auth.login(request, user, backend=SSO_BACKEND)
    expiry = time.time() + settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS
    request.session["oidc_id_token_expiration"] = expiry
