"""Run the team setup of docs/deployment.md on this machine, for trying it out.

nginx (Debian's package, configured by docs/deploy/nginx.conf) in front of two
Daphne workers, on a PostgreSQL database and a Redis key prefix of their own
on the servers already running here, with the local fake upstream as the
model. Prints the URL and a sign-in; Ctrl-C stops everything and drops the
database.

    .venv/bin/python scripts/cluster.py
    .venv/bin/python scripts/cluster.py --workers 3 --tokens 200 --delay-ms 20
    .venv/bin/python scripts/cluster.py --private-servers   # its own PostgreSQL and Redis too

The same cluster is a context manager for tests and benchmarks:
tests/cluster/ (`with Cluster() as site: ...`).
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.cluster import Cluster, Postgres, PrivatePostgres, PrivateRedis, Redis  # noqa: E402
from tests.cluster.nginx import binary as nginx_binary  # noqa: E402
from tests.cluster.site import DEFAULT_POSTGRES, DEFAULT_REDIS  # noqa: E402


def main() -> None:
    args = arguments()
    ensure_nginx()
    folder = Path(tempfile.mkdtemp(prefix="chatsite-cluster-"))
    folder.chmod(0o755)  # nginx's workers (nobody) read the static files in it
    servers = private_servers(folder) if args.private_servers else []
    postgres = servers[0] if servers else Postgres(args.postgres)
    redis = servers[1] if servers else Redis(args.redis)
    cluster = Cluster(
        workers=args.workers,
        postgres=postgres,
        redis=redis,
        fake_args=fake_args(args),
        folder=folder / "site",
    )
    try:
        print("Starting nginx, the workers and the fake model...", flush=True)
        cluster.start()
        print(
            cluster.manage(
                "ensure_admin", "--username", "demo", "--url", f"{cluster.url}/accounts/login/"
            )
        )
        describe(cluster)
        wait_for_ctrl_c()
    finally:
        print("Stopping...", flush=True)
        cluster.stop()
        for server in reversed(servers):
            server.stop()
        if args.keep:
            print(f"Logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="Daphne workers (default 2)")
    postgres = os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    parser.add_argument("--postgres", default=postgres, help=f"server URL (default {postgres})")
    redis = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS)
    parser.add_argument("--redis", default=redis, help=f"Redis URL (default {redis})")
    parser.add_argument(
        "--private-servers",
        action="store_true",
        help="start a PostgreSQL and a Redis of its own (free ports, temporary folders)",
    )
    parser.add_argument("--tokens", type=int, help="the fake's reply length when not told")
    parser.add_argument("--delay-ms", type=float, default=30.0, help="between the fake's tokens")
    parser.add_argument("--keep", action="store_true", help="keep the logs folder")
    return parser.parse_args()


def ensure_nginx() -> None:
    if nginx_binary():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit("nginx is not installed: sudo apt-get install nginx (or make install-test)")
    print("Installing Debian's nginx...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "nginx"], check=True, env=env)


def private_servers(folder: Path) -> list:
    for server in (PrivatePostgres, PrivateRedis):
        if problem := server.available():
            sys.exit(problem)
    return [PrivatePostgres(folder).start(), PrivateRedis(folder).start()]


def fake_args(args: argparse.Namespace) -> list[str]:
    extra = ["--delay-ms", str(args.delay_ms)]
    return extra + (["--tokens", str(args.tokens)] if args.tokens else [])


def describe(cluster: Cluster) -> None:
    workers = ", ".join(worker.url for worker in cluster.workers)
    print(
        f"\nchatsite runs at {cluster.url}/ (nginx; the workers: {workers})\n"
        f"  database   {cluster.database_url}\n"
        f"  redis      {cluster.redis.url} (keys {cluster.redis_prefix}:*)\n"
        f"  model      {cluster.fake.base_url} (fake; [[fake:tokens=N,delay=MS]] in a message)\n"
        f"  health     {cluster.workers[0].url}/healthz\n"
        f"  logs       workers: {', '.join(worker.log.name for worker in cluster.workers)}\n"
        f"             nginx, fake: {cluster.folder} (with --keep, all of them stay there)\n"
        "Ctrl-C stops everything.",
        flush=True,
    )


def wait_for_ctrl_c() -> None:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # also when started in the background
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


if __name__ == "__main__":
    main()
