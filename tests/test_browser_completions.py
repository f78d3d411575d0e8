"""A completion document in real Chromium: opened from the chat's model picker, the
continuation streams token by token, and each token shows its probability and the
alternatives on hover."""

import pytest
from playwright.sync_api import expect

from conversations.models import Message, ModelConfig

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def completion_model(upstream_model) -> ModelConfig:
    return ModelConfig.objects.create(
        provider=upstream_model.provider,
        model_id="gpt-3.5-turbo-instruct",
        kind=ModelConfig.Kind.COMPLETION,
        context_window=4096,
    )


def test_a_completion_streams_and_shows_logprobs_on_hover(browse, alice, completion_model, fake):
    page, watched = browse(alice)
    page.select_option("#model-picker", label="gpt-3.5-turbo-instruct")
    page.wait_for_url(f"**/documents/new/?model={completion_model.pk}")
    expect(page.locator(".document-intro")).to_contain_text("continues the text you write")
    page.fill("#document-prompt", "[[fake:tokens=30,delay=60]] Once")
    page.fill("#p-max_tokens", "40")
    page.fill("#p-logprobs", "2")
    page.click("#document-run")
    result = page.locator(".document-result").first
    expect(result.locator(".result-status")).to_have_text("Writing…")
    expect(result.locator(".completion-text")).to_contain_text(" Once upon")
    expect(page.locator("#document-stop")).to_be_visible()
    expect(result.locator(".result-status")).to_have_text("Complete.", timeout=15_000)
    tokens = result.locator(".token")
    expect(tokens).to_have_count(30)
    tokens.nth(1).hover()
    info = page.locator("#token-info")
    expect(info).to_contain_text('" upon" · probability 90.48 %')
    expect(info).to_contain_text('" alt1"')
    answer = Message.objects.get(role="assistant")
    assert answer.conversation.mode == "completion"
    assert page.url.endswith(f"/documents/{answer.conversation_id}/")
    assert not watched.errors and not watched.foreign_requests


def test_best_of_shows_working_then_the_result(browse, alice, completion_model, fake):
    page, watched = browse(alice, path=f"/documents/new/?model={completion_model.pk}")
    page.fill("#document-prompt", "[[fake:tokens=5,delay=300]] Once")
    page.fill("#p-best_of", "2")
    page.uncheck("#p-stream")
    page.click("#document-run")
    result = page.locator(".document-result").first
    expect(result.locator(".result-status")).to_have_text("Working…")
    expect(result.locator(".completion-text")).to_have_text("")
    expect(result.locator(".result-status")).to_have_text("Complete.", timeout=15_000)
    expect(result.locator(".completion-text")).to_have_text(" Once upon a time there")
    assert fake.requests[-1].body["best_of"] == 2 and fake.requests[-1].body["stream"] is False
    assert not watched.errors
