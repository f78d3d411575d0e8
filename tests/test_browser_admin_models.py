"""In Chromium: the models list keeps Enabled and Default on screen right after a sync."""

import pytest
from playwright.sync_api import expect

from conversations.models import ModelConfig, Provider
from tests.browser import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MODELS_LIST = "/admin/conversations/modelconfig/"
# What a sync from a busy server leaves: long ids, some display names, every kind.
SYNCED = [
    ("meta-llama/Llama-3.1-8B-Instruct", "", "chat", "listed"),
    ("HuggingFaceTB/SmolLM2-135M-Instruct", "SmolLM2 (tiny, for tests)", "chat", "guessed"),
    ("mistralai/Mistral-Small-3.2-24B-Instruct-2506", "", "chat", "listed"),
    ("text-embedding-3-small", "", "embedding", "known"),
    ("gpt-4o-mini-2024-07-18", "GPT-4o mini", "chat", "known"),
    ("whisper-1", "", "other", "guessed"),
    ("dall-e-3", "", "image", "guessed"),
]


@pytest.fixture
def synced_models(db) -> list[ModelConfig]:
    provider = Provider.objects.create(
        name="Team vLLM cluster", base_url="http://127.0.0.1:9/v1", allow_local_network=True
    )
    return [
        ModelConfig.objects.create(
            provider=provider,
            model_id=model_id,
            display_name=display_name,
            kind=kind,
            context_window_source=source,
            enabled=False,
        )
        for model_id, display_name, kind, source in SYNCED
    ]


def within_view(page, locator) -> bool:
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


@pytest.mark.parametrize("width", [1280, 1600])
def test_enabled_and_default_are_on_screen_without_scrolling_sideways(
    browse, superuser, synced_models, width
):
    page, watched = browse(superuser, viewport={"width": width, "height": 900}, path=MODELS_LIST)
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(len(SYNCED))
    screenshot(page, f"admin-models-{width}")
    first = rows.first
    assert within_view(page, first.locator("td.field-enabled input[type=checkbox]"))
    assert within_view(page, first.locator("td.field-default img"))
    assert within_view(page, first.locator("td.field-visible_to_users"))
    assert within_view(page, page.locator("#changelist-filter"))
    sideways = page.evaluate(
        "() => [document.documentElement.scrollWidth - innerWidth,"
        " document.querySelector('.results').scrollWidth"
        " - document.querySelector('.results').clientWidth]"
    )
    assert sideways == [0, 0]
    assert watched.errors == []


def test_enabling_a_synced_model_from_the_list_makes_it_visible(browse, superuser, synced_models):
    page, _ = browse(superuser, viewport={"width": 1280, "height": 900}, path=MODELS_LIST)
    row = page.locator("#result_list tbody tr", has_text="meta-llama/Llama-3.1-8B-Instruct")
    expect(row.locator("td.field-visible_to_users")).to_have_text("No: disabled")
    row.locator("td.field-enabled input").check()
    page.locator("input[name=_save]").click()
    expect(row.locator("td.field-visible_to_users")).to_have_text("Everyone")
    guessed = page.locator("#result_list tbody tr", has_text="SmolLM2-135M-Instruct")
    expect(guessed.locator(".badge.source-guessed")).to_have_text("guess")


def test_sync_says_it_is_syncing_until_the_provider_has_answered(browse, superuser, upstream_model):
    provider = upstream_model.provider
    page, watched = browse(superuser, path=f"/admin/conversations/provider/{provider.pk}/change/")
    # Keep the page where it is after the submit, as a slow provider would: the
    # window hears the submit last, after the page's own handler.
    page.evaluate("window.addEventListener('submit', (event) => event.preventDefault())")
    page.get_by_role("button", name="Sync models").click()
    busy = page.get_by_role("button", name="Syncing models…")
    expect(busy).to_be_disabled()
    expect(page.locator("form[aria-busy=true]")).to_have_count(1)
    assert watched.errors == []
