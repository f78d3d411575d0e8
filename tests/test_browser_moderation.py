"""In a real browser: a message the moderation check flags is refused, its categories shown."""

import pytest
from playwright.sync_api import expect

from conversations.models import Message, SiteSettings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_moderated_message_is_refused_with_its_categories(
    browse, alice, superuser, upstream_model, fake
):
    # Set in the admin, so the live worker's cached settings are cleared as in production.
    admin, _ = browse(superuser, path="/admin/conversations/sitesettings/")
    admin.check("#id_moderation_enabled")
    admin.select_option("#id_moderation_provider", str(upstream_model.provider.pk))
    admin.locator("input[name=_save]").click()
    expect(admin.locator(".messagelist")).to_be_visible()
    assert SiteSettings.load().moderation_provider_id == upstream_model.provider.pk

    page, watched = browse(alice)
    page.fill("#prompt", "You are awful FLAGME")
    page.keyboard.press("Enter")
    question = page.locator(".message.user").last
    expect(question).to_have_attribute("data-status", "moderated", timeout=10_000)
    expect(question.locator(".status")).to_contain_text("Flagged for: harassment, violence.")
    answer = page.locator(".message.assistant").last
    expect(answer).to_have_attribute("data-status", "moderated")
    expect(answer.locator(".status")).to_contain_text("not sent to the model")
    expect(question.locator(".body")).to_have_text("You are awful FLAGME")  # kept
    expect(page.locator("#flag-state")).to_have_text("Flagged for review by the moderation check")
    expect(page.locator("#flag-toggle")).to_be_disabled()  # the owner cannot clear it
    assert fake.chat_requests == []
    assert Message.objects.get(role="user").status == "moderated"
    assert watched.errors == []
