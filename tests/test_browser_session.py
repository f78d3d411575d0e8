"""A tab whose session ends stops reconnecting and says so; a tab whose browser is
still signed in (its password changed here) carries on."""

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "a completely new passphrase 7"


def count_new_sockets(page) -> list:
    """Once the page's socket is up: the sockets it opens from now on."""
    opened = []
    page.on("websocket", lambda socket: opened.append(socket.url))
    page.reload()
    wait_for(page, lambda: len(opened) >= 1)
    page.wait_for_timeout(500)  # the handshake completes
    opened.clear()
    return opened


def wait_for(page, condition, timeout: float = 5.0) -> None:
    for _ in range(int(timeout * 20)):
        if condition():
            return
        page.wait_for_timeout(50)
    raise AssertionError("timed out")


def sign_out_in_another_tab(page) -> None:
    other = page.context.new_page()
    other.goto("/settings/")
    other.locator("form[action='/accounts/logout/'] button").first.click()
    other.wait_for_url("**/accounts/login/**")
    other.close()


def test_a_signed_out_tab_stops_reconnecting_and_links_to_sign_in(browse, alice, live_app):
    page, watched = browse(alice)
    opened = count_new_sockets(page)
    sign_out_in_another_tab(page)
    link = page.locator("#connection a")
    expect(link).to_have_text("Signed out — sign in again", timeout=5000)
    assert link.get_attribute("href") == "/accounts/login/?next=%2F"
    page.wait_for_timeout(3000)  # a looping tab would have tried several times by now
    assert len(opened) == 1  # one handshake to tell a replaced session from an ended one
    link.click()
    page.wait_for_url("**/accounts/login/?next=%2F")
    assert watched.errors == []


def test_the_signed_out_notice_is_translated(browse, alice):
    page, _ = browse(alice, locale="zh-CN")
    count_new_sockets(page)
    sign_out_in_another_tab(page)
    expect(page.locator("#connection a")).to_have_text("已退出登录 — 请重新登录", timeout=5000)


def test_the_tab_stays_signed_in_when_its_browser_changed_the_password(browse, alice):
    page, watched = browse(alice)
    opened = count_new_sockets(page)
    other = page.context.new_page()
    other.goto("/accounts/password_change/")
    other.fill("#id_old_password", PASSWORD)
    other.fill("#id_new_password1", NEW_PASSWORD)
    other.fill("#id_new_password2", NEW_PASSWORD)
    other.locator("form.stacked button[type=submit]").click()
    other.wait_for_url("**/password_change/done/")
    wait_for(page, lambda: len(opened) == 1)  # the old session's socket closed; a new one
    expect(page.locator("#connection")).to_be_hidden(timeout=5000)
    page.wait_for_timeout(1500)
    assert len(opened) == 1
    expect(page.locator("#connection")).to_be_hidden()
    assert page.locator("#connection a").count() == 0
    assert watched.errors == []


def test_a_draft_comes_back_after_signing_in_again(browse, alice):
    page, watched = browse(alice)
    count_new_sockets(page)
    page.fill("#prompt", "Half a thought I must not lose")
    sign_out_in_another_tab(page)
    page.locator("#connection a").click(timeout=5000)
    page.wait_for_url("**/accounts/login/**")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#prompt")).to_have_value("Half a thought I must not lose")
    assert watched.errors == []
