"""PostgreSQL, Redis and the fake upstream for a cluster.

The shared servers of the machine are used through a database and a key
prefix of the cluster's own, and never restarted. Tests that restart the
database or Redis get private servers instead: PostgreSQL made with initdb
in a temporary folder, redis-server without persistence, each on a free port.
"""

import glob
import os
import pwd
import shutil
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg.rows import dict_row

from tests.cluster.processes import Process, free_port, run, wait_for_port, wait_for_url

ROOT = Path(__file__).resolve().parent.parent.parent


# --- PostgreSQL ---------------------------------------------------------------------


class Postgres:
    """A running PostgreSQL server (`postgresql://user@host:port`) on which a cluster
    creates, and afterwards drops, a database of its own."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url.rstrip("/")

    def database_url(self, name: str) -> str:
        return f"{self.server_url}/{name}"

    def create_database(self, name: str) -> str:
        with self._admin() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        with self._admin() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(self.database_url("postgres"), autocommit=True, connect_timeout=5)


def server_url_of(database_url: str) -> str:
    """postgresql://user@host:port/name → postgresql://user@host:port"""
    return urlunsplit(urlsplit(database_url)._replace(path="", query=""))


def rows(database_url: str, sql: str, *params) -> list[dict]:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as connection:
        return connection.execute(sql, params).fetchall()


def postgres_binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian: /usr/lib/postgresql/N/bin)."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    found.sort(key=lambda path: int(Path(path).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PrivatePostgres(Postgres):
    """A throw-away PostgreSQL server in `folder`, on a free port, to stop and start at will."""

    USER = "postgres"

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        super().__init__(f"postgresql://{self.USER}@127.0.0.1:{self.port}")
        self.folder = folder / "postgres"
        self.data = self.folder / "data"
        self.bin = postgres_binaries()

    @classmethod
    def available(cls) -> str | None:
        """Why this machine cannot run one, or None."""
        if postgres_binaries() is None:
            return "PostgreSQL's server programs (initdb, pg_ctl) are not installed"
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            return "runuser is needed to run PostgreSQL as the postgres user"
        return None

    def start(self) -> "PrivatePostgres":
        if not self.data.exists():
            self._initdb()
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._as_postgres("pg_ctl", "-D", self.data, "-l", self.folder / "server.log", "-w",
                          "-t", "30", "-o", options, "start")  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session at once (a restart); `immediate` is a crash."""
        if (self.data / "postmaster.pid").exists():
            self._as_postgres("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def restart(self, down_for: float = 0.0, mode: str = "fast") -> None:
        self.stop(mode)
        time.sleep(down_for)
        self.start()

    def log(self) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""

    def _initdb(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.parent.chmod(0o755)
        if os.geteuid() == 0:
            account = pwd.getpwnam(self.USER)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        self._as_postgres("initdb", "-D", self.data, "-U", self.USER, "-A", "trust",
                          "-E", "UTF8", "--no-sync", "--no-instructions")  # fmt: skip

    def _as_postgres(self, program: str, *args) -> str:
        command = [str(self.bin / program), *map(str, args)]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", self.USER, "--", *command]
        return run(command, cwd="/")


# --- Redis --------------------------------------------------------------------------


class Redis:
    """A running Redis; a cluster keeps its keys under a prefix of its own."""

    def __init__(self, url: str) -> None:
        self.url = url

    def forget(self, prefix: str) -> None:
        """Delete the cluster's keys (channel layer and cache)."""
        client = redis.Redis.from_url(self.url, socket_connect_timeout=3)
        try:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
        finally:
            client.close()


class PrivateRedis(Redis):
    """redis-server on a free port, without persistence: a restart forgets everything."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        super().__init__(f"redis://127.0.0.1:{self.port}/0")
        self.folder = folder
        self.process: Process | None = None

    @classmethod
    def available(cls) -> str | None:
        return None if shutil.which("redis-server") else "redis-server is not installed"

    def start(self) -> "PrivateRedis":
        command = [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--dir", str(self.folder)]  # fmt: skip
        self.process = Process("redis", command, self.folder / "redis.log").start()
        wait_for_port(self.port, 10, self.process)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(signal.SIGTERM)

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()


# --- The model ----------------------------------------------------------------------


class FakeUpstreamProcess:
    """tests/fakeupstream.py as a process: `python -m tests.fakeupstream --port P ...`."""

    def __init__(self, folder: Path, args: list[str] | tuple[str, ...] = ()) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "tests.fakeupstream", "--port", str(self.port), *args]
        self.process = Process("fake upstream", command, folder / "fakeupstream.log", cwd=ROOT)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "FakeUpstreamProcess":
        self.process.start()
        wait_for_url(f"{self.base_url}/models", 20, self.process)
        return self

    def stop(self) -> None:
        self.process.stop()
