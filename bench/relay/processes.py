"""The processes under test, each pinned to a core (see tests/cluster/processes.py
for what /proc says about them: ProcStats)."""

import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Pinned:
    """A subprocess started under `taskset -c CORE`, its output in a temporary log."""

    def __init__(
        self, core: int, command: list[str], env: dict[str, str], cwd: Path = ROOT
    ) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="bench-relay-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(
            ["taskset", "-c", str(core), *command],
            cwd=cwd,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.pid = self.process.pid  # taskset execs the command: same process

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def wait_for(self, url: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{url}: the process exited early:\n{self.output()}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # it answers
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        raise TimeoutError(f"{url} did not answer in {timeout}s:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if os.environ.get("BENCH_RELAY_KEEP_LOGS"):
            print(f"log kept: {self.log.name}")
        else:
            Path(self.log.name).unlink(missing_ok=True)


def fake_upstream(core: int, port: int, env: dict[str, str]) -> Pinned:
    command = [sys.executable, "-m", "tests.fakeupstream", "--port", str(port), "--stamp"]
    fake = Pinned(core, command, env)
    fake.wait_for(f"http://127.0.0.1:{port}/v1/models")
    return fake


def daphne(core: int, port: int, env: dict[str, str], app_dir: Path = ROOT) -> Pinned:
    """chatsite's worker, importing the app from `app_dir` (another checkout, to compare)."""
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    worker = Pinned(core, [*command, "chatsite.asgi:application"], env, cwd=app_dir)
    worker.wait_for(f"http://127.0.0.1:{port}/accounts/login/")
    return worker


def bare(core: int, port: int, env: dict[str, str], upstream: str) -> Pinned:
    """The bare Channels relay (bench/relay/bare.py), the floor, run like the app."""
    env = {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["BENCH_BARE_UPSTREAM"] = upstream
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    worker = Pinned(core, [*command, "bench.relay.bare:application"], env)
    worker.wait_for(f"http://127.0.0.1:{port}/")
    return worker
