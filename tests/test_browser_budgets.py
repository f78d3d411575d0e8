"""Budgets in the page: the 80 % warning and the note on an answer a fallback model wrote."""

from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import ModelConfig, Quota, UsageDaily
from tests.fakeupstream import Scenario

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def send(page, text: str) -> None:
    page.fill("#prompt", text)
    page.keyboard.press("Enter")


def used(user, tokens: int = 0, cost: str = "0") -> None:
    UsageDaily.objects.create(
        user=user, day=timezone.localdate(), model_name="gpt-4",
        prompt_tokens=tokens, cost=Decimal(cost),
    )  # fmt: skip


def test_an_answer_by_the_fallback_model_says_so(browse, alice, upstream_model, fake):
    upstream_model.price_input_per_million = Decimal(1000)
    upstream_model.save()
    cheap = ModelConfig.objects.create(
        provider=upstream_model.provider, model_id="gpt-4o-mini", display_name="Mini"
    )
    Quota.objects.create(user=alice, daily_cost=Decimal("0.05"), fallback_model=cheap)
    used(alice, cost="0.05")
    fake.enqueue(Scenario(tokens=["Cheaper", " answer"]))
    page, watched = browse(alice)
    send(page, "Hello")
    answer = page.locator(".message.assistant").last
    expect(answer).to_have_attribute("data-status", "complete", timeout=15_000)
    expect(answer.locator(".meta .notice")).to_have_text(
        "Your budget is used up: Mini answered instead of gpt-4."
    )
    expect(answer.locator(".meta .notice")).to_be_visible()
    assert watched.errors == []


def test_the_warning_appears_when_a_turn_reaches_80_percent(browse, alice, upstream_model, fake):
    upstream_model.max_output_tokens = 100
    upstream_model.save()
    Quota.objects.create(user=alice, daily_tokens=10_000)
    used(alice, tokens=7_990)
    fake.enqueue(Scenario(tokens=["a"] * 5, prompt_tokens=20))
    page, watched = browse(alice)
    notice = page.locator("#budget-notice")
    expect(notice).to_be_hidden()
    send(page, "Hello")
    expect(notice).to_be_visible(timeout=15_000)
    expect(notice).to_contain_text("You have used 80% of your budget")
    page.reload()
    expect(page.locator("#budget-notice")).to_contain_text("80%")
    assert watched.errors == []
