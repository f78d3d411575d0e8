"""A shared link page in a real browser: the answer is rendered markdown,
sanitised like the chat; nothing in it runs or loads."""

import re

import pytest
from playwright.sync_api import expect

from conversations import sharing
from conversations.models import Conversation, Message
from tests.conftest import make_user
from tests.test_browser_safety import HOSTILE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_shared_link_renders_sanitised_markdown_and_runs_nothing(browse, alice):
    conversation = Conversation.objects.create(owner=alice, title="Shared report")
    system = Message.objects.create(conversation=conversation, role="system", content="SYS SECRET")
    question = Message.objects.create(
        conversation=conversation, parent=system, role="user", content="<b>my question</b>"
    )
    answer = Message.objects.create(
        conversation=conversation, parent=question, role="assistant", content=HOSTILE,
        status="complete",
    )  # fmt: skip
    conversation.current_leaf = answer
    conversation.save()
    token = sharing.share_by_link(actor=alice, conversation=conversation)

    page, watched = browse(make_user("carol"), path=f"/s/{token}/")
    thread = page.locator("#shared-thread")
    expect(thread).to_have_attribute("data-rendered", "true", timeout=10_000)
    body = page.locator(".message.assistant .body")
    body.locator("text=hover here").hover()
    page.wait_for_timeout(300)

    assert page.evaluate("window.__pwned") is None
    assert watched.dialogs == [] and watched.foreign_requests == [] and watched.errors == []
    assert body.locator("script, iframe, img, svg, form, input, object, embed").count() == 0
    assert body.locator("[onerror], [onclick], [onmouseover], [onload]").count() == 0
    for href in body.locator("a[href]").evaluate_all("links => links.map(a => a.href)"):
        assert href.startswith(("https://", "http://", "mailto:")), href
    expect(body.locator("h1")).to_have_text("Report")
    expect(body.locator("strong")).to_have_text("bold")
    expect(page.locator(".message.user .body")).to_have_text("<b>my question</b>")
    assert "SYS SECRET" not in page.content()


def test_an_imported_conversation_is_marked_and_shared_from_its_menu(browse, alice, upstream_model):
    conversation = Conversation.objects.create(
        owner=alice, title="From elsewhere", import_source="chatgpt", import_id="c-1"
    )
    message = Message.objects.create(conversation=conversation, role="user", content="hello")
    conversation.current_leaf = message
    conversation.save()
    page, watched = browse(alice, path=f"/c/{conversation.pk}/")
    expect(page.locator("#thread-imported")).to_be_visible()
    item = page.locator(".item", has_text="From elsewhere")
    expect(item.locator(".imported-mark")).to_be_visible()
    item.hover()
    item.get_by_role("button", name="Conversation actions").click()
    page.get_by_role("menuitem", name="Share…").click()
    expect(page).to_have_url(f"{page.url.split('/c/')[0]}/c/{conversation.pk}/share/")
    page.get_by_role("button", name="Make a new link").click()
    expect(page.locator("#share-link")).to_have_value(re.compile(r"/s/[\w-]{43,}/$"))
    assert watched.errors == []
