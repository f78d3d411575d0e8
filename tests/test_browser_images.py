"""An image model picked in the chat: the page says it is generating, then shows the
images, loaded from the site itself under its strict Content-Security-Policy."""

import pytest
from playwright.sync_api import expect

from conversations.models import GeneratedImage, ModelConfig
from tests.test_browser_csp import COUNT_VIOLATIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def image_model(upstream_model) -> ModelConfig:
    return ModelConfig.objects.create(
        provider=upstream_model.provider, model_id="dall-e-2", display_name="Painter",
        kind="image", context_window=8192,
    )  # fmt: skip


def test_an_image_appears_in_the_chat_and_loads_from_the_site(browse, alice, image_model, live_app):
    page, watched = browse(alice)
    page.evaluate(COUNT_VIOLATIONS)
    page.select_option("#model-picker", label="Painter")
    page.fill("#prompt", "A red square [[image:wait]]")
    page.keyboard.press("Enter")

    answer = page.locator(".message.assistant").last
    expect(answer.locator(".generating")).to_be_visible(timeout=5_000)
    expect(answer).to_have_attribute("data-status", "complete", timeout=20_000)
    image = answer.locator(".answer-images img")
    expect(image).to_have_count(1)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.answer-images img')]"
        ".every((img) => img.complete && img.naturalWidth > 0)",
        timeout=5_000,
    )
    source = image.evaluate("(img) => img.src")
    assert source.startswith(f"{live_app.url}/images/")
    assert page.evaluate("window.__violations") == []
    assert watched.foreign_requests == []

    for row in GeneratedImage.objects.all():
        row.delete()  # the test leaves no file behind
