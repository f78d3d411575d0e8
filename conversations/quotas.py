"""Token budgets per user and per team (Django group), per day and per month.

A turn is checked before the upstream call, with the estimated size of its
prompt; what it really used is charged to the usage ledger afterwards. A user
without a quota of their own gets the site-wide default (SiteSettings). A team
budget covers the summed usage of all its members.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Q, Sum
from django.utils import timezone

from conversations.models import Quota, SiteSettings, UsageDaily


@dataclass(frozen=True)
class Budget:
    scope: str  # "user" or the team's name
    period: str  # "day" or "month"
    limit: int
    used: int

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)

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
        super().__init__(f"{budget.scope} {budget.period} budget exhausted")


def budgets_for(user, today: date | None = None) -> list[Budget]:
    """Every budget that applies to the user, with what has been used of it.

    The user's quota and their teams' are read in one query (every turn start
    does this); usage is summed only for the limits that are set.
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
    team_usage = UsageDaily.objects.filter(user__groups=group)
    return _limits(group.name, group.quota, team_usage, today)


def check(user, needed: int, today: date | None = None) -> None:
    """Refuse (OverBudget) when any budget has less than `needed` tokens left."""
    today = today or timezone.localdate()
    for budget in budgets_for(user, today):
        if budget.left < max(needed, 1):
            raise OverBudget(budget, today)


def _user_budgets(user, quota: Quota | None, today: date) -> list[Budget]:
    if quota is None:
        site = SiteSettings.cached()  # read on every turn start
        quota = Quota(
            daily_tokens=site.default_daily_tokens, monthly_tokens=site.default_monthly_tokens
        )
    usage = UsageDaily.objects.filter(user=user)
    return _limits("user", quota, usage, today)


def _limits(scope: str, quota: Quota, usage, today: date) -> list[Budget]:
    budgets = []
    if quota.daily_tokens is not None:
        used = _tokens(usage.filter(day=today))
        budgets.append(Budget(scope, "day", quota.daily_tokens, used))
    if quota.monthly_tokens is not None:
        used = _tokens(usage.filter(day__gte=today.replace(day=1), day__lte=today))
        budgets.append(Budget(scope, "month", quota.monthly_tokens, used))
    return budgets


def _tokens(usage) -> int:
    totals = usage.aggregate(prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"))
    return (totals["prompt"] or 0) + (totals["completion"] or 0)
