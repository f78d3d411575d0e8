"""The chat turn, database side: the one flow that spans many models.

Before the upstream call, one transaction checks the request, commits the user
message, creates the assistant row(s) with status `streaming` and builds the
context. After the call, one transaction stores the final text, exactly one
terminal status and the usage, and charges the ledger. In between, the worker
runtime flushes partial text in batches (`flush_partials`), never per token.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations import access, limits, resolve, tokens
from conversations.context import PromptRefused, build_prompt
from conversations.limits import TurnRefused
from conversations.llm import ProviderSettings
from conversations.models import Conversation, Message, ModelConfig, UsageDaily
from conversations.upstream import provider_settings, upstream_user

Status = Message.Status
ERROR_MESSAGE_MAX = 2000


@dataclass
class Choice:
    """One assistant message the turn fills (several when n > 1)."""

    message_id: UUID
    prefix: str = ""  # text already there when continuing a cut-off answer
    seq: int = 0  # its last delta's number before this turn


@dataclass
class TurnPlan:
    owner_id: int
    conversation_id: UUID
    model_config_id: int
    model_name: str
    provider: ProviderSettings
    body: dict[str, Any]
    choices: list[Choice]
    prompt_tokens: int
    prompt_exact: bool
    omitted: int
    frames: list[dict] = field(default_factory=list)  # messages to announce
    continuing: bool = False
    uncached_counts: dict[UUID, tuple[int, str]] = field(default_factory=dict)


@dataclass
class Replay:
    """A frame resent with a client_id we already have: no new turn."""

    conversation_id: UUID
    frames: list[dict]
    streaming: list[UUID]


@dataclass
class Outcome:
    """How one choice ended, as the streaming side saw it."""

    message_id: UUID
    content: str
    seq: int
    status: str
    finish_reason: str = ""
    error_code: str = ""
    error_message: str = ""
    ttft_ms: int | None = None


@dataclass
class ReportedUsage:
    prompt_tokens: int
    completion_tokens: int


# --- Starting a turn ----------------------------------------------------------


@transaction.atomic
def start_send(*, user, worker: str, frame) -> TurnPlan | Replay:
    limits.admit(user)
    conversation, created = _conversation_for_send(user, frame)
    replay = None if created else _replay(conversation, frame.client_id)
    if replay:
        return replay
    model, persona = resolve.model_and_persona(user, conversation, frame)
    overrides = resolve.overrides(conversation, frame, model, persona)
    parent_id = _parent_id(conversation, frame.fields.get("parent_id"))
    question = _create_user_message(conversation, parent_id, frame.content, frame.client_id, model)
    return _begin_turn(
        user, conversation, question, model, persona, overrides, worker,
        announce=[question], created=created,
    )  # fmt: skip


@transaction.atomic
def start_regenerate(*, user, worker: str, frame) -> TurnPlan | Replay:
    refusal = _("Only answers can be regenerated.")
    answer, conversation = _target(user, frame, Message.Role.ASSISTANT, refusal)
    replay = _replay(conversation, frame.client_id)
    if replay:
        return replay
    model, persona = resolve.model_and_persona(user, conversation, frame)
    overrides = resolve.overrides(conversation, frame, model, persona)
    return _begin_turn(
        user, conversation, answer.parent, model, persona, overrides, worker,
        client_id=frame.client_id,
    )  # fmt: skip


@transaction.atomic
def start_edit(*, user, worker: str, frame) -> TurnPlan | Replay:
    refusal = _("Only your own messages can be edited.")
    original, conversation = _target(user, frame, Message.Role.USER, refusal)
    replay = _replay(conversation, frame.client_id)
    if replay:
        return replay
    model, persona = resolve.model_and_persona(user, conversation, frame)
    overrides = resolve.overrides(conversation, frame, model, persona)
    edited = _create_user_message(
        conversation, original.parent_id, frame.content, frame.client_id, model
    )
    return _begin_turn(
        user, conversation, edited, model, persona, overrides, worker, announce=[edited]
    )


def _target(user, frame, role: str, refusal: str) -> tuple[Message, Conversation]:
    """The message a regenerate or edit frame names, and its conversation (locked)."""
    limits.admit(user)
    message = access.message_for(user, frame.message_id)
    conversation = access.conversation_for(user, message.conversation_id, lock=True)
    if message.role != role:
        raise TurnRefused("invalid_frame", refusal)
    return message, conversation


@transaction.atomic
def start_continue(*, user, worker: str, frame) -> TurnPlan:
    limits.admit(user)
    answer = access.message_for(user, frame.message_id)
    conversation = access.conversation_for(user, answer.conversation_id, lock=True)
    if answer.status != Status.TRUNCATED:
        raise TurnRefused(
            "not_continuable", _("Only answers cut off by the length limit can be continued.")
        )
    if len(answer.content) >= settings.CHATSITE_MAX_ANSWER_CHARS:
        raise TurnRefused(
            "answer_too_long",
            _("This answer has reached the size limit of %(limit)s characters.")
            % {"limit": settings.CHATSITE_MAX_ANSWER_CHARS},
        )
    limits.refuse_if_busy(conversation)
    limits.refuse_if_over_cap(user)
    model = resolve.usable_model(user, answer.model_id)
    model = model or resolve.fallback_model(user, conversation, None)
    persona = resolve.usable_persona(user, conversation.persona_id)
    effective = resolve.effective_params(model, persona, conversation.param_overrides)
    effective.pop("n", None)  # a continuation extends this one answer
    context = _prompt(conversation, answer, model, persona, effective)
    limits.refuse_if_over_budget(user, context[0].prompt_tokens)
    Message.objects.filter(pk=answer.pk).update(
        status=Status.STREAMING, finish_reason="", worker=worker, heartbeat=timezone.now()
    )
    answer.refresh_from_db()
    choice = Choice(answer.id, prefix=answer.content, seq=answer.stream_seq)
    _touch(conversation, answer)
    announce = message_dicts([answer])
    return _plan(user, conversation, model, effective, context, [choice], announce, True)


def _begin_turn(
    user, conversation, parent, model, persona, overrides, worker,
    *, announce=(), client_id="", created=False,
) -> TurnPlan:  # fmt: skip
    """The answer row(s) and the prompt. `created`: the conversation is new, so
    its branch is the one new message."""
    limits.refuse_if_busy_or_over_cap(user, conversation)
    effective = resolve.effective_params(model, persona, overrides)
    branch = [parent] if created else None
    context = _prompt(conversation, parent, model, persona, effective, branch)
    limits.refuse_if_over_budget(user, context[0].prompt_tokens)
    answers = _create_answers(conversation, parent, model, persona, effective, worker, client_id)
    _touch(conversation, answers[0])
    choices = [Choice(answer.id) for answer in answers]
    # Rows made just now: their dicts need no second read.
    rows = [m.to_dict() for m in [*announce, *answers]]
    return _plan(user, conversation, model, effective, context, choices, rows)


def _prompt(conversation, leaf, model, persona, effective, branch=None):
    try:
        return build_prompt(conversation, leaf, model, persona, effective, branch=branch)
    except PromptRefused as refused:
        raise TurnRefused(refused.code, refused.message) from None


def _plan(user, conversation, model, effective, context, choices, announce, continuing=False):
    prompt, uncached = context
    return TurnPlan(
        owner_id=user.pk,
        conversation_id=conversation.id,
        model_config_id=model.pk,
        model_name=model.model_id,
        provider=provider_settings(model.provider),
        body={
            "model": model.model_id,
            "messages": prompt.messages,
            **effective,
            "user": upstream_user(user.pk),
        },
        choices=choices,
        prompt_tokens=prompt.prompt_tokens,
        prompt_exact=prompt.exact,
        omitted=prompt.omitted,
        frames=[_with_context_note(m, prompt.omitted) for m in announce],
        continuing=continuing,
        uncached_counts=uncached,
    )


def _with_context_note(message: dict, omitted: int) -> dict:
    if message["role"] == Message.Role.ASSISTANT:
        message["context_omitted"] = omitted
    return message


def message_dicts(messages: list) -> list[dict]:
    """Fresh dicts of messages (rows or ids), in the order given."""
    ids = [UUID(str(getattr(m, "id", m))) for m in messages]
    by_id = {UUID(row["id"]): row for row in Message.objects.filter(pk__in=ids).as_dicts()}
    return [by_id[i] for i in ids if i in by_id]  # deleted meanwhile: skipped


# --- Which conversation --------------------------------------------------------


def _conversation_for_send(user, frame) -> tuple[Conversation, bool]:
    """The conversation to send into, and whether it was created just now."""
    if frame.fields.get("conversation_id"):
        return access.conversation_for(user, frame.conversation_id, lock=True), False
    # Create first: a resent first message (the rare case) meets the unique constraint.
    try:
        with transaction.atomic():
            return Conversation.objects.create(owner=user, client_id=frame.client_id), True
    except IntegrityError:  # this first message was sent before
        return Conversation.objects.get(owner=user, client_id=frame.client_id), False


def _replay(conversation: Conversation, client_id: str) -> Replay | None:
    first = conversation.messages.filter(client_id=client_id).first()
    if first is None:
        return None
    related = [first, *first.children.all()] if first.role == Message.Role.USER else [first]
    frames = message_dicts(related)
    streaming = [m.id for m in related if m.status == Status.STREAMING]
    return Replay(conversation.id, frames, streaming)


def _parent_id(conversation: Conversation, parent_id) -> UUID | None:
    """The parent of a new message: the one asked for (checked), else the current leaf."""
    if parent_id is None:
        return conversation.current_leaf_id  # its id will do: no need to read the leaf
    if not conversation.messages.filter(pk=parent_id).exists():
        raise access.NotFound("No such message.")
    return parent_id


# --- Rows -----------------------------------------------------------------------


def _create_user_message(conversation, parent_id, content, client_id, model) -> Message:
    count = tokens.count_text(content, model.model_id)
    return Message.objects.create(
        conversation=conversation,
        parent_id=parent_id,
        role=Message.Role.USER,
        content=content,
        client_id=client_id,
        content_tokens=count.tokens,
        content_tokens_encoding=count.encoding,
    )


def _create_answers(conversation, parent, model, persona, effective, worker, client_id):
    version = persona.current_version() if persona else None
    now = timezone.now()
    answers = []
    for index in range(effective.get("n", 1)):
        answers.append(
            Message.objects.create(
                conversation=conversation,
                parent=parent,
                role=Message.Role.ASSISTANT,
                status=Status.STREAMING,
                model=model,
                model_name=model.model_id,
                persona_version=version,
                params=effective,
                client_id=client_id if index == 0 else "",
                worker=worker,
                heartbeat=now,
                created=now + timedelta(microseconds=index),  # keeps choices in order
            )
        )
    return answers


def _touch(conversation: Conversation, leaf: Message) -> None:
    """One write for the new leaf and the model and persona resolve chose."""
    conversation.current_leaf = leaf
    conversation.updated = timezone.now()
    conversation.save(update_fields=["current_leaf", "updated", "model", "persona"])


# --- Finishing a turn -------------------------------------------------------------


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
