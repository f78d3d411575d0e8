"""Single-use sign-up invitations: a token is shown once; only its hash is kept.

Issued by staff in the admin (or in code); spent by the sign-up view.
"""

import secrets
from datetime import timedelta

from django.utils import timezone

from conversations.models import Invitation
from conversations.models.accounts import hash_token

INVITATION_DAYS = 7


def issue(invitation: Invitation, *, created_by, days: int = INVITATION_DAYS) -> str:
    """Give an unsaved invitation its token (returned) and expiry; only the hash is kept."""
    token = secrets.token_urlsafe(24)
    invitation.token_hash = hash_token(token)
    invitation.created_by = created_by
    invitation.expires_at = timezone.now() + timedelta(days=days)
    return token


def create_invitation(*, created_by, email: str = "", teams=(), days: int = INVITATION_DAYS):
    invitation = Invitation(email=email)
    token = issue(invitation, created_by=created_by, days=days)
    invitation.save()
    invitation.teams.set(teams)
    return invitation, token
