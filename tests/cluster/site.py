"""The whole site on one machine: nginx → N Daphne workers → PostgreSQL + Redis → fake model."""

import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.cluster.nginx import Nginx
from tests.cluster.processes import free_port, run
from tests.cluster.servers import FakeUpstreamProcess, Postgres, Redis, rows
from tests.livedaphne import LiveDaphne

ROOT = Path(__file__).resolve().parent.parent.parent
SHARED_TIKTOKEN = ROOT.parent / "shared" / "tiktoken"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
# Settings of the test process that must not leak into the cluster's processes.
FOREIGN = ("DJANGO_", "DATABASE_", "REDIS_", "PYTEST", "CHATSITE_", "OPENAI_", "LLM_")
FOREIGN += ("WHITENOISE_", "LOG_")
# The default model `manage.py bootstrap` makes; cl100k_base, so counted exactly offline.
MODEL = "gpt-4-turbo"


class Cluster:
    """nginx, `workers` Daphne processes, a database and a Redis prefix of its own, the fake.

    Use as a context manager, or start() and stop(). `postgres` and `redis`
    default to the machine's shared servers; pass PrivatePostgres/PrivateRedis
    (already started) to restart them under the workers.
    """

    def __init__(
        self,
        *,
        workers: int = 2,
        postgres: Postgres | None = None,
        redis: Redis | None = None,
        worker_env: dict[str, str] | None = None,
        fake_args: list[str] | tuple[str, ...] = (),
        folder: Path | None = None,
    ) -> None:
        self.id = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.name = f"chatsite_cluster_{self.id}"
        self.own_folder = folder is None
        self.folder = folder or Path(tempfile.mkdtemp(prefix="chatsite-cluster-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)  # nginx's workers (nobody) read the static files in it
        self.postgres = postgres or Postgres(os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES))
        self.redis = redis or Redis(os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS))
        self.redis_prefix = f"chatsite-cluster-{self.id}"
        self.fake = FakeUpstreamProcess(self.folder, ["--models", MODEL, *fake_args])
        self.ports = [free_port() for _ in range(workers)]
        self.static_root = self.folder / "static"
        self.nginx = Nginx(self.folder / "nginx", workers=self.ports, static_root=self.static_root)
        self.worker_env = worker_env or {}
        self.database_url = self.postgres.database_url(self.name)
        self.workers: list[LiveDaphne] = []
        self.secret_key = uuid.uuid4().hex + uuid.uuid4().hex

    # --- Lifecycle -------------------------------------------------------------------

    def start(self) -> "Cluster":
        try:
            with ThreadPoolExecutor(3) as pool:
                steps = [self.fake.start, self.prepare, self._collect_static]
                for step in [pool.submit(step) for step in steps]:
                    step.result()
            self.workers = [LiveDaphne(self.env, port, ("--proxy-headers",)) for port in self.ports]
            with ThreadPoolExecutor(len(self.workers)) as pool:
                list(pool.map(LiveDaphne.start, self.workers))
            self.nginx.start()
        except BaseException:
            self.stop()
            raise
        return self

    def prepare(self) -> None:
        """A database of its own, and what docs/deploy/chatsite-setup.service does to it."""
        self.postgres.create_database(self.name)
        self.manage("migrate", "--noinput", "--verbosity", "0")
        self.manage("bootstrap")

    def _collect_static(self) -> None:
        self.manage("collectstatic", "--noinput", "--verbosity", "0")

    def stop(self) -> None:
        self.nginx.stop()
        for index, worker in enumerate(self.workers):
            log = Path(worker.log.name)
            if log.exists():  # LiveDaphne deletes its log when it stops
                shutil.copyfile(log, self.folder / f"worker{index}.log")
            worker.stop()
        self.fake.stop()
        for cleanup in (lambda: self.postgres.drop_database(self.name),
                        lambda: self.redis.forget(self.redis_prefix)):  # fmt: skip
            try:
                cleanup()
            except Exception as error:  # a private server may be down; nothing is left behind
                print(f"cluster cleanup: {error}", file=sys.stderr)
        if self.own_folder and not os.environ.get("CHATSITE_CLUSTER_KEEP"):
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- The workers' settings and tools -------------------------------------------------

    @property
    def url(self) -> str:
        return self.nginx.url

    @property
    def ws_url(self) -> str:
        return self.nginx.ws_url

    @property
    def env(self) -> dict[str, str]:
        """The environment of every process of the site (see docs/deployment.md)."""
        env = {key: value for key, value in os.environ.items() if not key.startswith(FOREIGN)}
        origins = [f"http://{host}:{self.nginx.port}" for host in ("127.0.0.1", "localhost")]
        env.update(
            DJANGO_SETTINGS_MODULE="chatsite.settings",
            DJANGO_SECRET_KEY=self.secret_key,
            DJANGO_DEBUG="false",
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DJANGO_CSRF_TRUSTED_ORIGINS=",".join(origins),
            # Plain HTTP on this machine: no TLS to redirect to or to mark cookies for.
            DJANGO_SECURE_SSL_REDIRECT="false",
            DJANGO_SESSION_COOKIE_SECURE="false",
            DJANGO_CSRF_COOKIE_SECURE="false",
            DJANGO_SECURE_HSTS_SECONDS="0",
            DJANGO_STATIC_ROOT=str(self.static_root),
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis.url,
            REDIS_PREFIX=self.redis_prefix,
            OPENAI_BASE_URL=self.fake.base_url,
            OPENAI_MODEL=MODEL,
        )
        if "TIKTOKEN_CACHE_DIR" not in env and SHARED_TIKTOKEN.is_dir():
            env["TIKTOKEN_CACHE_DIR"] = str(SHARED_TIKTOKEN)
        env.update(self.worker_env)
        return env

    def manage(self, *args: str) -> str:
        return run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env)

    def sign_in(self, *usernames: str, password: str | None = None) -> dict[str, str]:
        """New users of the site, signed in: username → session cookie."""
        command = [sys.executable, "-m", "tests.cluster.seed", *usernames]
        if password:
            command += ["--password", password]
        return json.loads(run(command, cwd=ROOT, env=self.env))

    def rows(self, sql: str, *params) -> list[dict]:
        """Ask the cluster's database directly (the test process's Django uses another)."""
        return rows(self.database_url, sql, *params)

    # --- Workers ---------------------------------------------------------------------

    def worker_at(self, upstream_addr: str) -> int:
        """The index of the worker nginx named in its upstream address ("127.0.0.1:PORT")."""
        last = upstream_addr.split(",")[-1].strip()  # after a failed try nginx names both
        return self.ports.index(int(last.rsplit(":", 1)[1]))

    def kill(self, index: int) -> None:
        """SIGKILL: the worker dies mid-whatever, as in a crash."""
        self.workers[index].kill()

    def revive(self, index: int) -> None:
        """Start a killed worker again on its port."""
        self.workers[index].start()

    def alive(self) -> list[bool]:
        return [worker.process.poll() is None for worker in self.workers]

    def healthz(self, index: int) -> tuple[int, dict]:
        """The worker's own /healthz, as a balancer probes it (not through nginx)."""
        url = f"{self.workers[index].url}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as error:
            body = error.read()
            try:
                return error.code, json.loads(body)
            except ValueError:
                return error.code, {"body": body[:200].decode(errors="replace")}
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            return 0, {"error": str(error)}

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.healthz(i)[0] == 200 for i in range(len(self.workers))):
                return
            time.sleep(0.2)
        states = [self.healthz(i) for i in range(len(self.workers))]
        raise TimeoutError(f"the workers are not healthy: {states}")

    def logs(self) -> str:
        """Every process's recent output, for a failing test's report."""
        parts = [f"--- worker {i} ---\n{w.output()}" for i, w in enumerate(self.workers)]
        parts.append(f"--- nginx ---\n{self.nginx.error_log()}")
        parts.append(f"--- fake upstream ---\n{self.fake.process.output(2000)}")
        return "\n".join(parts)
