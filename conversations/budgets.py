"""Budgets that cannot be overshot: reserve a turn's worst case, settle its real usage.

Before the upstream call, the turn start (inside its transaction, with the
user's row and their teams' rows locked) reserves the worst case of the turn:
the prompt plus every answer at full length, in tokens and in money. It is
refused when that does not fit what is left of any budget (quotas), or, when
staff named a cheaper fallback model, answered by that model instead. The end
of the turn deletes the reservation and charges the real usage in the same
transaction; the sweeper releases the reservations of turns whose worker died,
charging what they are estimated to have used.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, connection, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from conversations import quotas, tokens
from conversations.models import (
    Conversation,
    Message,
    ModelConfig,
    Reservation,
    SiteSettings,
    UsageDaily,
)


@dataclass
class Hold:
    """What a turn is about to reserve."""

    model: ModelConfig
    prompt_tokens: int
    tokens: int
    cost: Decimal
    # The max_tokens to send when the request set none and a budget applies: without
    # it the server could write past what was reserved (None: send nothing extra).
    answer_cap: int | None = None


def answer_length(model: ModelConfig, effective: dict, prompt_tokens: int) -> int:
    """One answer at full length: max_tokens, else the model's output cap, else what
    the context window leaves after the prompt."""
    room = max(1, model.context_window - prompt_tokens)
    per_answer = effective.get("max_tokens") or model.max_output_tokens or room
    return min(per_answer, room)


def worst_case_completion(model: ModelConfig, effective: dict, prompt_tokens: int) -> int:
    """Every answer at full length, times n."""
    return answer_length(model, effective, prompt_tokens) * max(1, effective.get("n", 1))


def lock_team_budgets(user) -> None:
    """Serialise turn starts of members of one budgeted team (the user row is locked by
    limits.admit), in pk order so that two members never wait for each other."""
    if not connection.features.has_select_for_update:
        return  # SQLite: the transaction (BEGIN IMMEDIATE) already serialises all writers
    teams = Group.objects.filter(user=user, quota__isnull=False).order_by("pk")
    list(teams.select_for_update(of=("self",)).values_list("pk", flat=True))


def hold(
    user, *, model: ModelConfig, effective: dict, prompt_tokens: int, fallback: bool = False
) -> Hold:
    """The turn's worst case, if it fits every budget of ``user``; else OverBudget.

    A turn on staff's fallback model is what they chose for used-up money: it is
    held against the token budgets only (its cost is still charged and counted).
    """
    completion = worst_case_completion(model, effective, prompt_tokens)
    cost = model.cost(prompt_tokens, completion)
    held = Hold(model, prompt_tokens, prompt_tokens + completion, cost)
    today = timezone.localdate()
    units = (quotas.TOKENS,) if fallback else (quotas.TOKENS, quotas.COST)
    applying = [b for b in quotas.budgets_for(user, today) if b.unit in units]
    over = next((b for b in applying if not b.fits(tokens=held.tokens, cost=cost)), None)
    if over is not None:
        raise quotas.OverBudget(over, today)
    if applying and not effective.get("max_tokens"):
        held.answer_cap = answer_length(model, effective, prompt_tokens)
    return held


def fallback_model_id(budget: quotas.Budget) -> int | None:
    """The cheaper model staff named for a used-up budget: its quota's, else the site's."""
    return budget.fallback_model_id or SiteSettings.cached().budget_fallback_model_id


def fallback_notice(*, asked: ModelConfig, used: ModelConfig) -> str:
    return _("Your budget is used up: %(fallback)s answered instead of %(model)s.") % {
        "fallback": used,
        "model": asked,
    }


def reserve(*, user, held: Hold, answers: list[Message]) -> Reservation:
    """Write the reservation (in the transaction that starts the turn).

    Each answer is listed with the length of the text it already has (a
    continued answer's first part, charged by its earlier turn), so a release
    charges only what this turn streamed.
    """
    return Reservation.objects.create(
        user=user,
        message=answers[0],
        answers=[_part(answer) for answer in answers],
        model=held.model,
        model_name=held.model.model_id,
        prompt_tokens=held.prompt_tokens,
        tokens=held.tokens,
        cost=held.cost,
    )


def _part(answer: Message) -> dict:
    return {
        "id": str(answer.pk),
        "content_from": len(answer.content),
        "reasoning_from": len(answer.reasoning or ""),
    }


def _parts(reservation: Reservation) -> dict[str, tuple[int, int]]:
    """Answer id -> where this turn's text starts (content, reasoning); a bare id
    (a reservation written before the lengths were kept) starts at 0."""
    parts = {}
    for entry in reservation.answers:
        if isinstance(entry, str):
            entry = {"id": entry}
        parts[entry["id"]] = (entry.get("content_from", 0), entry.get("reasoning_from", 0))
    return parts


def streamed_from(message_id) -> tuple[int, int]:
    """Where the running turn of this answer started writing (content, reasoning):
    after a continued answer's first part, else at 0."""
    reservation = Reservation.objects.filter(message_id=message_id).first()
    if reservation is None:
        return 0, 0
    return _parts(reservation).get(str(message_id), (0, 0))


def streamed_tokens(message: Message, start: tuple[int, int] = (0, 0)) -> int:
    """The estimated completion tokens of what a turn wrote of ``message`` from
    ``start`` on (content and reasoning): counted from the stored text."""
    model_name = message.model_name or "gpt-4"
    content_from, reasoning_from = start
    estimate = tokens.count_text(message.content[content_from:], model_name).tokens
    reasoning = (message.reasoning or "")[reasoning_from:]
    if reasoning:  # the model wrote that too
        estimate += tokens.count_text(reasoning, model_name).tokens
    return estimate


def settle(*, first_answer_id) -> None:
    """The turn's end (in the transaction that charges its real usage): release it."""
    Reservation.objects.filter(message_id=first_answer_id).delete()


def release_left_on(message_id) -> None:
    """Before a continuation reserves again: what an earlier turn of this answer still
    holds (stopped as an orphan, not yet swept) is released and charged first."""
    for pk in Reservation.objects.filter(message_id=message_id).values_list("pk", flat=True):
        _release(pk)


def release_abandoned() -> int:
    """Release reservations of turns that ended without being settled (their worker
    died, or an orphan was stopped), charging their estimated usage; returns how many."""
    released = 0
    abandoned = Reservation.objects.exclude(message__status=Message.Status.STREAMING)
    title_asked_since = timezone.now() - timedelta(seconds=TITLE_HOLD_SECONDS)
    for pk, answers, created in abandoned.values_list("pk", "answers", "created"):
        if not answers and created > title_asked_since:
            continue  # a title request still under way
        released += _release(pk)
    return released


@transaction.atomic
def _release(pk: int) -> int:
    reservation = Reservation.objects.select_for_update().filter(pk=pk).first()
    if reservation is None:
        return 0  # another worker's sweeper was first
    parts = _parts(reservation)
    answers = Message.objects.filter(pk__in=list(parts))
    # What was streamed, counted from the stored text once: a continued answer's first
    # part was charged by its own turn.
    completion = sum(streamed_tokens(answer, parts[str(answer.pk)]) for answer in answers)
    reservation.delete()
    UsageDaily.objects.charge(
        user_id=reservation.user_id,
        model=reservation.model,
        model_name=reservation.model_name,
        prompt=reservation.prompt_tokens,
        completion=completion,
        estimated=True,
        purpose=UsageDaily.Purpose.CHAT if parts else UsageDaily.Purpose.TITLE,
    )
    return 1


# A title request is bounded by its timeout; its hold is left to the sweeper only
# after this long (a worker that died while asking for a title).
TITLE_HOLD_SECONDS = 120


@transaction.atomic
def hold_title(*, conversation_id, answer_id, model: ModelConfig, body: dict) -> bool:
    """Reserve a title request's worst case (its prompt and answer-length cap) for the
    conversation's owner, as a turn's; False when it does not fit a budget, or this
    exchange's title is being asked already (the title is then the first words)."""
    owner_id = Conversation.objects.filter(pk=conversation_id).values_list("owner_id", flat=True)
    owner = _locked_user(owner_id.first())
    if owner is None:
        return False
    lock_team_budgets(owner)
    applying = quotas.budgets_for(owner)
    if not applying:
        return True  # nothing to hold against
    prompt = tokens.count_messages(body["messages"], model.model_id).tokens
    completion = body.get("max_tokens") or body.get("max_completion_tokens") or 0
    cost = model.cost(prompt, completion)
    if any(not b.fits(tokens=prompt + completion, cost=cost) for b in applying):
        return False
    try:
        with transaction.atomic():
            Reservation.objects.create(
                user=owner, message_id=answer_id, answers=[], model=model,
                model_name=model.model_id, prompt_tokens=prompt,
                tokens=prompt + completion, cost=cost,
            )  # fmt: skip
    except IntegrityError:
        return False
    return True


def _locked_user(user_id):
    users = get_user_model().objects.filter(pk=user_id)
    if connection.features.has_select_for_update:
        users = users.select_for_update()
    return users.first()


def release_title(*, answer_id) -> None:
    """A title request that failed: its hold goes, nothing is charged (as for any
    failed request)."""
    Reservation.objects.filter(message_id=answer_id, answers=[]).delete()


@transaction.atomic
def charge_title(*, conversation_id, answer_id, model: ModelConfig, body: dict, result) -> None:
    """A title request costs too: charged to the conversation's owner, apart from
    answers, in place of its hold."""
    release_title(answer_id=answer_id)
    owner_id = Conversation.objects.filter(pk=conversation_id).values_list("owner_id", flat=True)
    owner_id = owner_id.first()
    if owner_id is None:
        return
    usage = result.usage
    if usage is not None:
        prompt, completion = usage.prompt_tokens, usage.completion_tokens
    else:
        prompt = tokens.count_messages(body["messages"], model.model_id).tokens
        completion = tokens.count_text(result.text + result.reasoning, model.model_id).tokens
    UsageDaily.objects.charge(
        user_id=owner_id,
        model=model,
        model_name=model.model_id,
        prompt=prompt,
        completion=completion,
        estimated=usage is None,
        purpose=UsageDaily.Purpose.TITLE,
    )


def warning_for_user(user_id: int) -> str:
    user = get_user_model().objects.filter(pk=user_id).first()
    return warning_for(user) if user else ""


def warning_for(user) -> str:
    """A sentence when the user has used WARN_AT (80 %) or more of a budget; else ''."""
    today = timezone.localdate()
    near = [b for b in quotas.budgets_for(user, today) if b.share() >= quotas.WARN_AT]
    if not near:
        return ""
    budget = max(near, key=lambda b: b.share())
    values = {
        "percent": min(100, int(budget.share() * 100)),
        "when": formats.date_format(budget.resets_at(today), "DATETIME_FORMAT"),
        "team": budget.scope,
    }
    if budget.is_team:
        return (
            _("Team %(team)s has used %(percent)s%% of its budget; it resets on %(when)s.") % values
        )
    return _("You have used %(percent)s%% of your budget; it resets on %(when)s.") % values


def hold_images(user, *, model: ModelConfig, count: int) -> Hold:
    """A turn of images holds ``count`` times the model's price per image (and no
    tokens: the images endpoint reports none); OverBudget when that does not fit."""
    cost = model.price_per_image * count
    today = timezone.localdate()
    over = quotas.first_exhausted(user, tokens=0, cost=cost, today=today)
    if over is not None:
        raise quotas.OverBudget(over, today)
    return Hold(model, 0, 0, cost)
