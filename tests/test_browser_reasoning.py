"""A reasoning model's thinking in real Chromium: collapsed above the answer,
"Thinking…" while it streams, "Thought for … s" after, expandable as sanitised
markdown, the same after a reload and in a tab that joins late."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Message
from tests.browser import screenshot
from tests.fakeupstream import Scenario

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

THOUGHT_FOR = re.compile(r"^Thought for \d+ s$")


def thoughts(count: int) -> list[str]:
    return ["Let me think **hard**", ' <img src="x" onerror="alert(1)">'] + [
        f" step{i}" for i in range(count)
    ]


def send(page, text: str) -> None:
    page.fill("#prompt", text)
    page.keyboard.press("Enter")


def last_answer(page):
    return page.locator(".message.assistant").last


def test_reasoning_streams_collapsed_then_reads_as_markdown_and_survives_a_reload(
    browse, alice, upstream_model, fake
):
    fake.enqueue(Scenario(reasoning=thoughts(30), tokens=["The", " answer", "."], delay=0.08))
    page, watched = browse(alice)
    send(page, "Think before you answer")
    answer = last_answer(page)
    reasoning = answer.locator("details.reasoning")
    expect(reasoning.locator("summary")).to_have_text("Thinking…")
    expect(reasoning).not_to_have_attribute("open", "")
    expect(reasoning.locator(".reasoning-text")).to_be_hidden()
    expect(answer).to_have_attribute("data-status", "complete", timeout=15_000)
    expect(reasoning.locator("summary")).to_have_text(THOUGHT_FOR)
    expect(answer.locator(".body")).to_have_text("The answer.")  # the answer alone
    reasoning.locator("summary").click()
    text = reasoning.locator(".reasoning-text")
    expect(text).to_contain_text("step29")
    expect(text.locator("strong")).to_have_text("hard")  # markdown, rendered
    expect(text).to_contain_text('<img src="x" onerror="alert(1)">')  # HTML shown as text
    assert text.locator("img").count() == 0
    screenshot(page, "desktop-light-reasoning")

    page.reload()
    answer = last_answer(page)
    reasoning = answer.locator("details.reasoning")
    stored = Message.objects.get(role="assistant")
    seconds = max(1, round(stored.reasoning_ms / 1000))
    expect(reasoning.locator("summary")).to_have_text(f"Thought for {seconds} s")
    reasoning.locator("summary").click()
    expect(reasoning.locator(".reasoning-text")).to_contain_text("step29")
    expect(answer.locator(".body")).to_have_text("The answer.")
    assert watched.errors == [] and watched.dialogs == []


def test_an_answer_without_reasoning_shows_no_reasoning_block(browse, alice, upstream_model, fake):
    fake.enqueue(Scenario(tokens=["Plain", " answer"]))
    page, _ = browse(alice)
    send(page, "Just answer")
    answer = last_answer(page)
    expect(answer).to_have_attribute("data-status", "complete")
    expect(answer.locator("details.reasoning")).to_be_hidden()


def test_a_tab_joining_while_the_model_thinks_shows_the_thinking_so_far(
    browse, alice, upstream_model, fake
):
    fake.enqueue(Scenario(reasoning=thoughts(60), tokens=["Done", "."], delay=0.08))
    writer, _ = browse(alice)
    send(writer, "Think for a while")
    expect(last_answer(writer).locator("details.reasoning summary")).to_have_text("Thinking…")
    expect(writer).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    path = "/" + writer.url.split("/", 3)[3]
    reader, watched = browse(alice, path=path)
    answer = last_answer(reader)
    reasoning = answer.locator("details.reasoning")
    expect(reasoning.locator("summary")).to_have_text("Thinking…")
    reasoning.locator("summary").click()
    expect(reasoning.locator(".reasoning-text")).to_contain_text("step5")
    expect(reasoning.locator(".reasoning-text")).to_contain_text("step59", timeout=15_000)
    expect(answer).to_have_attribute("data-status", "complete", timeout=15_000)
    expect(reasoning.locator("summary")).to_have_text(THOUGHT_FOR)
    expect(answer.locator(".body")).to_have_text("Done.")
    shown = reasoning.locator(".reasoning-text").inner_text()
    stored = Message.objects.get(role="assistant")
    assert shown.split() == stored.reasoning.replace("**", "").split()
    assert watched.errors == []
