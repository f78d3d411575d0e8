"""Token budgets (user and team, day and month) and the message rate limit."""

from datetime import date, datetime, timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from conversations import quotas
from conversations.models import Message, Quota, SiteSettings, UsageDaily

pytestmark = pytest.mark.django_db(transaction=True)


def used(user, tokens: int, day: date | None = None) -> None:
    UsageDaily.objects.create(
        user=user, day=day or timezone.localdate(), model_name="gpt-4", prompt_tokens=tokens
    )


async def refused(socket, text="Hello"):
    client_id = await socket.send_message(text)
    return await socket.next_of("error", client_id=client_id)


async def test_an_exhausted_daily_budget_refuses_before_the_upstream_call(
    alice, upstream_model, fake, open_socket
):
    await database_sync_to_async(Quota.objects.create)(user=alice, daily_tokens=100)
    await database_sync_to_async(used)(alice, 100)
    socket = await open_socket(alice)
    error = await refused(socket)
    assert (error["code"], error["period"], error["scope"]) == ("quota_exceeded", "day", "user")
    tomorrow = timezone.localdate() + timedelta(days=1)
    assert datetime.fromisoformat(error["resets_at"]).date() == tomorrow
    assert "100" in error["message"]
    assert fake.chat_requests == []
    assert await database_sync_to_async(Message.objects.count)() == 0


async def test_the_estimated_prompt_must_fit_what_is_left(alice, upstream_model, fake, open_socket):
    await database_sync_to_async(Quota.objects.create)(user=alice, daily_tokens=100)
    await database_sync_to_async(used)(alice, 95)
    socket = await open_socket(alice)
    error = await refused(socket, "a fairly long question that certainly needs more than five")
    assert error["code"] == "quota_exceeded"


async def test_usage_is_charged_after_the_turn_and_then_counts(
    alice, upstream_model, fake, open_socket
):
    from tests.fakeupstream import Scenario

    await database_sync_to_async(Quota.objects.create)(user=alice, daily_tokens=60)
    fake.enqueue(Scenario(tokens=["ok"] * 20, prompt_tokens=40))
    socket = await open_socket(alice)
    await socket.turn("First", params={"max_tokens": 10})  # its worst case fits
    error = await refused(socket)
    assert error["code"] == "quota_exceeded"


async def test_a_monthly_budget_counts_the_whole_month(alice, upstream_model, fake, open_socket):
    await database_sync_to_async(Quota.objects.create)(user=alice, monthly_tokens=1000)
    today = timezone.localdate()
    if today.day > 1:
        await database_sync_to_async(used)(alice, 999, today.replace(day=1))
    else:
        await database_sync_to_async(used)(alice, 999, today)
    socket = await open_socket(alice)
    error = await refused(socket)
    assert (error["code"], error["period"]) == ("quota_exceeded", "month")
    assert datetime.fromisoformat(error["resets_at"]).day == 1


async def test_a_team_budget_covers_all_members(
    alice, bob, team, upstream_model, fake, open_socket
):
    @database_sync_to_async
    def setup():
        alice.groups.add(team)
        bob.groups.add(team)
        Quota.objects.create(group=team, daily_tokens=500)
        used(alice, 300)
        used(bob, 200)

    await setup()
    socket = await open_socket(bob)
    error = await refused(socket)
    assert (error["code"], error["scope"]) == ("quota_exceeded", "team")
    assert "research" in error["message"]


async def test_the_site_default_applies_without_an_own_quota(
    alice, upstream_model, fake, open_socket
):
    @database_sync_to_async
    def setup():
        site = SiteSettings.load()
        site.default_daily_tokens = 10
        site.save()
        used(alice, 10)

    await setup()
    socket = await open_socket(alice)
    assert (await refused(socket))["code"] == "quota_exceeded"


async def test_an_own_quota_overrides_the_site_default(alice, upstream_model, fake, open_socket):
    @database_sync_to_async
    def setup():
        site = SiteSettings.load()
        site.default_daily_tokens = 10
        site.save()
        Quota.objects.create(user=alice, daily_tokens=None)  # unlimited
        used(alice, 10_000)

    await setup()
    socket = await open_socket(alice)
    result = await socket.turn("Hello")
    assert result.status == "complete"


async def test_the_message_rate_is_limited_per_user(
    alice, bob, upstream_model, fake, open_socket, settings
):
    settings.CHATSITE_MESSAGES_PER_MINUTE = 2
    socket = await open_socket(alice)
    first = await socket.turn("one")
    await socket.turn("two", conversation_id=first.conversation_id)
    error = await refused(socket)
    assert error["code"] == "rate_limited"
    assert 0 < error["retry_after"] <= 61
    other = await open_socket(bob)
    assert (await other.turn("mine")).status == "complete"  # per user


def test_budgets_report_what_is_left(alice):
    Quota.objects.create(user=alice, daily_tokens=100, monthly_tokens=1000)
    used(alice, 30)
    budgets = {(b.scope, b.period): b.left for b in quotas.budgets_for(alice)}
    assert budgets == {("user", "day"): 70, ("user", "month"): 970}


def test_a_month_resets_on_the_first_of_the_next(alice):
    budget = quotas.Budget("user", "month", 10, 10)
    assert budget.resets_at(date(2026, 12, 31)).date() == date(2027, 1, 1)
    assert budget.resets_at(date(2026, 2, 28)).date() == date(2026, 3, 1)
