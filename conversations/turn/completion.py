"""Completion documents: the turn of a conversation whose mode is ``completion``.

``start_turn`` hands a request here when it is a ``complete`` (a prompt for a
completion model) or targets a message of a completion document (regenerate,
edit, continue). The rows are a chat's: the prompt is the user message, each
continuation an assistant message under it (n of them), so history, siblings,
stop, export and review work unchanged. What differs is the request: the
``/completions`` endpoint with the prompt text (a persona's template applied)
and the completion parameters (params.validate_completion_params); the
streaming side reads it the same way (``TurnPlan.endpoint``).

A persona whose model is a completion model gives a prompt template instead
of a system prompt: ``{{prompt}}`` marks where the user's text goes (without
it, the text is appended to the template).
"""

from django.utils import timezone
from django.utils.translation import gettext as _

from conversations import access, budgets, params, quotas, tokens
from conversations.models import Conversation, Message, ModelConfig
from conversations.moderation import policy as moderation_policy
from conversations.refusals import Refused
from conversations.turn import limits, resolve
from conversations.turn.plan import Choice, Replay, Status, TurnPlan, message_dicts
from conversations.turn.request import TurnRequest
from conversations.upstream import provider_settings, upstream_user

MODE = "completion"
PLACEHOLDER = "{{prompt}}"
TITLE_CHARS = 60
# Continuing an answer extends that one text: these would start over or fan out.
NOT_CONTINUED = ("n", "best_of", "echo")


def applies(user, request: TurnRequest) -> bool:
    """Whether ``request`` is a completion turn (a foreign message is no one's: False,
    and the chat path answers it with its own not-found)."""
    if request.kind == "complete":
        return True
    if request.kind == "send":
        if request.conversation_id is None:
            return False
        mine = Conversation.objects.filter(owner=user, pk=request.conversation_id)
        return mine.filter(mode=MODE).exists()
    mine = Message.objects.for_user(user).filter(pk=request.message_id)
    return mine.filter(conversation__mode=MODE).exists()


def start_completion(*, user, worker: str, request: TurnRequest) -> TurnPlan | Replay:
    """The completion counterpart of start.start_turn (called by it, in its transaction)."""
    from conversations.turn import start  # start dispatches here: imported when used

    if request.kind == "continue":
        return _continue(user, worker, request)
    conversation, question, created = _conversation_and_question(user, request, start)
    if conversation.replay_id is not None:
        return start._replay(conversation)
    model = _model(user, conversation, request)
    persona = _persona(user, conversation, request)
    overrides = _overrides(conversation, request, model, persona)
    limits.refuse_if_busy_or_over_cap(user, conversation)
    effective = _effective(model, persona, overrides)
    prompt = render(persona, question.content)
    prompt_tokens = _fitting_prompt_tokens(prompt, model, effective)
    held = _hold(user, model, effective, prompt_tokens)
    asked = [question] if question._state.adding else []
    answers = start._answers(
        conversation, question.id, model, persona, effective, worker,
        client_id="" if asked else request.client_id,
    )  # fmt: skip
    Message.objects.bulk_create([*asked, *answers])
    budgets.reserve(user=user, held=held, answers=answers)
    _save(conversation, answers[0], model, persona, overrides, created, question.content)
    rows = [m.to_dict() for m in [*asked, *answers]]
    body = completion_body(model, prompt, effective, user_pk=user.pk)
    plan = _plan(user, conversation, model, body, answers, prompt_tokens, rows)
    # The prompt is moderated like a chat question, in the turn's task (conversations.moderation).
    plan.moderation = moderation_policy.check_for(
        user=user, conversation=conversation, persona=persona, question_id=question.id,
        text=question.content if asked else None,
    )  # fmt: skip
    return plan


# --- Which document, which prompt --------------------------------------------------


