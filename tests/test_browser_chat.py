"""The chat page in real headless Chromium, against a live server and the fake upstream."""

import re
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Message
from tests.conftest import PASSWORD
from tests.fakeupstream import Scenario

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def words(count: int, prefix: str = "w") -> list[str]:
    return [f" {prefix}{i}" for i in range(count)]


def send(page, text: str) -> None:
    page.fill("#prompt", text)
    page.keyboard.press("Enter")


def last_answer(page):
    return page.locator(".message.assistant").last


def wait_status(page, status: str, timeout: float = 15_000):
    answer = last_answer(page)
    expect(answer).to_have_attribute("data-status", status, timeout=timeout)
    return answer


def test_signing_in_and_seeing_an_answer_stream_in(browse, alice, upstream_model, fake, live_app):
    fake.enqueue(Scenario(tokens=words(30), delay=0.08))
    page, watched = browse(None, path="/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_app.url}/")
    send(page, "Count for me")
    expect(page.locator(".message.user").last).to_contain_text("Count for me")
    answer = last_answer(page)
    expect(answer).to_have_attribute("data-status", "streaming")
    expect(answer.locator(".body")).to_contain_text("w3")
    partial = answer.locator(".body").inner_text()
    assert "w29" not in partial  # seen mid-stream, not only at the end
    expect(page.locator("#stop")).to_be_visible()
    wait_status(page, "complete")
    expect(answer.locator(".body")).to_contain_text("w29")
    expect(page.locator("#send")).to_be_visible()
    assert watched.errors == [] and watched.dialogs == []


def test_the_answer_is_there_after_a_reload(browse, alice, upstream_model, fake):
    fake.enqueue(Scenario(tokens=["Kept", " after", " reload"]))
    page, _ = browse(alice)
    send(page, "Remember this")
    wait_status(page, "complete")
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    page.reload()
    expect(page.locator(".message.user")).to_contain_text("Remember this")
    expect(last_answer(page).locator(".body")).to_have_text("Kept after reload")


def test_stopping_mid_stream_keeps_the_partial_answer(browse, alice, upstream_model, fake):
    fake.enqueue(Scenario(tokens=words(200), delay=0.05))
    page, _ = browse(alice)
    send(page, "Talk a lot")
    expect(last_answer(page).locator(".body")).to_contain_text("w5")
    page.keyboard.press("Escape")
    answer = wait_status(page, "stopped")
    expect(answer.locator(".status")).to_contain_text("Stopped")
    shown = answer.locator(".body").inner_text()
    assert "w5" in shown and "w199" not in shown
    stored = Message.objects.get(role="assistant")
    assert stored.status == "stopped"
    assert stored.content.split() == shown.split()


def test_the_stop_button_stops_too(browse, alice, upstream_model, fake):
    fake.enqueue(Scenario(tokens=words(200), delay=0.05))
    page, _ = browse(alice)
    send(page, "Talk a lot")
    expect(last_answer(page).locator(".body")).to_contain_text("w2")
    page.click("#stop")
    wait_status(page, "stopped")


def test_regenerating_makes_a_sibling_to_navigate(browse, alice, upstream_model, fake):
    fake.enqueue(Scenario(tokens=["First", " take"]), Scenario(tokens=["Second", " take"]))
    page, _ = browse(alice)
    send(page, "Tell me")
    wait_status(page, "complete")
    last_answer(page).get_by_role("button", name="Write another answer").click()
    expect(last_answer(page).locator(".body")).to_have_text("Second take")
    wait_status(page, "complete")
    siblings = last_answer(page).locator(".sibling-count")
    expect(siblings).to_have_text("2/2")
    with page.expect_response(lambda r: r.request.method == "PATCH") as saved:
        last_answer(page).get_by_role("button", name="Previous version").click()
    expect(last_answer(page).locator(".body")).to_have_text("First take")
    expect(siblings).to_have_text("1/2")
    assert saved.value.ok
    page.reload()  # the branch shown is remembered
    expect(last_answer(page).locator(".body")).to_have_text("First take")


def test_editing_a_question_starts_a_new_branch(browse, alice, upstream_model, fake):
    fake.enqueue(Scenario(tokens=["About", " cats"]), Scenario(tokens=["About", " dogs"]))
    page, _ = browse(alice)
    send(page, "Tell me about cats")
    wait_status(page, "complete")
    question = page.locator(".message.user").last
    question.get_by_role("button", name="Edit and resend").click()
    question.get_by_role("textbox", name="Edit your message").fill("Tell me about dogs")
    question.get_by_role("button", name="Save and send").click()
    expect(last_answer(page).locator(".body")).to_have_text("About dogs")
    expect(page.locator(".message.user").last.locator(".sibling-count")).to_have_text("2/2")
    assert Message.objects.filter(role="user").count() == 2


