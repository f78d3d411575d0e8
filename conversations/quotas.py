"""Budgets in tokens and in money, per user and per team (Django group), per day and month.

A budget's use is what the ledger (UsageDaily) charged plus what running turns
hold (Reservation): a turn reserves its worst case before the upstream call and
is settled to its real usage at its end (conversations.budgets). A user without
a quota of their own gets the site-wide defaults (SiteSettings). A team budget
covers the summed use of all its members.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone

from conversations.models import Quota, Reservation, SiteSettings, UsageDaily

TOKENS, COST = "tokens", "cost"
WARN_AT = Decimal("0.8")  # the share of a budget at which the user is warned


@dataclass(frozen=True)
class Budget:
    scope: str  # "user" or the team's name
    period: str  # "day" or "month"
    limit: int | Decimal
    used: int | Decimal
    unit: str = TOKENS  # or COST (money, in the currency of the models' prices)
    fallback_model_id: int | None = None  # staff's cheaper model for when it is used up

    @property
    def left(self) -> int | Decimal:
        return max(0, self.limit - self.used)

    @property
    def is_team(self) -> bool:
        return self.scope != "user"

    def fits(self, *, tokens: int, cost: Decimal) -> bool:
        if self.unit == TOKENS:
            return self.used + max(tokens, 1) <= self.limit
        return self.used + cost <= self.limit and self.used < self.limit

    def share(self) -> Decimal:
        """How much of the budget is used (1 = all of it)."""
        if not self.limit:
            return Decimal(1)
        return Decimal(self.used) / Decimal(self.limit)

    def resets_at(self, today: date) -> datetime:
        if self.period == "day":
            start = today + timedelta(days=1)
        else:
            start = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
        return timezone.make_aware(datetime.combine(start, time.min))


class OverBudget(Exception):
    def __init__(self, budget: Budget, today: date):
        self.budget = budget
        self.resets_at = budget.resets_at(today)
        super().__init__(f"{budget.scope} {budget.period} {budget.unit} budget exhausted")


def budgets_for(user, today: date | None = None) -> list[Budget]:
    """Every budget that applies to the user, with what has been used (or held) of it.

    The user's quota and their teams' are read in one query (every turn start
    does this); use is summed only for the limits that are set.
    """
    today = today or timezone.localdate()
    quotas = Quota.objects.filter(Q(user=user) | Q(group__user=user)).select_related("group")
    own, teams = None, []
    for quota in quotas:
        if quota.user_id == user.pk:
            own = quota
        elif quota.group is not None:
            teams.append(quota.group)
    budgets = _user_budgets(user, own, today)
    for group in sorted(teams, key=lambda team: team.pk):
        budgets += team_budgets(group, today)
    return budgets


def team_budgets(group, today: date | None = None) -> list[Budget]:
    today = today or timezone.localdate()
    usage = UsageDaily.objects.filter(user__groups=group)
    held = Reservation.objects.filter(user__groups=group)
    return _limits(group.name, group.quota, usage, held, today)


def first_exhausted(
    user, *, tokens: int, cost: Decimal, today: date | None = None, units=(TOKENS, COST)
):
    """The first budget (of ``units``) that ``tokens`` and ``cost`` more would overshoot
    (None: all fit)."""
    today = today or timezone.localdate()
    for budget in budgets_for(user, today):
        if budget.unit in units and not budget.fits(tokens=tokens, cost=cost):
            return budget
    return None


def _user_budgets(user, quota: Quota | None, today: date) -> list[Budget]:
    if quota is None:
        site = SiteSettings.cached()  # read on every turn start
        quota = Quota(
            daily_tokens=site.default_daily_tokens,
            monthly_tokens=site.default_monthly_tokens,
            daily_cost=site.default_daily_cost,
            monthly_cost=site.default_monthly_cost,
        )
    usage = UsageDaily.objects.filter(user=user)
    held = Reservation.objects.filter(user=user)
    return _limits("user", quota, usage, held, today)


def _limits(scope: str, quota: Quota, usage, held, today: date) -> list[Budget]:
    month = today.replace(day=1)
    periods = {
        "day": (usage.filter(day=today), quota.daily_tokens, quota.daily_cost),
        "month": (usage.between(month, today), quota.monthly_tokens, quota.monthly_cost),
    }
    held_now = _held(held)  # a reservation lasts minutes: it counts in today and this month
    budgets = []
    for period, (rows, token_limit, cost_limit) in periods.items():
        if token_limit is None and cost_limit is None:
            continue
        totals = rows.totals()
        common = {"scope": scope, "period": period, "fallback_model_id": quota.fallback_model_id}
        if token_limit is not None:
            used = totals["prompt"] + totals["completion"] + held_now["tokens"]
            budgets.append(Budget(limit=token_limit, used=used, unit=TOKENS, **common))
        if cost_limit is not None:
            used = Decimal(totals["cost_sum"]) + held_now["cost"]
            budgets.append(Budget(limit=cost_limit, used=used, unit=COST, **common))
    return budgets


def _held(reservations) -> dict:
    totals = reservations.aggregate(tokens=Sum("tokens"), cost=Sum("cost"))
    return {"tokens": totals["tokens"] or 0, "cost": Decimal(totals["cost"] or 0)}
