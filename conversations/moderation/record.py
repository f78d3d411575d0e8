"""What a moderation verdict changes in the database, one transaction each.

A flag set here is the system's: no person set it (``flagged_by`` empty,
``flag_source`` "moderation"), so, as for staff's flags (conversations.flags),
the owner cannot clear it; a flag staff set stays theirs. Every flag is
audited as a FLAG entry with no actor and ``by: "moderation"``.
"""

from django.db import transaction
from django.utils import timezone

from conversations import audit, tokens
from conversations.llm.moderation import ModerationResult
from conversations.models import (
    AuditEntry,
    Conversation,
    Message,
    ModelConfig,
    SiteSettings,
    UsageDaily,
)
from conversations.moderation.policy import Check

SOURCE = "moderation"


@transaction.atomic
def refuse(*, check: Check, result: ModerationResult) -> dict:
    """The question was flagged: kept `moderated` with its categories; returns its dict."""
    verdict = _verdict(check, result)
    Message.objects.filter(pk=check.question_id).update(
        status=Message.Status.MODERATED, moderation=verdict
    )
    reason = "moderation: " + (", ".join(result.categories) or "flagged")
    _flag(check, reason=reason, details={"message_id": str(check.question_id), **verdict})
    _charge(check, check.text)
    return _dict(check.question_id)


@transaction.atomic
def passed(*, check: Check, text: str) -> dict | None:
    """The check let the text through; a question it once refused (asked again by a
    regenerate) is `sent` again, and its dict returned for the tabs."""
    _charge(check, text)
    refused = Message.objects.filter(pk=check.question_id, status=Message.Status.MODERATED)
    if not refused.update(status=Message.Status.SENT, moderation={}):
        return None
    return _dict(check.question_id)


@transaction.atomic
def charge(*, check: Check, text: str) -> None:
    _charge(check, text)


def conversation_dict(conversation_id) -> dict:
    """The flagged conversation as the tabs see it (a `conversation` frame)."""
    return Conversation.objects.select_related("persona").get(pk=conversation_id).to_dict()


def _dict(message_id) -> dict:
    return Message.objects.filter(pk=message_id).as_dicts()[0]


@transaction.atomic
def unchecked(*, check: Check, code: str) -> None:
    """The check failed and the site fails open: the question went out, flagged unchecked."""
    verdict = {"flagged": False, "unchecked": True, "error": code, "model": check.model_name}
    Message.objects.filter(pk=check.question_id).update(moderation=verdict)
    details = {"message_id": str(check.question_id), **verdict}
    _flag(check, reason="moderation: unchecked", details=details)


@transaction.atomic
def answer_flagged(*, check: Check, answer_id: str, text: str, result: ModerationResult) -> None:
    """A finished answer was flagged: it stays as it is, its conversation is flagged."""
    verdict = _verdict(check, result) | {"answer": True}
    Message.objects.filter(pk=answer_id).update(moderation=verdict)
    reason = "moderation of an answer: " + (", ".join(result.categories) or "flagged")
    _flag(check, reason=reason, details={"message_id": answer_id, **verdict})
    _charge(check, text)


def _verdict(check: Check, result: ModerationResult) -> dict:
    return {
        "flagged": result.flagged,
        "categories": result.categories,
        "scores": {name: round(score, 6) for name, score in result.scores.items()},
        "model": check.model_name,
    }


def _flag(check: Check, *, reason: str, details: dict) -> None:
    conversation = Conversation.objects.select_for_update().select_related("owner")
    conversation = conversation.get(pk=check.conversation_id)
    was = conversation.flagged
    staffs = was and conversation.flagged_by_staff and conversation.system_flag != SOURCE
    if not staffs:  # a flag staff set stays theirs, with their reason
        conversation.flagged, conversation.flag_reason = True, reason[:500]
        conversation.flagged_by, conversation.flagged_at = None, timezone.now()
        conversation.flag_source = SOURCE
        fields = ["flagged", "flag_reason", "flagged_by", "flagged_at", "flag_source"]
        conversation.save(update_fields=fields)
    policy = SiteSettings.cached().review_policy
    entry = {"op": "flag", "by": SOURCE, "from": was, "to": True, "reason": reason[:500]}
    audit.append(
        AuditEntry.Action.FLAG, actor=None, conversation=conversation, policy=policy,
        details=entry | details,
    )  # fmt: skip


def _charge(check: Check, text: str) -> None:
    """One moderation request on the owner's ledger (the endpoint reports no usage: counted)."""
    model = ModelConfig.objects.filter(
        provider_id=check.provider_id, model_id=check.model_name
    ).first()
    UsageDaily.objects.charge(
        user_id=check.owner_id,
        model=model,
        model_name=check.model_name,
        prompt=tokens.count_text(text, check.model_name).tokens,
        completion=0,
        estimated=True,
        purpose=UsageDaily.Purpose.MODERATION,
    )
