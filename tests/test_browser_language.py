"""The page in Simplified Chinese, and typing through an input method."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Message

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_switching_to_simplified_chinese_translates_the_controls(browse, alice, upstream_model):
    page, watched = browse(alice)
    expect(page.locator("#new-chat")).to_contain_text("New chat")
    page.select_option("#language", "zh-hans")
    expect(page.locator("#new-chat")).to_contain_text("新对话")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_role("button", name="发送")).to_be_visible()
    expect(page.locator("#prompt")).to_have_attribute("placeholder", "给 chatsite 发消息…")
    expect(page.locator("#params-toggle")).to_have_text("参数")
    expect(page.locator("#persona-picker option").first).to_have_text(
        "不使用角色"
    )  # from the JS catalog
    assert watched.errors == []


def test_the_browser_language_is_followed(browse, alice, upstream_model):
    page, _ = browse(alice, locale="zh-CN")
    expect(page.locator("#new-chat")).to_contain_text("新对话")


def test_enter_while_an_input_method_is_composing_never_sends(browse, alice, upstream_model, fake):
    page, _ = browse(alice, locale="zh-CN")
    prompt = page.locator("#prompt")
    prompt.focus()
    cdp = page.context.new_cdp_session(page)
    # A pinyin input method: "nihao" is being composed (compositionstart, compositionupdate).
    cdp.send("Input.imeSetComposition", {"text": "nihao", "selectionStart": 5, "selectionEnd": 5})
    page.keyboard.press("Enter")  # picks a candidate in the input method, not "send"
    cdp.send("Input.insertText", {"text": "你好"})  # commits: compositionend
    page.wait_for_timeout(200)
    assert Message.objects.count() == 0
    expect(page.locator(".message.user")).to_have_count(0)
    # (The simulated input method leaves its Enter in the box; a real one consumes it.)
    expect(prompt).to_have_value(re.compile(r"^\s*你好\s*$"))
    page.keyboard.press("Enter")  # now it sends
    expect(page.locator(".message.user .body").last).to_have_text("你好")
    expect(page.locator(".message.assistant").last).to_have_attribute("data-status", "complete")


def test_a_synthetic_composition_sequence_does_not_send_either(browse, alice, upstream_model):
    page, _ = browse(alice)
    page.fill("#prompt", "中文")
    page.dispatch_event("#prompt", "compositionstart")
    page.keyboard.press("Enter")
    page.dispatch_event("#prompt", "compositionend")
    page.wait_for_timeout(100)
    expect(page.locator(".message.user")).to_have_count(0)
    expect(page.locator("#prompt")).to_have_value(re.compile(r"^中文\s*$"))


def test_shift_enter_makes_a_new_line(browse, alice, upstream_model):
    page, _ = browse(alice)
    page.fill("#prompt", "line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("line two")
    expect(page.locator("#prompt")).to_have_value("line one\nline two")
    expect(page.locator(".message.user")).to_have_count(0)