def test_continuing_an_answer_cut_by_the_length_limit(browse, alice, upstream_model, fake):
    fake.enqueue(Scenario(tokens=["Once", " upon"], finish_reason="length"))
    fake.enqueue(Scenario(tokens=[" a", " time"]))
    page, _ = browse(alice)
    send(page, "A story")
    answer = wait_status(page, "truncated")
    expect(answer.locator(".status")).to_contain_text("length limit")
    answer.get_by_role("button", name="Continue the answer").click()
    wait_status(page, "complete")
    expect(last_answer(page).locator(".body")).to_have_text("Once upon a time")


def test_an_error_keeps_the_text_already_shown(browse, alice, upstream_model, fake):
    fake.enqueue(Scenario(tokens=["Half", " an", " answer"], error_after=3))
    page, _ = browse(alice)
    send(page, "Try")
    answer = wait_status(page, "error")
    expect(answer.locator(".body")).to_have_text("Half an answer")
    expect(answer.locator(".status")).to_be_visible()
    expect(answer.get_by_role("button", name="Try the answer again")).to_be_visible()


def test_the_parameters_panel_rejects_an_out_of_range_value(browse, alice, upstream_model, fake):
    page, _ = browse(alice)
    page.click("#params-toggle")
    page.fill("#param-temperature", "3")
    expect(page.locator("#param-temperature-note")).to_have_text("Must be from 0 to 2.")
    send(page, "Hello")
    expect(page.locator("#composer-error")).to_contain_text("Fix the parameters")
    assert fake.chat_requests == []
    page.fill("#param-temperature", "0.5")
    page.click("#send")
    wait_status(page, "complete")
    assert fake.chat_requests[-1].body["temperature"] == 0.5


def test_a_refused_message_comes_back_to_the_composer(browse, alice, upstream_model, fake):
    page, _ = browse(alice)
    send(page, "word " * 9000)
    expect(page.locator("#composer-error")).to_contain_text("too long")
    assert page.input_value("#prompt").startswith("word word")
    assert Message.objects.count() == 0


def test_opening_a_conversation_from_the_sidebar_and_going_back_and_forward_never_reloads(
    browse, alice, upstream_model, fake
):
    first = Conversation.objects.create(owner=alice, title="Older chat")
    Message.objects.create(conversation=first, role="user", content="from before")
    page, _ = browse(alice)
    page.evaluate("window.__marker = 'same page'")
    page.get_by_role("link", name="Older chat").click()
    expect(page.locator(".message.user")).to_have_text(re.compile("from before"))
    expect(page).to_have_url(re.compile(f"/c/{first.id}/$"))
    expect(page).to_have_title(re.compile("Older chat"))
    page.go_back()
    expect(page.locator(".message.user")).to_have_count(0)
    expect(page).to_have_title(re.compile("New chat"))
    page.go_forward()
    expect(page.locator(".message.user")).to_have_text(re.compile("from before"))
    expect(page).to_have_title(re.compile("Older chat"))
    assert page.evaluate("window.__marker") == "same page"


