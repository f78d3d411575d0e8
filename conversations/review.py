"""History review: who may read someone else's conversation, and the audit trail.

Three things must all allow it: the reader holds the ``review_conversation``
permission (``export_conversation`` for exports), the site-wide policy staff
set in the admin opens the conversation (off: none; flagged: those flagged
for review; full: any), and the look is written to the append-only audit log
first, with the reason the reader gave (no reason, no text). Refusals are
written too. When the site setting says so, the entry is marked for the
owner to be told (``conversations.readings``). People's own conversations need none of
this. Metadata (owner, title, counts, tokens, cost) is not text and is shown
to staff with the plain "view conversation" permission under every policy.
"""

import uuid
from collections.abc import Iterable
from typing import NamedTuple

from django.db.models import Q
from django.utils.translation import gettext as _

from conversations import audit
from conversations.models import AuditEntry, Conversation, SiteSettings

Policy = SiteSettings.ReviewPolicy
Action = AuditEntry.Action
REVIEW_PERMISSION = "conversations.review_conversation"
EXPORT_PERMISSION = "conversations.export_conversation"


class Decision(NamedTuple):
    allowed: bool
    reason: str  # own | policy | no_permission | policy_off | not_flagged

    @property
    def message(self) -> str:
        return {
            "no_permission": _(
                "You do not have the permission to read other people's conversations."
            ),
            "policy_off": _("The review policy is off: nobody reads other people's conversations."),
            "not_flagged": _(
                "The review policy allows reading only conversations flagged for review, "
                "and this one is not flagged."
            ),
        }.get(self.reason, "")


def current_policy() -> str:
    return SiteSettings.cached().review_policy


def policy_summary() -> str:
    """One sentence telling users who can read their conversations."""
    policy = current_policy()
    if policy == Policy.FULL:
        return _(
            "History review is on: staff with review permission can read your conversations. "
            "Every reading is recorded in an audit log."
        )
    if policy == Policy.FLAGGED:
        return _(
            "History review covers flagged conversations only: staff with review permission "
            "can read a conversation of yours only when it is flagged for review. "
            "Every reading is recorded in an audit log."
        )
    return _(
        "History review is off: staff cannot read your conversations. Administrators see "
        "only titles, sizes, token counts and costs."
    )


def flagging_note() -> str:
    """What a flag does under the policy in force, for staff flagging a conversation."""
    policy = current_policy()
    if policy == Policy.FULL:
        return _(
            "Under the “full” policy, reviewers can read every conversation, flagged or not; "
            "a flag marks the ones to look at. Flagging and unflagging are written to the "
            "audit log."
        )
    if policy == Policy.FLAGGED:
        return _(
            "Under the “flagged only” policy, reviewers can read flagged conversations. "
            "Flagging and unflagging are written to the audit log."
        )
    return _(
        "The history-review policy is off: no one can read other people's conversations, "
        "flagged or not. A flag opens a conversation to reviewers only if the policy "
        "becomes “flagged only”. Flagging and unflagging are written to the audit log."
    )


def decide(user, conversation: Conversation, policy: str, permission: str) -> Decision:
    if conversation.owner_id == user.pk:
        return Decision(True, "own")
    if not user.has_perm(permission):
        return Decision(False, "no_permission")
    if policy == Policy.FULL or (policy == Policy.FLAGGED and conversation.flagged):
        return Decision(True, "policy")
    return Decision(False, "not_flagged" if policy == Policy.FLAGGED else "policy_off")


def open_transcript(user, conversation: Conversation) -> Decision:
    """May ``user`` read this transcript? A refusal is recorded here; an allowed
    reading of someone else's is recorded by ``record_reading``, once its reason is given."""
    policy = current_policy()
    decision = decide(user, conversation, policy, REVIEW_PERMISSION)
    if not decision.allowed:
        _record(user, Action.REFUSED, policy, conversation, {"reason": decision.reason})
    return decision


def record_reading(user, conversation: Conversation, *, purpose: str) -> None:
    """Someone else's transcript is about to be shown: who, why, and whether the owner is told."""
    details = {"reason": "policy", "purpose": purpose, **_telling()}
    _record(user, Action.VIEW_CONVERSATION, current_policy(), conversation, details)


def _telling() -> dict:
    """Marks a reading the owner is to be told of (the site setting at the time of reading)."""
    return {"tell_owner": True} if SiteSettings.cached().tell_owners_of_readings else {}


def readable_text_scope(user, policy: str) -> Q:
    """Conversations whose message text ``user`` may search: own, plus the policy's."""
    own = Q(owner=user)
    if not user.has_perm(REVIEW_PERMISSION) or policy == Policy.OFF:
        return own
    if policy == Policy.FLAGGED:
        return own | Q(flagged=True)
    return Q()


def record_search(user, term: str, policy: str) -> None:
    """Searching other people's text reveals it too, so it is recorded."""
    if user.has_perm(REVIEW_PERMISSION) and policy != Policy.OFF:
        _record(user, Action.SEARCH, policy, None, {"query": term[:500]})


def refused_exports(user, conversations, policy: str) -> int:
    """How many of the chosen conversations ``user`` may not export (0: go ahead)."""
    others = conversations.exclude(owner=user)
    if not user.has_perm(EXPORT_PERMISSION):
        return others.count()
    return others.exclude(pk__in=Conversation.objects.under_review_policy(policy)).count()


def record_export(
    user,
    conversations: Iterable[Conversation],
    *,
    policy: str,
    export_format: str,
    export_id: str,
    purpose: str = "",
) -> None:
    """One row per exported conversation of someone else, before its text is sent."""
    details = {"format": export_format, "export": export_id, "purpose": purpose, **_telling()}
    audit.append_many(
        audit.Entry(Action.EXPORT, user, conversation, policy, details)
        for conversation in conversations
        if conversation.owner_id != user.pk
    )


def new_export_id() -> str:
    return uuid.uuid4().hex


def record_policy_change(user, old: str, new: str) -> None:
    _record(user, Action.POLICY, new, None, {"from": old, "to": new})


def record_telling_change(user, tell: bool) -> None:
    details = {"op": "tell_owners_of_readings", "from": not tell, "to": tell}
    _record(user, Action.POLICY, current_policy(), None, details)


def _record(user, action: str, policy: str, conversation, details: dict) -> None:
    audit.append(action, actor=user, conversation=conversation, policy=policy, details=details)
