"""Flags for review: who may set and clear them, and the audit row for each change.

An owner may flag their own conversation and clear their own flag. A flag
staff set stays until staff clear it (in the admin): under the "flagged only"
policy a flag is what opens a conversation to reviewers, so an owner who could
clear it could close a review. Every change, and every refused attempt, is
written to the audit log with who, the old and the new value and the reason.
"""

from django.utils import timezone
from django.utils.translation import gettext as _

from conversations import audit
from conversations.models import AuditEntry, Conversation, SiteSettings
from conversations.refusals import Refused

Action = AuditEntry.Action


class FlaggedByStaff(Refused):
    status = 403

    def __init__(self) -> None:
        super().__init__(
            "flagged_by_staff",
            _(
                "Staff flagged this conversation for review; only staff can remove the flag. "
                "The attempt was recorded."
            ),
        )


class FlaggedByStaffDelete(Refused):
    status = 403

    def __init__(self) -> None:
        super().__init__(
            "flagged_by_staff",
            _(
                "Staff flagged this conversation for review; it cannot be deleted until staff "
                "remove the flag. The attempt was recorded."
            ),
        )


def check_owner_delete(*, conversation: Conversation, owner) -> None:
    """Deleting would end a review as surely as unflagging: refuse it (and record it)
    while staff's flag stands. Call it outside the transaction, so the record stays."""
    if conversation.flagged and conversation.flagged_by_staff:
        details = {**_refusal_details(conversation), "op": "delete"}
        _record(owner, Action.REFUSED, conversation, details)
        raise FlaggedByStaffDelete()


def check_owner_change(*, conversation: Conversation, owner, flagged: bool) -> None:
    """Refuse (and record) an owner clearing a staff flag. Call it outside the
    transaction that saves the change, so the refusal's audit row stays."""
    if conversation.flagged and not flagged and conversation.flagged_by_staff:
        _record(owner, Action.REFUSED, conversation, _refusal_details(conversation))
        raise FlaggedByStaff()


def change_by_owner(*, conversation: Conversation, owner, flagged: bool) -> None:
    """The owner's own flag, set or cleared (saved by the caller); a staff flag stays."""
    check_owner_change(conversation=conversation, owner=owner, flagged=flagged)
    if flagged == conversation.flagged:
        return
    details = _details(conversation.flagged, flagged, reason="", by="owner")
    _apply(conversation, flagged=flagged, actor=owner, reason="")
    _record(owner, Action.FLAG, conversation, details)


def change_by_staff(*, conversation: Conversation, staff, was_flagged: bool) -> None:
    """After the admin form set ``flagged``/``flag_reason`` (before saving): the flag
    becomes staff's, and the change is recorded."""
    reason = conversation.flag_reason
    details = _details(was_flagged, conversation.flagged, reason=reason, by="staff")
    if conversation.flagged:
        conversation.flagged_by, conversation.flagged_at = staff, timezone.now()
    else:
        conversation.flagged_by, conversation.flagged_at = None, None
    _record(staff, Action.FLAG, conversation, details)


def _apply(conversation: Conversation, *, flagged: bool, actor, reason: str) -> None:
    conversation.flagged = flagged
    conversation.flag_reason = reason
    conversation.flagged_by = actor if flagged else None
    conversation.flagged_at = timezone.now() if flagged else None


def _details(was: bool, flagged: bool, *, reason: str, by: str) -> dict:
    # "flagged" and "reason" keep the shape earlier flag entries had.
    return {
        "op": _op(was, flagged),
        "flagged": flagged,
        "from": was,
        "to": flagged,
        "by": by,
        "reason": reason[:500],
    }


def _refusal_details(conversation: Conversation) -> dict:
    flagged_by = conversation.flagged_by
    return {
        "op": "unflag",
        "reason": "flagged_by_staff",
        "flagged_by": flagged_by.get_username() if flagged_by else "",
        "flag_reason": conversation.flag_reason[:500],
    }


def _op(was: bool, now: bool) -> str:
    if was == now:
        return "reason" if now else "none"
    return "flag" if now else "unflag"


def _record(actor, action: str, conversation: Conversation, details: dict) -> None:
    policy = SiteSettings.cached().review_policy
    audit.append(action, actor=actor, conversation=conversation, policy=policy, details=details)
