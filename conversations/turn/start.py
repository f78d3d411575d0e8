"""The start of a turn, database side: ``start_turn``, the one entry of every door.

One transaction checks the request (limits, ownership, model, parameters,
prompt, budget), commits the user message, creates the assistant row(s) with
status `streaming` and saves the conversation once. The upstream call comes
after it commits (the worker runtime runs it), so the question is stored
before the model is asked anything. A rule that says no raises a Refused.
"""

from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations import access, budgets, quotas, tokens
from conversations.models import Conversation, Message, ModelConfig
from conversations.moderation import policy as moderation_policy
from conversations.refusals import Refused
from conversations.turn import completion, images, limits, resolve, seam, shaping
from conversations.turn.plan import Choice, Replay, Status, TurnPlan, message_dicts
from conversations.turn.prompt import build_prompt, continue_instruction, stored_branch
from conversations.turn.request import TurnRequest
from conversations.upstream import provider_settings


class NotContinuable(Refused):
    pass


CHAT = (ModelConfig.Kind.CHAT,)


@transaction.atomic
def start_turn(*, user, worker: str, request: TurnRequest) -> TurnPlan | Replay:
    """Start what ``request`` asks for ``user`` on ``worker`` (its channel name)."""
    limits.admit(user)
    if completion.applies(user, request):  # a completion document (turn.completion)
        return completion.start_completion(user=user, worker=worker, request=request)
    if request.kind == "continue":
        return _continue(user, worker, request)
    conversation, target, created = _conversation_and_target(user, request)
    if conversation.replay_id is not None:
        return _replay(conversation)
    model, persona = resolve.model_and_persona(user, conversation, request)
    if request.kind == "image" or model.kind == ModelConfig.Kind.IMAGE:
        return _image(user, worker, request, conversation, target, model, persona)
    overrides = resolve.overrides(conversation, request, model, persona)
    conversation.model, conversation.persona = model, persona
    conversation.param_overrides = overrides
    limits.refuse_if_busy_or_over_cap(user, conversation)
    effective = resolve.effective_params(model, persona, overrides)
    if request.kind == "regenerate":
        question_id, asked = target.parent_id, []
    else:
        parent_id = target.parent_id if request.kind == "edit" else target
        question = _question(conversation, parent_id, request, model)
        question_id, asked = question.id, [question]
    # A new question is not stored yet: the prompt is the stored branch above it, then it.
    above = None if created else (target if request.kind == "send" else target.parent_id)
    branch = [*stored_branch(conversation, above), *asked]
    context = build_prompt(branch, model, persona, effective)
    budgets.lock_team_budgets(user)
    try:
        held, notice = _hold(user, model, effective, context), ""
    except quotas.OverBudget as over:
        model, effective, context, held = _fall_back(user, over, model, persona, overrides, branch)
        notice = budgets.fallback_notice(asked=conversation.model, used=model)
    answers = _answers(
        conversation, question_id, model, persona, effective, worker,
        client_id="" if asked else request.client_id, notice=notice,
    )  # fmt: skip
    Message.objects.bulk_create([*asked, *answers])  # the question and its answers together
    budgets.reserve(user=user, held=held, answers=answers)
    _save(conversation, answers[0])
    announce = asked
    choices = [Choice(answer.id) for answer in answers]
    rows = [m.to_dict() for m in [*announce, *answers]]  # made just now: no second read
    plan = _plan(user, conversation, model, effective, context, choices, rows, cap=held.answer_cap)
    # The question is checked in the turn's task, before the upstream call (moderation).
    plan.moderation = moderation_policy.check_for(
        user=user, conversation=conversation, persona=persona, question_id=question_id,
        text=request.content if asked else None,
    )  # fmt: skip
    return plan


