"""Run the real app in Daphne subprocesses, against the test database.

Used by the browser tests, the two-worker tests and the benchmarks: the app
is exactly what `make run` serves, on a free port of 127.0.0.1.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url() -> str:
    """The URL of the database the tests use right now (the test database)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    auth = f"{user}:{db['PASSWORD']}@" if db.get("PASSWORD") else (f"{user}@" if user else "")
    return (
        f"postgresql://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )


def app_env(**overrides: str) -> dict[str, str]:
    """The environment of a live worker: the test run's settings, test database."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST", "DATABASE_TEST"))
    }
    env.update(
        DATABASE_URL=database_url(),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        CHATSITE_STALE_AFTER=str(settings.CHATSITE_STALE_AFTER),
        CHATSITE_HEARTBEAT_INTERVAL=str(settings.CHATSITE_HEARTBEAT_INTERVAL),
        CHATSITE_FLUSH_INTERVAL=str(settings.CHATSITE_FLUSH_INTERVAL),
        # The tests poll their fine-tuning jobs themselves: a live worker sharing the
        # test database must not take their leases (it would hold them for a minute).
        CHATSITE_FINETUNE_TICK="3600",
        # The tests change site settings in their own process: a live worker's cache
        # (per process without Redis) would keep the last test's settings.
        CHATSITE_SITE_SETTINGS_CACHE_SECONDS="0",
        DJANGO_SETTINGS_MODULE="tests.live_settings",
    )
    if settings.REDIS_URL:
        env.update(REDIS_URL=settings.REDIS_URL, REDIS_PREFIX=settings.REDIS_PREFIX)
    env.update(overrides)
    return env


class LiveDaphne:
    """One Daphne worker process serving chatsite.asgi:application."""

    def __init__(
        self, env: dict[str, str] | None = None, port: int | None = None, args: tuple = ()
    ) -> None:
        self.env = env or app_env()
        self.port = port or free_port()
        self.args = list(args)  # more daphne options, e.g. ("--proxy-headers",)
        self.process: subprocess.Popen | None = None
        # The log outlives this method: the process writes to it until stop().
        self.log = tempfile.NamedTemporaryFile(prefix="daphne-", suffix=".log", delete=False)  # noqa: SIM115

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/chat/"

    def start(self, timeout: float = 30.0, *, request: bool = True) -> "LiveDaphne":
        """Start and wait until it serves; `request=False` waits for the port only,
        so the app gets no request at all (what a worker does before any comes)."""
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)]
        self.process = subprocess.Popen(
            [*command, *self.args, "chatsite.asgi:application"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        if request:
            self._wait_ready(timeout)
        else:
            self._wait_listening(timeout)
        return self

    def _wait_listening(self, timeout: float) -> None:
        self._wait(timeout, self._listens, "listen")

    def _wait_ready(self, timeout: float) -> None:
        self._wait(timeout, self._serves_the_login_page, "start")

    def _wait(self, timeout: float, probe, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Daphne exited early:\n{self.output()}")
            if probe():
                return
            time.sleep(0.1)
        raise TimeoutError(f"Daphne did not {what} in {timeout}s:\n{self.output()}")

    def _listens(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def _serves_the_login_page(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/accounts/login/", timeout=2) as reply:
                return reply.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-5000:]

    def kill(self) -> None:
        """SIGKILL: the worker dies mid-whatever, as in a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        Path(self.log.name).unlink(missing_ok=True)

    def __enter__(self) -> "LiveDaphne":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
