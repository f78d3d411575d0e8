"""Budgets in money (from the models' prices), the 80 % warning, the fallback model,
and every request that costs something counted: titles (apart) and regenerations."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from conversations import budgets
from conversations.models import (
    Conversation,
    Message,
    ModelConfig,
    Quota,
    Reservation,
    SiteSettings,
    UsageDaily,
)
from conversations.turn import titles
from tests.fakeupstream import Scenario

pytestmark = pytest.mark.django_db(transaction=True)

PRICE = Decimal(1000)  # per million tokens: 0.001 a token, in and out


@pytest.fixture
def priced(upstream_model) -> ModelConfig:
    upstream_model.price_input_per_million = PRICE
    upstream_model.price_output_per_million = PRICE
    upstream_model.save()
    return upstream_model


@pytest.fixture
def cheap(priced) -> ModelConfig:
    return ModelConfig.objects.create(
        provider=priced.provider, model_id="gpt-4o-mini", display_name="Mini", context_window=8192
    )


def spent(user, cost: str, day=None, tokens: int = 0) -> None:
    UsageDaily.objects.create(
        user=user, day=day or timezone.localdate(), model_name="gpt-4",
        prompt_tokens=tokens, cost=Decimal(cost),
    )  # fmt: skip


async def refused(socket, text="Hello", **extra):
    client_id = await socket.send_message(text, **extra)
    return await socket.next_of("error", client_id=client_id)


async def test_a_used_up_money_budget_refuses_saying_when_it_resets(
    alice, priced, fake, open_socket
):
    @database_sync_to_async
    def setup():
        Quota.objects.create(user=alice, daily_cost=Decimal("0.05"))
        spent(alice, "0.05")

    await setup()
    socket = await open_socket(alice)
    error = await refused(socket, params={"max_tokens": 1})
    assert (error["code"], error["unit"], error["period"]) == ("quota_exceeded", "cost", "day")
    assert datetime.fromisoformat(error["resets_at"]).date() == timezone.localdate() + timedelta(1)
    assert "spending budget of 0.05" in error["message"]
    assert fake.chat_requests == []


async def test_the_worst_case_cost_must_fit_the_money_left(alice, priced, fake, open_socket):
    await database_sync_to_async(Quota.objects.create)(user=alice, daily_cost=Decimal("0.05"))
    socket = await open_socket(alice)
    error = await refused(socket, params={"max_tokens": 100})  # 0.1 and more
    assert (error["code"], error["unit"]) == ("quota_exceeded", "cost")
    fake.enqueue(Scenario(tokens=["a"] * 5, prompt_tokens=10))
    assert (await socket.turn("Hello", params={"max_tokens": 20})).status == "complete"
    row = await database_sync_to_async(UsageDaily.objects.get)(user=alice)
    assert row.cost == Decimal("0.015")  # settled to the real 10 + 5 tokens


async def test_a_team_money_budget_for_the_month_covers_its_members(
    alice, bob, team, priced, fake, open_socket
):
    @database_sync_to_async
    def setup():
        alice.groups.add(team)
        bob.groups.add(team)
        Quota.objects.create(group=team, monthly_cost=Decimal("1.00"))
        spent(bob, "1.00", day=timezone.localdate().replace(day=1))

    await setup()
    socket = await open_socket(alice)
    error = await refused(socket, params={"max_tokens": 1})
    assert (error["scope"], error["period"], error["unit"]) == ("team", "month", "cost")
    assert "research" in error["message"]
    assert datetime.fromisoformat(error["resets_at"]).day == 1


async def test_the_site_default_money_budget_applies(alice, priced, fake, open_socket):
    @database_sync_to_async
    def setup():
        site = SiteSettings.load()
        site.default_daily_cost = Decimal("0.02")
        site.save()
        spent(alice, "0.02")

    await setup()
    socket = await open_socket(alice)
    assert (await refused(socket, params={"max_tokens": 1}))["unit"] == "cost"


async def test_a_fallback_model_answers_once_the_budget_is_used_up_and_says_so(
    alice, priced, cheap, fake, open_socket
):
    @database_sync_to_async
    def setup():
        Quota.objects.create(user=alice, daily_cost=Decimal("0.05"), fallback_model=cheap)
        spent(alice, "0.05")

    await setup()
    fake.enqueue(Scenario(tokens=["Cheaper", " answer"]))
    socket = await open_socket(alice)
    result = await socket.turn("Hello", params={"max_tokens": 50})
    assert result.status == "complete"
    assert fake.chat_requests[-1].body["model"] == "gpt-4o-mini"
    assert result.answer["model"] == "gpt-4o-mini"
    assert "Mini answered instead of gpt-4" in result.answer["notice"]
    stored = await database_sync_to_async(Message.objects.get)(pk=result.message_id)
    assert stored.notice == result.answer["notice"]
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=result.conversation_id)
    assert conversation.model_id == priced.pk  # the next turn asks for gpt-4 again
    names = await database_sync_to_async(list)(
        UsageDaily.objects.filter(user=alice, requests__gt=0).values_list("model_name", flat=True)
    )
    assert names == ["gpt-4o-mini"]


async def test_the_site_fallback_model_applies_without_a_quota_of_its_own(
    alice, priced, cheap, fake, open_socket
):
    @database_sync_to_async
    def setup():
        site = SiteSettings.load()
        site.default_daily_cost = Decimal("0.02")
        site.budget_fallback_model = cheap
        site.save()
        spent(alice, "0.02")

    await setup()
    socket = await open_socket(alice)
    result = await socket.turn("Hello", params={"max_tokens": 10})
    assert result.answer["model"] == "gpt-4o-mini" and result.answer["notice"]


async def test_a_fallback_that_does_not_fit_either_is_refused(
    alice, priced, cheap, fake, open_socket
):
    @database_sync_to_async
    def setup():
        Quota.objects.create(user=alice, daily_tokens=100, fallback_model=cheap)
        spent(alice, "0", tokens=100)  # tokens are used up whichever model answers

    await setup()
    socket = await open_socket(alice)
    error = await refused(socket, params={"max_tokens": 10})
    assert (error["code"], error["unit"]) == ("quota_exceeded", "tokens")
    assert fake.chat_requests == []


def test_the_chat_page_warns_at_80_percent_of_a_budget(client, alice):
    Quota.objects.create(user=alice, daily_tokens=100)
    UsageDaily.objects.create(
        user=alice, day=timezone.localdate(), model_name="gpt-4", prompt_tokens=79
    )
    client.force_login(alice)
    assert "of your budget" not in client.get("/").content.decode()
    UsageDaily.objects.filter(user=alice).update(prompt_tokens=85)
    page = client.get("/").content.decode()
    assert 'id="budget-notice" role="status">You have used 85% of your budget' in page


async def test_the_turn_end_warns_when_a_budget_reaches_80_percent(
    alice, priced, fake, open_socket
):
    @database_sync_to_async
    def setup():
        Quota.objects.create(user=alice, daily_tokens=1000)
        spent(alice, "0", tokens=790)

    await setup()
    fake.enqueue(Scenario(tokens=["a"] * 5, prompt_tokens=10))
    socket = await open_socket(alice)
    result = await socket.turn("Hello", params={"max_tokens": 20})
    frame = await socket.next_of("budget")
    assert frame["conversation_id"] == result.conversation_id
    assert frame["warning"].startswith("You have used 80% of your budget")


async def test_a_title_is_charged_to_the_owner_apart_from_answers(
    alice, priced, fake, open_socket, settings
):
    settings.CHATSITE_AUTO_TITLES = "model"
    fake.enqueue(Scenario(tokens=["Paris", " is", " lovely"], prompt_tokens=12))
    fake.enqueue(Scenario(tokens=["Trip", " to", " Paris"], prompt_tokens=40))
    socket = await open_socket(alice)
    await socket.turn("Plan a weekend in Paris please")
    await socket.next_of("conversation")
    rows = await database_sync_to_async(list)(
        UsageDaily.objects.filter(user=alice).values_list(
            "purpose", "requests", "prompt_tokens", "completion_tokens"
        )
    )
    assert sorted(rows) == [("chat", 1, 12, 3), ("title", 1, 40, 3)]


async def test_a_regenerated_answer_is_counted_too(alice, priced, fake, open_socket):
    socket = await open_socket(alice)
    first = await socket.turn("Hello")
    fake.enqueue(Scenario(tokens=["Another", " take"]))
    await socket.send(type="regenerate", message_id=first.message_id, client_id="regen-1")
    again = await socket.next_of_answer()
    await socket.next_of("done", message_id=again["id"])
    row = await database_sync_to_async(UsageDaily.objects.get)(user=alice, purpose="chat")
    assert row.requests == 2


def test_the_usage_report_shows_titles_apart(admin_client, alice):
    today = timezone.localdate()
    for purpose, tokens in [("chat", 1000), ("title", 40)]:
        UsageDaily.objects.create(
            user=alice, day=today, model_name="gpt-4", purpose=purpose, requests=1,
            prompt_tokens=tokens,
        )  # fmt: skip
    page = admin_client.get("/admin/conversations/usagedaily/?group=purpose").content.decode()
    assert "automatic titles" in page and "answers" in page


def test_the_settings_page_shows_money_budgets_apart_from_tokens(client, alice):
    Quota.objects.create(user=alice, daily_tokens=500, daily_cost=Decimal("2.5"))
    spent(alice, "0.75", tokens=100)
    client.force_login(alice)
    page = client.get("/settings/").content.decode()
    assert "(spending)" in page and "(tokens)" in page
    assert "<td>0.75</td><td>2.50</td><td>1.75</td>" in page
    assert "<td>100</td><td>500</td><td>400</td>" in page


def test_staff_set_money_budgets_and_a_fallback_model_in_the_admin(admin_client, alice, cheap):
    page = admin_client.get("/admin/conversations/quota/add/").content.decode()
    assert 'name="daily_cost"' in page and 'name="fallback_model"' in page
    page = admin_client.get("/admin/conversations/sitesettings/", follow=True).content.decode()
    assert 'name="default_daily_cost"' in page and 'name="budget_fallback_model"' in page


def test_the_settings_page_shows_title_usage_apart(client, alice):
    for purpose in ["chat", "title"]:
        UsageDaily.objects.create(
            user=alice, day=timezone.localdate(), model_name="gpt-4", purpose=purpose,
            requests=1, prompt_tokens=10,
        )  # fmt: skip
    client.force_login(alice)
    page = client.get("/settings/").content.decode()
    assert "<td>gpt-4 (automatic titles)</td>" in page and "<td>gpt-4</td>" in page


async def test_a_title_that_does_not_fit_the_budget_is_not_asked_for(
    alice, priced, fake, open_socket, settings
):
    # Before, the title was asked for regardless and charged 43 tokens into a budget
    # of 40 the answer had left 25 of.
    settings.CHATSITE_AUTO_TITLES = "model"
    await database_sync_to_async(Quota.objects.create)(user=alice, daily_tokens=40)
    fake.enqueue(Scenario(tokens=["Paris", " is", " lovely"], prompt_tokens=12))
    fake.enqueue(Scenario(tokens=["Trip", " to", " Paris"], prompt_tokens=40))
    socket = await open_socket(alice)
    await socket.turn("Plan a weekend in Paris please", params={"max_tokens": 20})
    frame = await socket.next_of("conversation")
    assert frame["conversation"]["title"] == "Plan a weekend in Paris please"
    assert len(fake.chat_requests) == 1
    rows = await database_sync_to_async(list)(
        UsageDaily.objects.filter(user=alice).values_list("purpose", "prompt_tokens")
    )
    assert rows == [("chat", 12)]


async def test_a_title_under_way_holds_its_worst_case(alice, priced, fake, open_socket, settings):
    settings.CHATSITE_AUTO_TITLES = "model"
    await database_sync_to_async(Quota.objects.create)(user=alice, daily_tokens=10_000)
    fake.enqueue(Scenario(tokens=["Sure"], prompt_tokens=12))
    fake.enqueue(Scenario(tokens=["Trip"], prompt_tokens=40, first_byte_delay=1.0))
    socket = await open_socket(alice)
    result = await socket.turn("Plan a weekend in Paris please", params={"max_tokens": 20})
    await fake.wait_for_requests_async(2)
    hold = await database_sync_to_async(Reservation.objects.get)()
    assert str(hold.message_id) == result.message_id and hold.answers == []
    assert hold.tokens == hold.prompt_tokens + titles.TITLE_TOKENS
    await socket.next_of("conversation", timeout=10)
    assert await database_sync_to_async(Reservation.objects.count)() == 0
    row = await database_sync_to_async(UsageDaily.objects.get)(user=alice, purpose="title")
    assert (row.prompt_tokens, row.completion_tokens) == (40, 1)


def test_the_sweeper_leaves_a_title_under_way_and_releases_a_lost_one(alice, priced):
    Quota.objects.create(user=alice, daily_tokens=10_000)
    conversation = Conversation.objects.create(owner=alice)
    question = Message.objects.create(conversation=conversation, role="user", content="Hi")
    answer = Message.objects.create(
        conversation=conversation,
        parent=question,
        role="assistant",
        content="Hello",
        status="complete",
    )
    body = titles.title_body(priced, "Hi", "Hello")
    assert budgets.hold_title(
        conversation_id=conversation.pk, answer_id=answer.pk, model=priced, body=body
    )
    assert budgets.release_abandoned() == 0
    hold = Reservation.objects.get()
    Reservation.objects.update(created=timezone.now() - timedelta(hours=1))
    assert budgets.release_abandoned() == 1
    row = UsageDaily.objects.get(user=alice)
    assert (row.purpose, row.prompt_tokens, row.completion_tokens) == (
        "title",
        hold.prompt_tokens,
        0,
    )
