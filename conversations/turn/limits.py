"""What a turn may not do: run twice in one conversation, or exceed a user's caps.

Caps: answers being written at once, messages per minute (counted in the
cache, which is Redis when several workers run), and token budgets.
"""

import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.utils import formats
from django.utils.translation import gettext as _

from conversations import quotas
from conversations.models import Conversation, Message
from conversations.refusals import Refused

RATE_WINDOW = 60  # seconds


class LimitReached(Refused):
    """A cap stops the turn: busy conversation, too many at once, too fast, no budget."""

    status = 429


def admit(user) -> None:
    """The first step of every turn start: one at a time per user, at a bounded rate."""
    lock_user(user)
    refuse_if_too_fast(user)


def lock_user(user) -> None:
    """Serialise one user's turn starts, so the concurrency cap cannot be raced."""
    if not connection.features.has_select_for_update:
        return  # SQLite: the transaction (BEGIN IMMEDIATE) already serialises all writers
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()


def refuse_if_busy(conversation: Conversation) -> None:
    if conversation.messages.filter(status=Message.Status.STREAMING).exists():
        raise _busy()


def refuse_if_over_cap(user) -> None:
    running = Message.objects.for_user(user).streaming().count()
    if running >= settings.CHATSITE_MAX_CONCURRENT_GENERATIONS:
        raise _over_cap(running)


def refuse_if_busy_or_over_cap(user, conversation: Conversation) -> None:
    """Both checks in one read (a turn start runs it before the upstream call)."""
    running = Message.objects.for_user(user).streaming().values_list("conversation_id", flat=True)
    running = list(running)
    if conversation.pk in running:
        raise _busy()
    if len(running) >= settings.CHATSITE_MAX_CONCURRENT_GENERATIONS:
        raise _over_cap(len(running))


def _busy() -> LimitReached:
    message = _("An answer is still being written in this conversation; stop it first.")
    return LimitReached("busy", message)


def _over_cap(running: int) -> LimitReached:
    message = _("You already have %(count)s answers being written; wait for one to finish.")
    return LimitReached("rate_limited", message % {"count": running}, retry_after=5)


def refuse_if_too_fast(user) -> None:
    """At most CHATSITE_MESSAGES_PER_MINUTE turn starts per user per minute."""
    now = time.time()
    key = f"chatsite:rate:{user.pk}:{int(now // RATE_WINDOW)}"
    cache.add(key, 0, timeout=RATE_WINDOW * 2)
    if cache.incr(key) > settings.CHATSITE_MESSAGES_PER_MINUTE:
        wait = round(RATE_WINDOW - now % RATE_WINDOW) + 1
        raise LimitReached(
            "rate_limited",
            _("You are sending messages too fast; try again in %(seconds)s seconds.")
            % {"seconds": wait},
            retry_after=wait,
        )


def over_budget(over: quotas.OverBudget) -> LimitReached:
    """The typed refusal of a used-up budget, saying when it resets."""
    return LimitReached(
        "quota_exceeded",
        _budget_message(over),
        resets_at=over.resets_at.isoformat(),
        period=over.budget.period,
        scope="team" if over.budget.is_team else "user",
        unit=over.budget.unit,
    )


def _budget_message(over: quotas.OverBudget) -> str:
    when = formats.date_format(over.resets_at, "DATETIME_FORMAT")
    values = {"limit": over.budget.limit, "when": when, "team": over.budget.scope}
    if over.budget.unit == quotas.COST:
        values["limit"] = formats.number_format(over.budget.limit, 2)
        return _money_message(over) % values
    messages = {
        ("user", "day"): _("You have used your %(limit)s tokens for today. More on %(when)s."),
        ("user", "month"): _(
            "You have used your %(limit)s tokens for this month. More on %(when)s."
        ),
        ("team", "day"): _(
            "Team %(team)s has used its %(limit)s tokens for today. More on %(when)s."
        ),
        ("team", "month"): _(
            "Team %(team)s has used its %(limit)s tokens for this month. More on %(when)s."
        ),
    }
    scope = "team" if over.budget.is_team else "user"
    return messages[(scope, over.budget.period)] % values


def _money_message(over: quotas.OverBudget) -> str:
    scope = "team" if over.budget.is_team else "user"
    return {
        ("user", "day"): _(
            "You have used your spending budget of %(limit)s for today. More on %(when)s."
        ),
        ("user", "month"): _(
            "You have used your spending budget of %(limit)s for this month. More on %(when)s."
        ),
        ("team", "day"): _(
            "Team %(team)s has used its spending budget of %(limit)s for today. More on %(when)s."
        ),
        ("team", "month"): _(
            "Team %(team)s has used its spending budget of %(limit)s for this month. "
            "More on %(when)s."
        ),
    }[(scope, over.budget.period)]
