"""The admin in the product's colours, following the product's theme setting.

The admin used to stay light while the product was dark: it kept Django's own
theme choice in localStorage. Now <html data-theme> comes from the user's
Profile.theme, and the admin's theme button changes that same setting.
"""

import pytest
from playwright.sync_api import expect

from conversations.models import Profile
from tests.browser import PHONE
from tests.browser import screenshot as save

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PRODUCT_DARK_BG = "rgb(21, 23, 28)"  # --bg of the product's dark theme (#15171c)
PRODUCT_LIGHT_BG = "rgb(255, 255, 255)"
PRODUCT_ACCENT_LIGHT = "rgb(37, 99, 235)"  # #2563eb


def background(page, selector: str) -> str:
    return page.eval_on_selector(selector, "e => getComputedStyle(e).backgroundColor")


def colour(page, selector: str) -> str:
    return page.eval_on_selector(selector, "e => getComputedStyle(e).color")


def set_theme(user, theme: str) -> None:
    profile = Profile.for_user(user)
    profile.theme = theme
    profile.save()


def test_a_dark_product_theme_makes_the_admin_dark_on_a_light_system(browse, superuser):
    set_theme(superuser, "dark")
    page, watched = browse(superuser, color_scheme="light", path="/admin/")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert background(page, "body") == PRODUCT_DARK_BG
    assert colour(page, "body") == "rgb(231, 233, 238)"  # --fg #e7e9ee
    save(page, "desktop-dark-admin-index")
    assert watched.errors == []


def test_a_light_product_theme_keeps_the_admin_light_on_a_dark_system(browse, superuser):
    set_theme(superuser, "light")
    page, _ = browse(superuser, color_scheme="dark", path="/admin/")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert background(page, "body") == PRODUCT_LIGHT_BG
    assert colour(page, "#content tbody th a") == PRODUCT_ACCENT_LIGHT
    save(page, "desktop-light-admin-index")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_system_theme_follows_the_device(browse, superuser, scheme):
    page, _ = browse(superuser, color_scheme=scheme, viewport=PHONE, path="/admin/")
    expect(page.locator("html")).to_have_attribute("data-theme", "auto")
    expected = PRODUCT_DARK_BG if scheme == "dark" else PRODUCT_LIGHT_BG
    assert background(page, "body") == expected
    expect(page.locator("#site-name")).to_contain_text("chatsite")
    save(page, f"phone-{scheme}-admin-index")


def test_the_admin_theme_button_changes_the_product_setting(browse, superuser):
    page, _ = browse(superuser, color_scheme="light", path="/admin/")
    with page.expect_response(lambda r: r.request.method == "PATCH") as patched:
        page.click("#user-tools .theme-toggle")  # light system, following it: go dark
    assert patched.value.ok
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert Profile.for_user(superuser).theme == "dark"
    page.goto("/")  # the product follows
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")


def test_the_sign_in_page_and_forms_are_themed_too(browse, superuser):
    page, _ = browse(None, color_scheme="dark", path="/admin/login/")
    assert background(page, "body") == "rgb(29, 32, 39)"  # --bg-soft #1d2027 around the card
    assert background(page, "#container") == PRODUCT_DARK_BG
    save(page, "desktop-dark-admin-login")
    set_theme(superuser, "dark")
    page, _ = browse(superuser, color_scheme="light", path="/admin/conversations/provider/add/")
    assert background(page, "body") == PRODUCT_DARK_BG
    assert background(page, "input[type=submit].default") == "rgb(91, 140, 255)"  # #5b8cff
    save(page, "desktop-dark-admin-provider-add")
