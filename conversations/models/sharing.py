"""Read-only shares of a conversation: with one of the owner's teams, or by link."""

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conversations.ids import uuid7

TOKEN_BYTES = 32  # 256 bits: far beyond guessing


def new_share_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_share_token(token: str) -> str:
    """Only the hash is stored: a copy of the database opens no shared link."""
    return hashlib.sha256(token.encode()).hexdigest()


class ShareQuerySet(models.QuerySet):
    def for_member(self, user) -> "ShareQuerySet":
        """Team shares whose team the user belongs to (an owner who left the
        team no longer shares with it: the team must still be theirs)."""
        teams = user.groups.all()
        return self.filter(team__in=teams, conversation__owner__groups=models.F("team"))


class Share(models.Model):
    """One way a conversation is shown read-only to people other than its owner."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="shares"
    )
    team = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE)
    token_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)

    objects = ShareQuerySet.as_manager()

    class Meta:
        verbose_name = _("share")
        verbose_name_plural = _("shares")
        constraints = [
            models.CheckConstraint(
                condition=Q(team__isnull=False, token_hash__isnull=True)
                | Q(team__isnull=True, token_hash__isnull=False),
                name="share_is_team_or_link",
            ),
            models.UniqueConstraint(
                fields=["conversation", "team"],
                condition=Q(team__isnull=False),
                name="unique_share_per_team",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id} → {self.team or 'link'}"
