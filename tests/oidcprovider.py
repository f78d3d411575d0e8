"""The real OpenID provider of tests/oidc_provider.mjs, and a person signing in
through it with a plain HTTP client (no browser, so the tests also run in the
PostgreSQL leg).
"""

import json
import os
import re
import shutil
import subprocess
import threading
import urllib.request
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "oidc_provider.mjs"
CLIENT_ID = "chatsite"
CLIENT_SECRET = "chatsite-test-secret"
FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"[^>]*method="post"')
PROMPT = re.compile(r'name="prompt" value="(\w+)"')


class OidcProvider:
    """oidc-provider in a Node subprocess on 127.0.0.1."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.issuer = ""

    def start(self, timeout: float = 20.0) -> "OidcProvider":
        self.process = subprocess.Popen(
            ["node", str(SCRIPT), CLIENT_ID, CLIENT_SECRET],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # its warnings about development mode
            text=True,
        )
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()))
        reader.start()
        reader.join(timeout)
        if not line or not line[0].startswith("ISSUER "):
            self.stop()
            raise RuntimeError(f"the OpenID provider did not start: {line!r}")
        self.issuer = line[0].split()[1]
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def set_account(self, account_id: str, **claims) -> None:
        """What the provider says of this person (email, email_verified, groups...)."""
        self._send("PUT", f"/test/accounts/{account_id}", json.dumps(claims).encode())

    def alter_next_token(self, mode: str) -> None:
        """ "tampered" or "wrong-audience": the next ID token it hands out, once."""
        self._send("POST", f"/test/next-token/{mode}", b"")

    def break_next_jwks(self, mode: str) -> None:
        """ "no-keys", "no-kid" or "unknown-kty": the next key set it serves, once."""
        self._send("POST", f"/test/next-jwks/{mode}", b"")

    def _send(self, method: str, path: str, body: bytes) -> None:
        request = urllib.request.Request(self.issuer + path, data=body, method=method)
        with urllib.request.urlopen(request, timeout=5) as reply:
            assert reply.status == 204


def provider_or_skip() -> OidcProvider:
    """Started, or the test is skipped with the reason; under CI a missing part fails."""
    missing = None
    if shutil.which("node") is None:
        missing = "Node.js is not installed"
    elif not (ROOT / "node_modules" / "oidc-provider").is_dir():
        missing = "the npm package oidc-provider is not installed (make install-test)"
    if missing and os.environ.get("CI") == "true":
        pytest.fail(f"single sign-on tests need a real OpenID provider: {missing}")
    if missing:
        pytest.skip(f"single sign-on tests need a real OpenID provider: {missing}")
    return OidcProvider().start()


@pytest.fixture(scope="session")
def oidc_provider():
    provider = provider_or_skip()
    yield provider
    provider.stop()


def browser(app_url: str) -> httpx.Client:
    """A visitor's cookie jar, following redirects as a browser does."""
    return httpx.Client(base_url=app_url, follow_redirects=True, timeout=20)


def sign_in(visitor: httpx.Client, login: str, *, start: str = "/oidc/authenticate/?next=/"):
    """Through the provider's own sign-in and consent pages, back to chatsite."""
    return answer_the_provider(visitor, visitor.get(start), login)


def answer_the_provider(visitor: httpx.Client, response: httpx.Response, login: str):
    """Fill in the provider's pages from this one on, until they send us back."""
    for _step in range(6):
        action, prompt = FORM_ACTION.search(response.text), PROMPT.search(response.text)
        if action is None or prompt is None or prompt.group(1) not in ("login", "consent"):
            return response
        form = {"prompt": prompt.group(1)}
        if prompt.group(1) == "login":
            form.update(login=login, password="any password")
        response = visitor.post(httpx.URL(str(response.url)).join(action.group(1)), data=form)
    raise AssertionError(f"the provider kept asking: {response.text[:500]}")


def refusal_code(response: httpx.Response) -> str | None:
    found = re.search(r'id="sso-refusal" data-code="([\w-]+)"', response.text)
    return found.group(1) if found else None
