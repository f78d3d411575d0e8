"""The words the product shows: true for the state they describe, a real label
for every empty choice, product pages for errors, and a complete translation."""

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser, Permission
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.views import defaults

from conversations.models import Conversation, ModelConfig, SiteSettings

LOCALE = Path(__file__).resolve().parent.parent / "locale" / "zh_Hans" / "LC_MESSAGES"
NOTES = {
    "off": "The history-review policy is off",
    "flagged": "Under the “flagged only” policy",
    "full": "Under the “full” policy",
}


def set_policy(policy: str) -> None:
    settings = SiteSettings.load()
    settings.review_policy = policy
    settings.save()


@pytest.mark.parametrize("policy", ["off", "flagged", "full"])
def test_the_review_note_tells_the_policy_in_force(client, staff, alice, policy):
    staff.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    conversation = Conversation.objects.create(owner=alice, title="Trip")
    set_policy(policy)
    client.force_login(staff)
    page = client.get(f"/admin/conversations/conversation/{conversation.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    for other, note in NOTES.items():
        assert (note in html) == (other == policy), other


def test_models_reads_as_models_not_a_count_in_chinese(client, superuser):
    client.force_login(superuser)
    html = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert ">模型<" in html
    assert "模型数" not in html


def test_the_settings_drop_downs_name_their_empty_choice(client, alice, chat_model):
    client.force_login(alice)
    html = client.get("/settings/").content.decode()
    assert "---------" not in html
    assert "None (a plain chat)" in html
    assert "The site&#x27;s default model (gpt-4)" in html
    assert ">Follow the system<" in html  # capitalised like the other choices


def test_the_empty_model_choice_says_so_when_there_is_no_default(client, alice, provider):
    ModelConfig.objects.create(provider=provider, model_id="gpt-4o", context_window=8192)
    client.force_login(alice)
    html = client.get("/settings/").content.decode()
    assert "The site&#x27;s default model<" in html


def test_the_admins_model_form_asks_for_a_provider(client, superuser, provider):
    client.force_login(superuser)
    html = client.get("/admin/conversations/modelconfig/add/").content.decode()
    assert "Choose a provider" in html
    assert "---------" not in re.search(r'<select name="provider".*?</select>', html, re.S)[0]


# --- Error pages ---------------------------------------------------------------------


def test_an_unknown_address_shows_the_products_page_not_found(client, alice):
    client.force_login(alice)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and "Back to your chats" in html
    assert "css/error-pages.css" in html


def test_a_refusal_shows_the_products_403_page(db):
    request = RequestFactory().get("/somewhere/")
    request.user = AnonymousUser()
    response = defaults.permission_denied(request, PermissionDenied())
    assert response.status_code == 403
    html = response.content.decode()
    assert "You cannot open this page" in html and "Sign in" in html


def test_the_500_page_needs_no_database_or_context():
    # No database fixture: any query here would raise instead of rendering.
    request = RequestFactory().get("/boom/")
    response = defaults.server_error(request)
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html
    assert 'href="/"' in html and "css/app.css" in html


# --- The Chinese translation ---------------------------------------------------------


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_every_chinese_entry_is_translated_and_none_is_a_fuzzy_guess(domain):
    text = (LOCALE / f"{domain}.po").read_text()
    entries = text.split("\n\n")[1:]  # after the header
    fuzzy = [e for e in entries if re.search(r"^#, .*fuzzy", e, re.M)]
    # An empty translation is a `msgstr ""` with no text lines after it.
    empty = [e for e in entries if e.strip().split("\n")[-1] in ('msgstr ""', 'msgstr[0] ""')]
    assert fuzzy == []
    assert empty == []


# --- In the browser -----------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_404_page_is_the_products_in_dark_and_in_chinese(browse, alice):
    from playwright.sync_api import expect

    from tests.browser import PHONE, screenshot

    page, watched = browse(alice, color_scheme="dark", locale="zh-CN", path="/no/such/page/")
    expect(page.locator(".error-card h1")).to_have_text("页面不存在")
    code = page.eval_on_selector(".error-code", "e => getComputedStyle(e).color")
    assert code == "rgb(91, 140, 255)"  # the product's dark accent
    screenshot(page, "desktop-dark-chinese-404")
    page, _ = browse(None, viewport=PHONE, path="/no/such/page/")
    expect(page.locator(".error-card .primary")).to_be_visible()
    screenshot(page, "phone-light-404")
    assert watched.errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_settings_page_names_every_choice_in_chinese(browse, alice, chat_model):
    from playwright.sync_api import expect

    from tests.browser import screenshot

    page, _ = browse(alice, locale="zh-CN", path="/settings/")
    expect(page.locator("#id_default_persona option").first).to_have_text("无（普通对话）")
    expect(page.locator("#id_default_model option").first).to_have_text("站点默认模型（gpt-4）")
    screenshot(page, "desktop-light-chinese-settings")
