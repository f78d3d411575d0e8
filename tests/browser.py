"""Real headless Chromium (Debian's) driven by Playwright, against a live Daphne.

Fixtures for the browser tests: `live_app` (the app in a Daphne subprocess on
the test database), `chromium`, and `browse(user)` which opens a signed-in page
that records dialogs, page errors and every request leaving for another origin.
"""

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.cluster.seed import session_cookie
from tests.livedaphne import LiveDaphne, app_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
DESKTOP = {"width": 1280, "height": 820}
PHONE = {"width": 390, "height": 844}


@dataclass
class Watched:
    """What a page did that a safe page never does."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def live_app(django_db_setup, django_db_blocker, fake_server):
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    with django_db_blocker.unblock():
        env = app_env(CHATSITE_AUTO_TITLES="words")
    with LiveDaphne(env) as app:
        yield app


@pytest.fixture(scope="module")
def chromium(live_app):
    """One browser per test module.

    Playwright's sync API keeps an event loop running in this thread while it is
    open, which makes Django refuse the tests' own ORM calls (set-up and
    assertions); the exemption lasts exactly as long as the browser, one module,
    and the app under test is a separate process without it.
    """
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.fixture
def browse(chromium, live_app, transactional_db):
    """`page, watched = browse(alice)`: a signed-in tab (or anonymous with None)."""
    contexts = []

    def open_page(user, *, viewport=DESKTOP, locale="en-US", color_scheme="light", path="/"):
        context = chromium.new_context(
            viewport=viewport, locale=locale, color_scheme=color_scheme, base_url=live_app.url
        )
        contexts.append(context)
        if user is not None:
            name, value = session_cookie(user).split("=", 1)
            context.add_cookies([{"name": name, "value": value, "url": live_app.url}])
        page = context.new_page()
        watched = watch(page, live_app.url)
        page.goto(path)
        return page, watched

    yield open_page
    for context in contexts:
        context.close()


def watch(page, origin: str) -> Watched:
    watched = Watched()

    def on_dialog(dialog):
        watched.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((origin, "data:", "blob:"))
            else watched.foreign_requests.append(request.url)
        ),
    )
    return watched


def screenshot(page, name: str) -> Path:
    path = ARTIFACTS / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=False)
    return path
