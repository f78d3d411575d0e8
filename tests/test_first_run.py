"""The first run, as a new user makes it: `make demo` from the repository, for real.

Once per module the real Makefile target sets up a fresh SQLite database and
starts the fake model and the app, with debug off and nothing from the test
run's environment (no debug, no allowed hosts, no secret key). The tests then
use it over plain http on 127.0.0.1 as a browser would, and stop it with the
signal Ctrl-C sends.
"""

import os
import re
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.livedaphne import free_port

ROOT = Path(__file__).resolve().parent.parent
# It makes its own SQLite database whatever the leg, so one leg is enough.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "sqlite").startswith("sqlite"),
        reason="the first run always uses its own SQLite file: run once, on the SQLite leg",
    ),
]
# What the test run sets for itself and a new user's shell does not have.
TEST_ONLY_PREFIXES = ("DJANGO_", "DATABASE_", "REDIS_", "WHITENOISE_", "LOG_", "OPENAI_", "PYTEST")


class FirstRun:
    def __init__(self, tmp: Path) -> None:
        self.port, self.upstream_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "make-demo.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(TEST_ONLY_PREFIXES)}
        env.update(
            DATABASE_URL=f"sqlite:///{tmp / 'first-run.sqlite3'}",
            DJANGO_STATIC_ROOT=str(tmp / "static"),
        )
        self.command = [
            "make", "--no-print-directory", "demo", f"PORT={self.port}",
            f"DEMO_UPSTREAM_PORT={self.upstream_port}", f"SECRET_KEY_FILE={tmp / 'secret-key'}",
        ]  # fmt: skip
        with self.log.open("wb") as out:
            # Its own process group, like a terminal's foreground job, so that the
            # test can send Ctrl-C's SIGINT to all of it at once.
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_serving(self) -> None:
        # Setting up (packages, translations, migrations, static files) takes a while;
        # the bound is only there so a broken target cannot hang the suite.
        for _ in range(1200):
            if self.process.poll() is not None:
                pytest.fail(f"make demo ended early:\n{self.output()[-4000:]}")
            if is_listening(self.port) and is_listening(self.upstream_port):
                return
            subprocess.run(["sleep", "0.25"], check=True)
        pytest.fail(f"make demo never served:\n{self.output()[-4000:]}")

    def admin_password(self) -> str:
        found = re.search(r"password: (\S+)", self.output())
        assert found, self.output()
        return found.group(1)

    def press_ctrl_c(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=60)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def is_listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    run = FirstRun(tmp_path_factory.mktemp("first-run"))
    try:
        run.wait_until_serving()
        yield run
    finally:
        run.kill()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def get(url: str) -> tuple[int, object, str]:
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def test_it_serves_the_sign_in_page_over_plain_http_with_debug_off(first_run):
    status, headers, body = get(f"{first_run.url}/accounts/login/")
    assert status == 200  # no redirect to https, no "Bad Request (400)" for the host
    assert 'name="password"' in body
    assert "Strict-Transport-Security" not in headers
    cookies = headers.get_all("Set-Cookie") or []
    assert any(c.startswith("csrftoken=") for c in cookies)
    flags = {part.strip().lower() for c in cookies for part in c.split(";")[1:]}
    assert "secure" not in flags  # a cookie the browser sends back over http
    assert f"Starting server at tcp:port={first_run.port}" in first_run.output()


def test_it_serves_the_collected_static_files(first_run):
    status, headers, body = get(f"{first_run.url}/static/css/app.css")
    assert status == 200
    assert "text/css" in headers["Content-Type"]
    assert "--bg" in body  # the product's stylesheet, not an empty answer


def test_an_unknown_address_shows_the_products_page_not_djangos_debug_page(first_run):
    status, _, body = get(f"{first_run.url}/no/such/page/")
    assert status == 404
    assert "Page not found" in body and "chatsite" in body
    assert "URLconf" not in body and "DEBUG = True" not in body


def test_the_printed_admin_signs_in_and_the_fake_model_answers(first_run):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(base_url=first_run.url)
        page.goto("/accounts/login/")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", first_run.admin_password())
        page.click("form button[type=submit], form input[type=submit]")
        page.wait_for_url(re.compile(r"/(\?.*)?$"))
        page.fill("#prompt", "Hello, demo model")
        page.keyboard.press("Enter")
        answer = page.locator(".message.assistant").last
        expect(answer).to_have_attribute("data-status", "complete", timeout=30_000)
        expect(answer).not_to_be_empty()
        browser.close()


def test_ctrl_c_stops_the_app_and_the_fake_model_together(first_run):
    first_run.press_ctrl_c()
    assert not is_listening(first_run.port)
    assert not is_listening(first_run.upstream_port)
    leftover = subprocess.run(
        ["pgrep", "-g", str(first_run.process.pid)], capture_output=True, text=True
    )
    assert leftover.stdout.strip() == ""


def test_make_run_takes_the_port_host_and_debug_it_is_given():
    plan = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", "PORT=8080", "HOST=0.0.0.0", "DEBUG=1"],
        cwd=ROOT, capture_output=True, text=True, check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(TEST_ONLY_PREFIXES)},
    ).stdout  # fmt: skip
    assert "daphne --bind 0.0.0.0 --port 8080 chatsite.asgi:application" in plan
    assert 'DJANGO_DEBUG="${DJANGO_DEBUG:-true}"' in plan
    assert "http://127.0.0.1:8080/accounts/login/" in plan  # where to sign in