def test_the_sidebar_renames_pins_archives_searches_and_deletes(browse, alice, upstream_model):
    for title in ("Alpha plans", "Beta notes", "Gamma ideas"):
        conversation = Conversation.objects.create(owner=alice, title=title)
        Message.objects.create(conversation=conversation, role="user", content=f"about {title}")
    page, _ = browse(alice)
    item = page.locator(".item", has_text="Beta notes")
    item.hover()
    item.get_by_role("button", name="Conversation actions").click()
    page.get_by_role("menuitem", name="Rename").click()
    page.get_by_role("textbox", name="New title").fill("Beta renamed")
    page.keyboard.press("Enter")
    expect(page.locator(".item", has_text="Beta renamed")).to_be_visible()
    assert Conversation.objects.filter(title="Beta renamed").exists()

    item = page.locator(".item", has_text="Gamma ideas")
    item.hover()
    item.get_by_role("button", name="Conversation actions").click()
    page.get_by_role("menuitem", name="Pin").click()
    expect(page.locator(".group").first.locator("h2")).to_have_text("Pinned")
    expect(page.locator(".group").first).to_contain_text("Gamma ideas")

    item = page.locator(".item", has_text="Alpha plans")
    item.hover()
    item.get_by_role("button", name="Conversation actions").click()
    page.get_by_role("menuitem", name="Archive").click()
    expect(page.locator(".item", has_text="Alpha plans")).to_have_count(0)
    page.click("#show-archived")
    expect(page.locator(".item", has_text="Alpha plans")).to_be_visible()
    page.click("#show-active")
    expect(page.locator(".item", has_text="Gamma ideas")).to_be_visible()

    page.fill("#search", "about Beta")  # message text, not the title
    expect(page.locator(".item", has_text="Gamma ideas")).to_have_count(0)
    expect(page.locator(".item")).to_have_count(1)
    expect(page.locator(".item").first).to_contain_text("Beta renamed")
    page.fill("#search", "")
    expect(page.locator(".item")).to_have_count(2)

    item = page.locator(".item", has_text="Beta renamed")
    item.hover()
    item.get_by_role("button", name="Conversation actions").click()
    page.get_by_role("menuitem", name="Delete").click()
    expect(page.locator(".item", has_text="Beta renamed")).to_have_count(0)
    page.get_by_role("button", name="Undo").click()
    expect(page.locator(".item", has_text="Beta renamed")).to_be_visible()
    item = page.locator(".item", has_text="Gamma ideas")
    item.hover()
    item.get_by_role("button", name="Conversation actions").click()
    page.get_by_role("menuitem", name="Delete").click()
    expect(page.locator("#toast")).to_be_visible()
    expect(page.locator("#toast")).to_be_hidden(timeout=10_000)
    page.wait_for_timeout(300)
    assert not Conversation.objects.filter(title="Gamma ideas").exists()
    assert Conversation.objects.filter(title="Beta renamed").exists()


def test_lazy_loading_brings_older_conversations(browse, alice, upstream_model):
    Conversation.objects.bulk_create(
        Conversation(owner=alice, title=f"Chat number {i:03d}") for i in range(130)
    )
    page, _ = browse(alice)
    expect(page.locator(".item")).to_have_count(50)
    for expected in (100, 130):
        page.locator(".item").last.scroll_into_view_if_needed()
        expect(page.locator(".item")).to_have_count(expected)


def test_two_tabs_on_one_conversation_show_the_same_stream(browse, alice, upstream_model, fake):
    fake.enqueue(Scenario(tokens=["Shared"]))
    page, _ = browse(alice)
    send(page, "First")
    wait_status(page, "complete")
    other, _ = browse(alice, path=urlparse(page.url).path)
    expect(other.locator(".message.user")).to_contain_text("First")
    fake.enqueue(Scenario(tokens=words(25), delay=0.05))
    send(page, "Second")
    expect(last_answer(other).locator(".body")).to_contain_text("w3")
    wait_status(other, "complete")
    assert last_answer(other).locator(".body").inner_text() == (
        last_answer(page).locator(".body").inner_text()
    )


def test_opening_a_conversation_mid_stream_shows_the_text_so_far(
    browse, alice, upstream_model, fake
):
    fake.enqueue(Scenario(tokens=words(60), delay=0.05))
    page, _ = browse(alice)
    send(page, "Long one")
    expect(last_answer(page).locator(".body")).to_contain_text("w10")
    late, _ = browse(alice, path=urlparse(page.url).path)
    expect(last_answer(late).locator(".body")).to_contain_text("w10")
    wait_status(late, "complete")
    expect(last_answer(late).locator(".body")).to_have_text(
        last_answer(page).locator(".body").inner_text()
    )


def test_a_dropped_socket_mid_stream_recovers_without_gap_or_duplicate(
    browse, alice, upstream_model, fake
):
    fake.enqueue(Scenario(tokens=words(80), delay=0.04))
    page, _ = browse(alice)
    send(page, "Stream")
    expect(last_answer(page).locator(".body")).to_contain_text("w5")
    page.evaluate("window.chatPage.connection.drop()")
    expect(page.locator("#connection")).to_be_visible()
    wait_status(page, "complete")
    expect(page.locator("#connection")).to_be_hidden()
    shown = last_answer(page).locator(".body").inner_text().split()
    assert shown == [f"w{i}" for i in range(80)]
    assert Message.objects.get(role="assistant").content.split() == shown


def test_an_answer_too_large_for_one_websocket_message_is_shown_whole(
    browse, alice, upstream_model, fake
):
    huge = "日本語" * 116_000  # one delta of 1.04 MB: over what one websocket message holds
    fake.enqueue(Scenario(tokens=["Start ", huge, " end"]))
    page, watched = browse(alice)
    send(page, "Write a lot")
    answer = wait_status(page, "complete", timeout=30_000)
    shown = answer.locator(".body").evaluate("body => body.textContent.trim()")
    stored = Message.objects.get(role="assistant").content
    assert shown == stored == "Start " + huge + " end"
    assert watched.errors == []
