"""In the page: the provider's wait is shown counting down, and errors read by code."""

import pytest
from playwright.sync_api import expect

from tests.fakeupstream import Scenario
from tests.test_provider_errors import LEAKY_PAGE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def send(page, text: str) -> None:
    page.fill("#prompt", text)
    page.keyboard.press("Enter")


def test_the_page_counts_down_while_the_provider_is_busy(browse, alice, upstream_model, fake):
    fake.enqueue(Scenario(error="rate_limited", headers={"retry-after": "3"}))
    fake.enqueue(Scenario(tokens=["Worth", " the", " wait"]))
    page, watched = browse(alice)
    send(page, "Hello")
    answer = page.locator(".message.assistant").last
    status = answer.locator(".status")
    expect(status).to_contain_text("The provider is busy — retrying in 3 s")
    expect(status).to_contain_text("retrying in 1 s", timeout=4_000)  # it counts down
    expect(answer).to_have_attribute("data-status", "complete", timeout=10_000)
    expect(answer.locator(".body")).to_have_text("Worth the wait")
    expect(status).to_be_hidden()
    assert watched.errors == []


def test_a_failed_answer_reads_the_code_in_the_users_language(browse, alice, upstream_model, fake):
    for _ in range(3):
        fake.enqueue(Scenario(status=502, raw_body=LEAKY_PAGE, content_type="text/html"))
    page, _ = browse(alice, locale="zh-CN")
    send(page, "你好")
    answer = page.locator(".message.assistant").last
    expect(answer).to_have_attribute("data-status", "error", timeout=15_000)
    expect(answer.locator(".status")).to_contain_text("该模型的服务商暂时不可用")
    assert "vllm-03" not in page.content()
