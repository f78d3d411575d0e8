"""The chat page's polish (issue 16): editing, the gauge, times, the theme, phones,
one navigation, shortcuts and progress — each checked in Chromium, with a
screenshot of the state it checks (test-artifacts/screenshots/polish-*.png)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import Conversation, Message, Profile
from tests.browser import PHONE
from tests.browser import screenshot as save
from tests.fakeupstream import Scenario

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDE_ANSWER = (
    "| Name | Notes |\n|---|---|\n| first | more words than fit in a narrow cell on a phone |\n"
    "| second | " + "unbroken" * 12 + " |\n\n```\n" + "x = 1  # " + "long line " * 30 + "\n```\n"
)


def send(page, text: str) -> None:
    page.fill("#prompt", text)
    page.keyboard.press("Enter")


def answered(page, status: str = "complete"):
    answer = page.locator(".message.assistant").last
    expect(answer).to_have_attribute("data-status", status, timeout=15_000)
    return answer


def no_horizontal_overflow(page) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def box(locator) -> dict:
    return locator.bounding_box()


def conversation_with(owner, model, texts: list[str], *, age=timedelta(0)) -> Conversation:
    conversation = Conversation.objects.create(owner=owner, model=model, title="Old talk")
    parent = None
    for index, text in enumerate(texts):
        role, status = ("user", "sent") if index % 2 == 0 else ("assistant", "complete")
        parent = Message.objects.create(
            conversation=conversation,
            role=role,
            status=status,
            parent=parent,
            content=text,
            created=timezone.now() - age + timedelta(seconds=index),
        )
    conversation.current_leaf = parent
    conversation.save()
    return conversation


# --- Editing a message ---------------------------------------------------------------


def test_the_edit_box_spans_the_column_hides_the_actions_and_esc_cancels(
    browse, alice, upstream_model, fake
):
    fake.enqueue(Scenario(tokens=["Cats", " purr"]))
    page, watched = browse(alice)
    send(page, "Tell me about cats\nand why they purr\nin three lines")
    answered(page)
    question = page.locator(".message.user").last
    question.get_by_role("button", name="Edit and resend").click()
    area = question.get_by_role("textbox", name="Edit your message")
    expect(area).to_be_focused()
    column = box(page.locator(".message.assistant .bubble").last)
    assert box(area)["width"] >= column["width"] - 2  # as wide as the message column
    assert area.evaluate("a => a.scrollHeight <= a.clientHeight + 2")  # all its text shows
    expect(question.locator(".actions")).to_be_hidden()
    expect(question.get_by_role("button", name="Save and send")).to_have_css(
        "background-color",
        page.evaluate("getComputedStyle(document.querySelector('#send')).backgroundColor"),
    )
    save(page, "polish-desktop-light-editing")
    page.keyboard.press("Escape")
    expect(question.locator(".edit-form")).to_have_count(0)
    expect(question.locator(".body")).to_contain_text("Tell me about cats")
    expect(question.locator(".actions")).to_be_visible()
    assert watched.errors == []


def test_ctrl_enter_sends_the_edited_message_as_a_new_branch(browse, alice, upstream_model, fake):
    fake.enqueue(Scenario(tokens=["About", " cats"]), Scenario(tokens=["About", " dogs"]))
    page, _ = browse(alice)
    send(page, "Tell me about cats")
    answered(page)
    question = page.locator(".message.user").last
    question.get_by_role("button", name="Edit and resend").click()
    area = question.get_by_role("textbox", name="Edit your message")
    area.fill("Tell me about dogs")
    area.press("Shift+Enter")  # a new line, not a send
    area.type("please")
    area.press("Control+Enter")
    expect(page.locator(".message.assistant").last.locator(".body")).to_have_text("About dogs")
    expect(page.locator(".message.user").last.locator(".sibling-count")).to_have_text("2/2")
    assert Message.objects.filter(role="user").last().content == "Tell me about dogs\nplease"


# --- The context gauge -----------------------------------------------------------------


def test_the_gauge_counts_the_answer_once_the_turn_ends(browse, alice, upstream_model, fake):
    fake.enqueue(Scenario(tokens=[" word"] * 400))
    page, _ = browse(alice)
    expect(page.locator("#gauge")).to_have_attribute("data-used", "3")
    send(page, "Say many words")
    answered(page)
    expect(page.locator("#gauge")).not_to_have_attribute("data-used", "3")
    used = int(page.locator("#gauge").get_attribute("data-used"))
    assert used > 400  # the question and its 400-token answer
    expect(page.locator("#gauge")).not_to_have_class(re.compile(r"\bis-high\b"))
    save(page, "polish-desktop-light-gauge")


def test_the_thread_says_which_earlier_messages_are_not_sent(browse, alice, upstream_model):
    upstream_model.context_window = 1024
    upstream_model.save()
    texts = [f"message {i} " + "filler " * 120 for i in range(8)]
    conversation = conversation_with(alice, upstream_model, texts)
    page, watched = browse(alice, path=f"/c/{conversation.id}/")
    note = page.locator(".context-note")
    expect(note).to_contain_text("earlier messages are not sent to the model")
    count = int(note.inner_text().split()[0])
    assert 0 < count < 8
    # The note sits right before the first message the model will see.
    following = note.evaluate("n => n.nextElementSibling.textContent")
    assert f"message {count} " in following
    gauge = page.locator("#gauge")
    used = int(gauge.get_attribute("data-used"))
    assert used <= upstream_model.context_window  # never "1,250 / 512"
    expect(gauge).not_to_have_class(re.compile(r"\bis-high\b"))
    expect(gauge).to_have_attribute("title", re.compile(f"{count} earlier messages are left out"))
    note.scroll_into_view_if_needed()
    save(page, "polish-desktop-light-context-note")
    assert watched.errors == []


def test_switching_branch_counts_the_branch_on_screen(browse, alice, upstream_model, fake):
    fake.enqueue(Scenario(tokens=["Short"]), Scenario(tokens=[" long"] * 300))
    page, _ = browse(alice)
    send(page, "Answer me")
    answered(page)
    expect(page.locator("#gauge")).to_have_attribute("data-used", re.compile(r"^[0-9]{1,2}$"))
    answer = page.locator(".message.assistant").last
    answer.get_by_role("button", name="Write another answer").click()
    expect(page.locator(".message.assistant").last.locator(".sibling-count")).to_have_text("2/2")
    answered(page)
    expect(page.locator("#gauge")).to_have_attribute("data-used", re.compile(r"^[0-9]{3}$"))
    page.locator(".message.assistant").last.get_by_role("button", name="Previous version").click()
    expect(page.locator("#gauge")).to_have_attribute("data-used", re.compile(r"^[0-9]{1,2}$"))


# --- Times ---------------------------------------------------------------------------------


def test_messages_show_short_times_with_the_full_stamp_on_hover(browse, alice, upstream_model):
    old = conversation_with(alice, upstream_model, ["Hello", "Hi"], age=timedelta(days=400))
    page, _ = browse(alice, path=f"/c/{old.id}/")
    stamp = page.locator(".message time").first
    year = (timezone.now() - timedelta(days=400)).year
    expect(stamp).to_contain_text(str(year))
    expect(stamp).to_have_attribute("title", re.compile(str(year)))
    recent = conversation_with(alice, upstream_model, ["Hello", "Hi"])
    page.goto(f"/c/{recent.id}/")
    expect(page.locator(".message time").first).to_have_text("just now")


def test_times_are_localised_in_chinese(browse, alice, upstream_model):
    days_ago = conversation_with(alice, upstream_model, ["你好", "嗨"], age=timedelta(days=3))
    page, _ = browse(alice, locale="zh-CN", path=f"/c/{days_ago.id}/")
    expect(page.locator(".message time").first).to_have_text(re.compile(r"^周[一二三四五六日]$"))
    expect(page.locator(".message time").first).to_have_attribute(
        "title", re.compile(r"年.*月.*日")
    )
    save(page, "polish-desktop-light-chinese-times")


# --- Theme -----------------------------------------------------------------------------------


def test_one_click_changes_the_theme_and_shows_the_active_one(browse, alice, upstream_model):
    page, _ = browse(alice, color_scheme="light")
    system = page.get_by_role("button", name="Like the device")
    expect(system).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="Dark").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.locator("body")).to_have_css("background-color", "rgb(21, 23, 28)")
    expect(page.get_by_role("button", name="Dark")).to_have_attribute("aria-pressed", "true")
    expect(system).to_have_attribute("aria-pressed", "false")
    save(page, "polish-desktop-dark-theme-switch")
    page.goto("/personas/")  # kept, and the same switch on every page
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.get_by_role("button", name="Dark")).to_have_attribute("aria-pressed", "true")
    assert Profile.for_user(alice).theme == "dark"


# --- Phones ----------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_phone_keeps_tables_code_and_the_composer_inside_the_screen(
    browse, alice, upstream_model, fake, scheme
):
    fake.enqueue(Scenario(tokens=[WIDE_ANSWER]))
    page, watched = browse(alice, viewport=PHONE, color_scheme=scheme)
    prompt = page.locator("#prompt")
    line = float(prompt.evaluate("p => parseFloat(getComputedStyle(p).lineHeight)"))
    assert prompt.evaluate("p => p.clientHeight") < 2 * line  # the placeholder holds one line
    send(page, "A wide table please")
    answer = answered(page)
    cell = answer.locator("td").nth(1)
    expect(cell).to_have_css("overflow-wrap", "normal")
    assert cell.evaluate("c => c.scrollWidth <= c.clientWidth")  # no word cut mid-word
    for block in (answer.locator(".table-wrap").last, answer.locator(".code-block pre")):
        assert block.evaluate("b => b.scrollWidth > b.clientWidth")  # scrolls inside itself
        assert box(block)["x"] + box(block)["width"] <= PHONE["width"]
    assert no_horizontal_overflow(page)
    save(page, f"polish-phone-{scheme}-wide-answer")
    assert watched.errors == []


# --- One navigation ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/personas/", "/settings/"])
def test_every_product_page_has_the_same_sidebar(browse, alice, upstream_model, path):
    page, _ = browse(alice, path=path)
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Chats", "Personas", "Settings"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    expect(nav.locator("[aria-current=page]")).to_have_count(1)
    expect(page.locator("#theme-switch")).to_be_visible()
    expect(page.locator(".topbar")).to_have_count(0)
    expect(page.locator("#close-sidebar")).to_be_hidden()  # a phone's control only
    switch = page.locator("#theme-switch button").first
    assert box(switch)["height"] < 32  # the page's own button styles stay out of the shell
    assert box(page.locator("#sidebar"))["x"] == 0


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("path", ["/personas/", "/settings/"])
def test_on_a_phone_the_sidebar_is_a_menu(browse, alice, upstream_model, path, scheme):
    page, watched = browse(alice, viewport=PHONE, color_scheme=scheme, path=path)
    expect(page.locator("#sidebar")).not_to_be_in_viewport()
    assert no_horizontal_overflow(page)
    name = path.strip("/")
    save(page, f"polish-phone-{scheme}-{name}")
    page.get_by_role("button", name="Open the menu").click()
    expect(page.locator("#sidebar")).to_be_in_viewport(ratio=1)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Chats")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#sidebar")).not_to_be_in_viewport()
    assert watched.errors == []


# --- Keyboard ----------------------------------------------------------------------------------


def test_question_mark_opens_the_shortcuts_which_esc_closes(browse, alice, upstream_model):
    page, _ = browse(alice)
    page.locator("#prompt").press("?")  # typing: just a character
    expect(page.locator("#shortcuts")).to_be_hidden()
    expect(page.locator("#prompt")).to_have_value("?")
    page.locator("#thread").click()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    for key in ("Tab", "Shift+Tab"):  # focus stays in the modal dialog
        page.keyboard.press(key)
        expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    save(page, "polish-desktop-light-shortcuts")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_the_shortcuts_do_what_they_say(browse, alice, upstream_model, fake):
    fake.enqueue(Scenario(tokens=["Copy", " me"]))
    page, _ = browse(alice)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    send(page, "Something to copy")
    answered(page)
    page.locator("#thread").click()
    page.keyboard.press("Control+k")
    expect(page.locator("#search")).to_be_focused()
    page.keyboard.press("Shift+Escape")
    expect(page.locator("#prompt")).to_be_focused()
    page.keyboard.press("Control+Shift+C")
    expect(page.locator("#toast")).to_contain_text("Copied the last answer")
    assert page.evaluate("navigator.clipboard.readText()") == "Copy me"
    page.keyboard.press("Control+Shift+O")
    expect(page).not_to_have_url(re.compile("/c/"))
    expect(page.locator(".message")).to_have_count(0)


def test_esc_stops_a_streaming_answer(browse, alice, upstream_model, fake):
    fake.enqueue(Scenario(tokens=[" w"] * 200, delay=0.05))
    page, _ = browse(alice)
    send(page, "Go on and on")
    expect(page.locator(".message.assistant").last.locator(".body")).to_contain_text("w")
    page.keyboard.press("Escape")
    answered(page, "stopped")


# --- Progress ----------------------------------------------------------------------------------


def test_a_question_shows_it_is_being_sent_until_the_server_has_it(browse, alice, upstream_model):
    page, _ = browse(alice, path="/accounts/login/")
    held = []

    def hold_sends(socket):
        server = socket.connect_to_server()
        socket.on_message(lambda text: held.append(text) if '"send"' in text else server.send(text))

    page.route_web_socket("**/*", hold_sends)
    page.goto("/")
    send(page, "Are you there?")
    status = page.locator(".message.user .status")
    expect(status).to_have_text("Sending…")
    expect(status).to_have_attribute("role", "status")


def test_reconnecting_shows_the_attempt_count(browse, alice, upstream_model):
    page, _ = browse(alice, path="/accounts/login/")
    page.route_web_socket("**/*", lambda socket: socket.close())
    page.goto("/")
    connection = page.locator("#connection")
    expect(connection).to_contain_text("attempt 3", timeout=20_000)
    expect(connection.get_by_role("button", name="Retry now")).to_be_visible()
    save(page, "polish-desktop-light-reconnecting")
