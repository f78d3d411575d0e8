"""The end of a turn, database side: one transaction for the final state and the bill.

Each choice's final text, exactly one terminal status and its usage (exact
from the provider, else counted and flagged as estimated), then the ledger.
"""

from uuid import UUID

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from conversations import tokens
from conversations.models import Conversation, Message, ModelConfig, UsageDaily
from conversations.turn.plan import (
    ERROR_MESSAGE_MAX,
    Outcome,
    ReportedUsage,
    TurnPlan,
    message_dicts,
)


@transaction.atomic
def finish_turn(
    *, plan: TurnPlan, outcomes: list[Outcome], usage: ReportedUsage | None
) -> list[dict]:
    """Store each choice's final state and charge the ledger, in one transaction."""
    model = ModelConfig.objects.filter(pk=plan.model_config_id).first()
    completion_total = 0
    for outcome in outcomes:
        completion_total += _store_outcome(plan, outcome, usage)
    _cache_counts(plan.uncached_counts)
    prompt = usage.prompt_tokens if usage else plan.prompt_tokens
    completion = usage.completion_tokens if usage else completion_total
    if usage or completion:
        UsageDaily.objects.charge(
            user_id=plan.owner_id,
            model=model,
            model_name=plan.model_name,
            prompt=prompt,
            completion=completion,
            estimated=usage is None,
        )
    Conversation.objects.filter(pk=plan.conversation_id).update(updated=timezone.now())
    return message_dicts([o.message_id for o in outcomes])


def _store_outcome(plan: TurnPlan, outcome: Outcome, usage: ReportedUsage | None) -> int:
    """Write one choice; returns its completion tokens (counted when not reported)."""
    own = tokens.count_text(outcome.content, plan.model_name)
    prefix = _prefix(plan, outcome.message_id)
    completion = own.tokens  # counting is the costly part of the end of a turn: once
    if prefix:
        completion = tokens.count_text(outcome.content[len(prefix) :], plan.model_name).tokens
    exact = usage is not None and len(plan.choices) == 1
    if exact:
        completion = usage.completion_tokens
    prompt = usage.prompt_tokens if usage else plan.prompt_tokens
    Message.objects.filter(pk=outcome.message_id).update(
        content=outcome.content,
        status=outcome.status,
        finish_reason=outcome.finish_reason,
        error_code=outcome.error_code,
        error_message=outcome.error_message[:ERROR_MESSAGE_MAX],
        prompt_tokens=_accumulate(plan, "prompt_tokens", prompt),
        completion_tokens=_accumulate(plan, "completion_tokens", completion),
        usage_estimated=not exact,
        ttft_ms=outcome.ttft_ms,
        content_tokens=own.tokens,
        content_tokens_encoding=own.encoding,
        stream_seq=outcome.seq,
        worker="",
        heartbeat=None,
    )
    return completion


def _prefix(plan: TurnPlan, message_id: UUID) -> str:
    return next((c.prefix for c in plan.choices if c.message_id == message_id), "")


def _accumulate(plan: TurnPlan, column: str, value: int):
    # A continuation adds to what the first part of the answer already used.
    return F(column) + value if plan.continuing else value


def _cache_counts(counts: dict[UUID, tuple[int, str]]) -> None:
    for message_id, (count, encoding) in counts.items():
        Message.objects.filter(pk=message_id).update(
            content_tokens=count, content_tokens_encoding=encoding
        )