def _image(user, worker, request, conversation, target, model, persona) -> TurnPlan:
    """A turn of images: the message (or, regenerating, its question) is the prompt."""
    if model.kind != ModelConfig.Kind.IMAGE:
        raise Refused("not_image_model", _("Pick an image model to make images."))
    if request.kind == "regenerate":
        question = Message.objects.get(pk=target.parent_id)
        asked = []
    else:
        parent_id = target.parent_id if request.kind == "edit" else target
        question = _question(conversation, parent_id, request, model)
        asked = [question]
    conversation.model, conversation.persona = model, persona
    limits.refuse_if_busy_or_over_cap(user, conversation)
    try:
        answer = images.start_images(
            user=user, worker=worker, conversation=conversation, model=model, persona=persona,
            question=question, asked=asked, raw_params=request.params,
            client_id="" if asked else request.client_id,
        )  # fmt: skip
    except quotas.OverBudget as over:
        raise limits.over_budget(over) from None
    _save(conversation, answer)
    plan = images.plan(
        user=user, conversation=conversation, model=model, prompt=question.content,
        answer=answer, announce=[*asked, answer],
    )  # fmt: skip
    # An image prompt is checked like a chat question, before the images endpoint sees it.
    plan.moderation = moderation_policy.check_for(
        user=user, conversation=conversation, persona=persona, question_id=question.id,
        text=request.content if asked else None,
    )  # fmt: skip
    return plan


def _conversation_and_target(user, request: TurnRequest) -> tuple[Conversation, object, bool]:
    """The conversation (locked), what the request targets, and whether it is new.

    The target: the parent id of a new message (send), the answer to redo
    (regenerate) or the message to rewrite (edit).
    """
    if request.kind in ("send", "image"):
        conversation, created = _get_or_create_conversation(user, request)
        return conversation, _parent_id(conversation, request.parent_id), created
    role = Message.Role.ASSISTANT if request.kind == "regenerate" else Message.Role.USER
    message = access.message_for(user, request.message_id)
    conversation = _locked(user, message.conversation_id, request.client_id)
    if message.role != role:
        refusal = {
            "regenerate": _("Only answers can be regenerated."),
            "edit": _("Only your own messages can be edited."),
        }[request.kind]
        raise Refused("invalid_frame", refusal)
    return conversation, message, False


def _continue(user, worker: str, request: TurnRequest) -> TurnPlan:
    answer = access.message_for(user, request.message_id)
    conversation = access.conversation_for(user, answer.conversation_id, lock=True)
    _refuse_unless_continuable(answer)
    limits.refuse_if_busy_or_over_cap(user, conversation)
    model = resolve.usable_model(user, answer.model_id, CHAT)
    model = model or resolve.fallback_model(user, conversation, None)
    persona = resolve.usable_persona(user, conversation.persona_id)
    effective = resolve.effective_params(model, persona, conversation.param_overrides)
    effective.pop("n", None)  # a continuation extends this one answer
    in_place = model.provider.continue_final_message and bool(answer.content)
    branch = _continued_branch(conversation, answer, in_place)
    context = build_prompt(branch, model, persona, effective)
    budgets.lock_team_budgets(user)
    try:
        held = _hold(user, model, effective, context)
    except quotas.OverBudget as over:
        raise limits.over_budget(over) from None
    Message.objects.filter(pk=answer.pk).update(
        status=Status.STREAMING, finish_reason="", worker=worker, heartbeat=timezone.now()
    )
    budgets.release_left_on(answer.pk)
    budgets.reserve(user=user, held=held, answers=[answer])
    answer.refresh_from_db()
    choice = Choice(
        answer.id, prefix=answer.content, seq=answer.stream_seq, reasoning_prefix=answer.reasoning
    )
    _save(conversation, answer)
    announce = message_dicts([answer])
    plan = _plan(
        user, conversation, model, effective, context, [choice], announce, True,
        cap=held.answer_cap,
    )  # fmt: skip
    if in_place:
        plan.body = shaping.continuing_in_place(plan.body)
    plan.mend_seam = not in_place
    if plan.mend_seam:  # load the seam's tokenizer here, not on the event loop
        tokens.preload([seam.WORD_MODEL])
    return plan


def _hold(user, model, effective, context, fallback: bool = False) -> budgets.Hold:
    """The turn's worst case, reserved below once its answers exist (OverBudget: no room)."""
    prompt_tokens = context[0].prompt_tokens
    return budgets.hold(
        user, model=model, effective=effective, prompt_tokens=prompt_tokens, fallback=fallback
    )


def _fall_back(user, over: quotas.OverBudget, asked, persona, overrides, branch):
    """The turn on staff's cheaper fallback model, when one is named and fits; else the
    refusal that says when the used-up budget resets."""
    fallback_id = budgets.fallback_model_id(over.budget)
    fallback = resolve.usable_model(user, fallback_id, CHAT) if fallback_id else None
    if fallback is None or fallback.pk == asked.pk:
        raise limits.over_budget(over) from None
    effective = resolve.effective_params(fallback, persona, overrides)
    context = build_prompt(branch, fallback, persona, effective)
    try:
        return fallback, effective, context, _hold(user, fallback, effective, context, True)
    except quotas.OverBudget as still_over:
        raise limits.over_budget(still_over) from None


