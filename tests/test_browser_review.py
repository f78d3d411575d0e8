"""In a real browser: staff give a reason before a transcript shows, the owner is
told once, and a staff flag shows on the owner's page with its control disabled."""

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Message, SiteSettings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "The plan is Lisbon in May."


def chat(owner, **fields) -> Conversation:
    conversation = Conversation.objects.create(owner=owner, title="Holiday plans", **fields)
    message = Message.objects.create(conversation=conversation, role="user", content=SECRET)
    conversation.current_leaf = message
    conversation.save()
    return conversation


def test_a_reading_with_a_reason_is_told_to_the_owner_once(browse, alice, bob, superuser):
    conversation = chat(alice)
    # Set in the admin, so the live worker's cached settings are cleared as in production.
    page, watched = browse(superuser, path="/admin/conversations/sitesettings/")
    page.select_option("#id_review_policy", "full")
    page.check("#id_tell_owners_of_readings")
    page.locator("input[name=_save]").click()
    expect(page.locator(".messagelist")).to_be_visible()
    assert SiteSettings.load().tell_owners_of_readings
    page.goto(f"/admin/conversations/conversation/{conversation.pk}/transcript/")
    expect(page.locator("input[name=reason]")).to_be_visible()
    assert SECRET not in page.content()
    page.locator("input[type=submit]").click()  # no reason: refused, still no text
    expect(page.locator(".errornote")).to_contain_text("Give a reason")
    assert SECRET not in page.content()
    page.fill("input[name=reason]", "Ticket 881")
    page.locator("input[type=submit]").click()
    expect(page.locator("ol.transcript")).to_contain_text(SECRET)

    owner, owner_watched = browse(alice)
    notice = owner.locator("#readings-notice")
    expect(notice).to_contain_text("root read “Holiday plans”")
    expect(notice).to_contain_text("Reason given: Ticket 881")
    owner.locator("#readings-dismiss").click()
    owner.wait_for_load_state()
    expect(owner.locator("#thread-title")).to_be_visible()
    owner.reload()
    expect(owner.locator("#readings-notice")).to_have_count(0)

    other, _ = browse(bob)
    expect(other.locator("#thread-title")).to_be_visible()
    expect(other.locator("#readings-notice")).to_have_count(0)
    assert watched.errors == [] and owner_watched.errors == []


def test_a_staff_flag_shows_and_its_control_is_disabled_while_the_own_flag_toggles(
    browse, alice, staff
):
    flagged = chat(alice, flagged=True, flag_reason="Report #7", flagged_by=staff)
    page, watched = browse(alice, path=f"/c/{flagged.pk}/")
    expect(page.locator("#flag-state")).to_have_text("Flagged by staff for review")
    expect(page.locator("#flag-toggle")).to_be_disabled()
    title = page.locator("#flag-toggle").get_attribute("title")
    assert "only staff can remove the flag" in title

    mine = chat(alice)
    page.goto(f"/c/{mine.pk}/")
    toggle = page.locator("#flag-toggle")
    expect(toggle).to_have_text("Flag for review")
    toggle.click()
    expect(page.locator("#flag-state")).to_have_text("Flagged for review")
    expect(toggle).to_have_text("Remove flag")
    toggle.click()
    expect(page.locator("#flag-state")).to_be_hidden()
    mine.refresh_from_db()
    assert not mine.flagged
    assert watched.errors == []
