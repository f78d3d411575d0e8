"""The end of a turn, database side: one transaction for the final state and the bill.

Each choice's final text and reasoning, exactly one terminal status and its
usage (exact from the provider, else counted and flagged as estimated), then
the ledger. Reasoning tokens are part of the completion tokens, as providers
report them: they are recorded apart, never charged twice.
"""

from uuid import UUID

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from conversations import budgets, tokens
from conversations.models import Conversation, Message, ModelConfig, UsageDaily
from conversations.turn.plan import (
    ERROR_MESSAGE_MAX,
    Choice,
    Outcome,
    ReportedUsage,
    TurnPlan,
    message_dicts,
)

# Ends that come before the upstream call (conversations.moderation).
NOTHING_SENT = frozenset({"moderated", "moderation_unavailable"})


@transaction.atomic
def finish_turn(
    *, plan: TurnPlan, outcomes: list[Outcome], usage: ReportedUsage | None
) -> list[dict]:
    """Store each choice's final state and charge the ledger, in one transaction."""
    model = ModelConfig.objects.filter(pk=plan.model_config_id).first()
    completion_total = reasoning_total = 0
    for outcome in outcomes:
        completion, reasoning = _store_outcome(plan, outcome, usage)
        completion_total += completion
        reasoning_total += reasoning or 0
    _cache_counts(plan.uncached_counts)
    if model is not None and any(o.error_code == "n_unsupported" for o in outcomes):
        ModelConfig.objects.filter(pk=model.pk).update(supports_n=False)
    prompt = usage.prompt_tokens if usage else plan.prompt_tokens
    completion = usage.completion_tokens if usage else completion_total
    if usage and usage.reasoning_tokens is not None:
        reasoning_total = usage.reasoning_tokens
    if usage or completion:
        UsageDaily.objects.charge(
            user_id=plan.owner_id,
            model=model,
            model_name=plan.model_name,
            prompt=prompt,
            completion=completion,
            reasoning=min(reasoning_total, completion),
            estimated=usage is None,
        )
    # The reservation made at the start gives way to the real usage, in this transaction.
    budgets.settle(first_answer_id=plan.choices[0].message_id)
    Conversation.objects.filter(pk=plan.conversation_id).update(updated=timezone.now())
    return message_dicts([o.message_id for o in outcomes])


def _store_outcome(
    plan: TurnPlan, outcome: Outcome, usage: ReportedUsage | None
) -> tuple[int, int | None]:
    """Write one choice; returns its completion and reasoning tokens (counted when
    not reported)."""
    own = tokens.count_text(outcome.content, plan.model_name)
    choice = _choice(plan, outcome.message_id)
    completion = own.tokens  # counting is the costly part of the end of a turn: once
    if choice.prefix:
        completion = tokens.count_text(
            outcome.content[len(choice.prefix) :], plan.model_name
        ).tokens
    reasoning = _reasoning_tokens(plan, outcome.reasoning[len(choice.reasoning_prefix) :])
    completion += reasoning or 0  # the model wrote its reasoning too
    exact = usage is not None and len(plan.choices) == 1
    if exact:
        completion = usage.completion_tokens
        if usage.reasoning_tokens is not None:
            reasoning = usage.reasoning_tokens
    prompt = usage.prompt_tokens if usage else plan.prompt_tokens
    if outcome.error_code in NOTHING_SENT:  # the model was never asked: no prompt to count
        prompt = 0
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
        reasoning=outcome.reasoning,
        **_reasoning_counts(plan, reasoning, outcome.reasoning_ms),
        **_logprobs(plan, outcome),
        content_tokens=own.tokens,
        content_tokens_encoding=own.encoding,
        stream_seq=outcome.seq,
        worker="",
        heartbeat=None,
    )
    return completion, reasoning


def _logprobs(plan: TurnPlan, outcome: Outcome) -> dict:
    """A completion's token log probabilities; a continuation adds its own to the first
    part's (appended in SQL would need a JSON function per database: read, then write)."""
    if plan.endpoint != "completions" or outcome.logprobs is None:
        return {}
    if not plan.continuing:
        return {"logprobs": outcome.logprobs}
    before = Message.objects.filter(pk=outcome.message_id).values_list("logprobs", flat=True)
    return {"logprobs": [*(before.first() or []), *outcome.logprobs]}


def _choice(plan: TurnPlan, message_id: UUID) -> Choice:
    return next((c for c in plan.choices if c.message_id == message_id), Choice(message_id))


def _reasoning_tokens(plan: TurnPlan, new_reasoning: str) -> int | None:
    if not new_reasoning:
        return None
    return tokens.count_text(new_reasoning, plan.model_name).tokens


def _reasoning_counts(plan: TurnPlan, reasoning: int | None, reasoning_ms: int | None) -> dict:
    """This turn's reasoning tokens and time; a continuation adds to the first part's."""
    counts = {"reasoning_tokens": reasoning, "reasoning_ms": reasoning_ms}
    if not plan.continuing:
        return counts
    return {
        column: Coalesce(F(column), Value(0)) + value
        for column, value in counts.items()
        if value is not None
    }


def _accumulate(plan: TurnPlan, column: str, value: int):
    # A continuation adds to what the first part of the answer already used.
    return F(column) + value if plan.continuing else value


def _cache_counts(counts: dict[UUID, tuple[int, str]]) -> None:
    for message_id, (count, encoding) in counts.items():
        Message.objects.filter(pk=message_id).update(
            content_tokens=count, content_tokens_encoding=encoding
        )