def _conversation_and_question(user, request: TurnRequest, start):
    """The document (locked), the prompt message (new, not stored yet, for complete,
    send and edit; the stored one for regenerate) and whether the document is new."""
    if request.kind in ("complete", "send"):
        conversation, created = start._get_or_create_conversation(user, request)
        if created:
            conversation.mode = MODE
        elif conversation.mode != MODE and conversation.replay_id is None:
            raise Refused("invalid_frame", _("This conversation is a chat, not a document."))
        parent_id = start._parent_id(conversation, request.parent_id)
        return conversation, _new_question(conversation, parent_id, request), created
    conversation, target, _created = start._conversation_and_target(user, request)
    if request.kind == "regenerate":
        return conversation, target.parent, False
    return conversation, _new_question(conversation, target.parent_id, request), False


def _new_question(conversation, parent_id, request: TurnRequest) -> Message:
    return Message(
        conversation=conversation,
        parent_id=parent_id,
        role=Message.Role.USER,
        content=request.content,
        client_id=request.client_id,
    )


def render(persona, text: str) -> str:
    """The prompt sent: the persona's template around the user's text, else the text."""
    template = getattr(persona, "prompt_template", "") or ""
    if not template:
        return text
    if PLACEHOLDER in template:
        return template.replace(PLACEHOLDER, text)
    return template + text


# --- Model, persona, parameters -----------------------------------------------------


class NoCompletionModel(Refused):
    status = 503


def _model(user, conversation, request: TurnRequest) -> ModelConfig:
    """The completion model asked for, else the document's, else the first one usable."""
    usable = ModelConfig.objects.completions_usable_by(user).select_related("provider")
    if request.model is not None:
        try:
            return usable.get(pk=int(request.model))
        except (TypeError, ValueError, ModelConfig.DoesNotExist):
            raise access.NotFound("No such completion model.") from None
    persona_model = getattr(conversation.persona, "model_id", None)
    for pk in (conversation.model_id, persona_model):
        found = usable.filter(pk=pk).first() if pk else None
        if found is not None:
            return found
    first = usable.order_by("pk").first()
    if first is None:
        raise NoCompletionModel(
            "no_model", _("No completion model is available. Ask a staff member to enable one.")
        )
    return first


def _persona(user, conversation, request: TurnRequest):
    if request.persona_id is not None:
        return access.persona_usable_by(user, request.persona_id)
    return resolve.usable_persona(user, conversation.persona_id)


def _overrides(conversation, request: TurnRequest, model, persona) -> dict:
    """The request's parameters checked by the completion rules, else the document's."""
    if request.params is None:
        return conversation.param_overrides
    cleaned = params.validate_completion_params(request.params, model.limits)
    params.check_overridable(cleaned, persona.changeable_params if persona else None)
    return cleaned


def _effective(model, persona, overrides) -> dict:
    """Request → persona → model defaults (completion rules), then the API's max_tokens
    default (16), checked together (best_of against n and stream)."""
    model_defaults = _completion_only(model.default_params, model)
    persona_defaults = _completion_only(persona.default_params if persona else {}, model)
    effective = params.effective_params(
        overrides=_completion_only(overrides, model),
        persona_defaults=persona_defaults,
        model_defaults=model_defaults,
        overridable=persona.changeable_params if persona else None,
    )
    effective.setdefault("max_tokens", params.COMPLETION_MAX_TOKENS_DEFAULT)
    params.check_completion_combination(effective)
    return effective


def _completion_only(values, model) -> dict:
    """Inherited values less the names completions do not take, re-checked for this model."""
    names = params.COMPLETION_PARAM_NAMES
    kept = {k: v for k, v in (values or {}).items() if k in names}
    return params.validate_completion_params(kept, model.limits)


def _fitting_prompt_tokens(prompt: str, model, effective: dict) -> int:
    count = tokens.count_text(prompt + effective.get("suffix", ""), model.model_id).tokens
    params.check_completion_fits(count, effective["max_tokens"], model.limits)
    return count