def _continued_branch(conversation, answer: Message, in_place: bool) -> list:
    """The prompt's messages for continuing ``answer``.

    A server that extends the last message itself (vLLM's continue_final_message)
    gets the cut-off answer last; any other starts a new message, so it is asked
    to go on from the cut and turn.seam joins the two.
    """
    branch = stored_branch(conversation, answer.id)
    if answer.content and not in_place:
        branch.append(continue_instruction())
    return branch


def _refuse_unless_continuable(answer: Message) -> None:
    if answer.status != Status.TRUNCATED:
        raise NotContinuable(
            "not_continuable", _("Only answers cut off by the length limit can be continued.")
        )
    if len(answer.content) >= settings.CHATSITE_MAX_ANSWER_CHARS:
        raise NotContinuable(
            "answer_too_long",
            _("This answer has reached the size limit of %(limit)s characters.")
            % {"limit": settings.CHATSITE_MAX_ANSWER_CHARS},
        )


def _plan(
    user, conversation, model, effective, context, choices, announce, continuing=False, cap=None
):
    prompt, uncached = context
    sent = shaping.capped(effective, cap)  # the answers' records keep what was asked
    return TurnPlan(
        owner_id=user.pk,
        conversation_id=conversation.id,
        model_config_id=model.pk,
        model_name=model.model_id,
        provider=provider_settings(model.provider),
        body=shaping.chat_body(model, prompt.messages, sent, user_pk=user.pk),
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


# --- Which conversation --------------------------------------------------------


def _get_or_create_conversation(user, request: TurnRequest) -> tuple[Conversation, bool]:
    """The conversation to send into, and whether it was created just now."""
    if request.conversation_id is not None:
        return _locked(user, request.conversation_id, request.client_id), False
    # Create first: a resent first message (the rare case) meets the unique constraint.
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(owner=user, client_id=request.client_id)
            conversation.replay_id = None
            return conversation, True
    except IntegrityError:  # this first message was sent before
        return _locked(user, None, request.client_id), False


def _locked(user, conversation_id, client_id: str) -> Conversation:
    """The conversation, locked, with `replay_id`: its message that has `client_id`, if any
    (a resent request), read in the same query. No id: the one `client_id` started."""
    sent = Message.objects.filter(conversation=OuterRef("pk"), client_id=client_id)
    replay = {"replay_id": Subquery(sent.values("pk")[:1])}
    if conversation_id is None:
        found = Conversation.objects.filter(owner=user, client_id=client_id).select_for_update()
        found = found.annotate(**replay)
        return found.get()
    return access.conversation_for(user, conversation_id, lock=True, annotate=replay)


def _replay(conversation: Conversation) -> Replay:
    first = Message.objects.get(pk=conversation.replay_id)
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


def _question(conversation, parent_id, request: TurnRequest, model) -> Message:
    """The user's message, not yet stored (its answers are written with it)."""
    count = tokens.count_text(request.content, model.model_id)
    return Message(
        conversation=conversation,
        parent_id=parent_id,
        role=Message.Role.USER,
        content=request.content,
        client_id=request.client_id,
        content_tokens=count.tokens,
        content_tokens_encoding=count.encoding,
    )


def _answers(conversation, parent_id, model, persona, effective, worker, client_id, notice=""):
    """The assistant rows the turn fills (n of them), `streaming`, not yet stored."""
    version = persona.current_version() if persona else None
    now = timezone.now()
    return [
        Message(
            conversation=conversation,
            parent_id=parent_id,
            role=Message.Role.ASSISTANT,
            status=Status.STREAMING,
            model=model,
            model_name=model.model_id,
            persona_version=version,
            params=effective,
            client_id=client_id if index == 0 else "",
            worker=worker,
            heartbeat=now,
            created=now + timedelta(microseconds=index + 1),  # after the question, in order
            notice=notice,
        )
        for index in range(effective.get("n", 1))
    ]


def _save(conversation: Conversation, leaf: Message) -> None:
    """The one write of the conversation: its new leaf and what the request chose."""
    conversation.current_leaf = leaf
    conversation.updated = timezone.now()
    conversation.save(
        update_fields=["current_leaf", "updated", "model", "persona", "param_overrides"]
    )
