"""Telling owners who read their conversations under the review policy.

When the site setting is on at the time of a reading, its audit entry is
marked ``tell_owner``. The owner's next chat page lists the marked readings
they have not dismissed yet: who, which conversation, when, and the reason
given. Dismissing stores the newest entry shown, so each reading is shown
until dismissed once, and one that arrives meanwhile is not dismissed unseen.
"""

from dataclasses import dataclass
from datetime import datetime

from conversations.models import AuditEntry, Conversation, Profile

Action = AuditEntry.Action
NOTICE_ROWS_MAX = 50  # more are counted, not listed


@dataclass(frozen=True)
class Reading:
    entry_id: int
    reader: str
    conversation_id: str
    title: str
    when: datetime
    purpose: str
    exported: bool


@dataclass(frozen=True)
class Notice:
    readings: list[Reading]
    more: int  # not listed, still to be shown after the dismissal
    through: int  # the newest entry listed: what a dismissal marks as seen


def notice_for(user) -> Notice | None:
    """The readings ``user`` has not dismissed, or None when there are none."""
    entries = list(_unseen(user).order_by("pk")[: NOTICE_ROWS_MAX + 1])
    if not entries:
        return None
    shown = entries[:NOTICE_ROWS_MAX]
    titles = _titles(user, {e.conversation_id for e in shown})
    readings = [_reading(entry, titles) for entry in shown]
    more = _unseen(user).filter(pk__gt=shown[-1].pk).count() if len(entries) > len(shown) else 0
    return Notice(readings, more, shown[-1].pk)


def dismiss(*, user, through: int) -> None:
    """Mark the readings up to entry ``through`` as seen; never moves backwards."""
    profile = Profile.for_user(user)
    if through > profile.readings_seen_through:
        profile.readings_seen_through = through
        profile.save(update_fields=["readings_seen_through"])


def _unseen(user):
    # By the conversations the user owns now: a reading is told to its owner only.
    seen = Profile.for_user(user).readings_seen_through
    return AuditEntry.objects.filter(
        action__in=[Action.VIEW_CONVERSATION, Action.EXPORT],
        details__tell_owner=True,
        conversation_id__in=Conversation.objects.filter(owner=user).values("pk"),
        pk__gt=seen,
    ).exclude(actor=user)


def _titles(user, ids: set) -> dict:
    rows = Conversation.objects.filter(owner=user, pk__in=ids).values_list("pk", "title")
    return dict(rows)


def _reading(entry: AuditEntry, titles: dict) -> Reading:
    return Reading(
        entry_id=entry.pk,
        reader=entry.actor_username,
        conversation_id=str(entry.conversation_id),
        title=titles.get(entry.conversation_id, ""),
        when=entry.created,
        purpose=str(entry.details.get("purpose", "")),
        exported=entry.action == Action.EXPORT,
    )