def _hold(user, model, effective: dict, prompt_tokens: int) -> budgets.Hold:
    """Reserve prompt + max_tokens × max(n, best_of): every candidate is generated."""
    generated = max(effective.get("n", 1), effective.get("best_of", 1))
    budgets.lock_team_budgets(user)
    try:
        return budgets.hold(
            user, model=model, effective={**effective, "n": generated}, prompt_tokens=prompt_tokens
        )
    except quotas.OverBudget as over:
        raise limits.over_budget(over) from None


# --- The request and the plan -------------------------------------------------------


def streams(effective: dict) -> bool:
    """``best_of`` cannot stream (the API refuses it); ``stream: false`` asks not to."""
    return "best_of" not in effective and effective.get("stream", True)


def completion_body(model, prompt: str, effective: dict, *, user_pk: int) -> dict:
    wired = {name: value for name, value in effective.items() if name != "stream"}
    body = {
        "model": model.model_id,
        "prompt": prompt,
        **wired,
        "stream": streams(effective),
        "user": upstream_user(user_pk),
    }
    if body["stream"] and not model.provider.send_stream_usage:
        body["stream_options"] = {"include_usage": False}
    return body


def _plan(user, conversation, model, body, answers, prompt_tokens, rows, continuing=False):
    choices = [
        Choice(a.id, prefix=a.content if continuing else "", seq=a.stream_seq) for a in answers
    ]
    return TurnPlan(
        owner_id=user.pk,
        conversation_id=conversation.id,
        model_config_id=model.pk,
        model_name=model.model_id,
        provider=provider_settings(model.provider),
        body=body,
        choices=choices,
        prompt_tokens=prompt_tokens,
        prompt_exact=True,
        omitted=0,
        frames=rows,
        continuing=continuing,
        endpoint="completions",
    )


def _save(conversation, leaf, model, persona, overrides, created, prompt: str) -> None:
    conversation.current_leaf, conversation.updated = leaf, timezone.now()
    conversation.model, conversation.persona, conversation.param_overrides = (
        model,
        persona,
        overrides,
    )
    fields = ["current_leaf", "updated", "model", "persona", "param_overrides", "mode"]
    if created and not conversation.title:
        conversation.title = " ".join(prompt.split())[:TITLE_CHARS] or _("Completion")
        fields.append("title")
    conversation.save(update_fields=fields)


# --- Continue on length ---------------------------------------------------------------


def _continue(user, worker: str, request: TurnRequest) -> TurnPlan:
    """Carry on an answer cut by max_tokens: the prompt, then the answer so far."""
    from conversations.turn import start

    answer = access.message_for(user, request.message_id)
    conversation = access.conversation_for(user, answer.conversation_id, lock=True)
    start._refuse_unless_continuable(answer)
    limits.refuse_if_busy_or_over_cap(user, conversation)
    model = _model(user, conversation, TurnRequest(kind="continue", client_id="", model=None))
    persona = resolve.usable_persona(user, conversation.persona_id)
    effective = {k: v for k, v in answer.params.items() if k not in NOT_CONTINUED}
    effective.setdefault("max_tokens", params.COMPLETION_MAX_TOKENS_DEFAULT)
    # An echoed answer already starts with the prompt, as the API returned it.
    head = "" if answer.params.get("echo") else render(persona, answer.parent.content)
    prompt = head + answer.content
    prompt_tokens = _fitting_prompt_tokens(prompt, model, effective)
    held = _hold(user, model, effective, prompt_tokens)
    Message.objects.filter(pk=answer.pk).update(
        status=Status.STREAMING, finish_reason="", worker=worker, heartbeat=timezone.now()
    )
    budgets.release_left_on(answer.pk)
    budgets.reserve(user=user, held=held, answers=[answer])
    answer.refresh_from_db()
    conversation.current_leaf, conversation.updated = answer, timezone.now()
    conversation.save(update_fields=["current_leaf", "updated"])
    body = completion_body(model, prompt, effective, user_pk=user.pk)
    rows = message_dicts([answer])
    return _plan(user, conversation, model, body, [answer], prompt_tokens, rows, True)
