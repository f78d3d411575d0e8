"""Where the processes run (taskset-style pinning) and what /proc says they used."""

import contextlib
import os
from pathlib import Path

from tests.cluster.processes import ProcStats, pin

# This machine has two cores. "spread": one worker per core, as docs/deployment.md
# advises, nginx beside worker 0 and the outside world (fake model, load
# generator) beside worker 1. "split": the site (both workers, nginx) on core 0,
# the outside world on core 1, so the load generator is away from the workers.
# PostgreSQL and Redis are the machine's shared servers: never pinned.
PLACEMENTS = {
    "spread": {"worker0": {0}, "worker1": {1}, "nginx": {0}, "fake": {1}, "load": {1}},
    "split": {"worker0": {0}, "worker1": {0}, "nginx": {0}, "fake": {1}, "load": {1}},
    "none": {},
}


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found


def processes_of(cluster) -> dict[str, list[int]]:
    """The cluster's processes by role (nginx: master and workers)."""
    nginx = cluster.nginx.process.pid
    return {
        "worker0": [cluster.workers[0].process.pid],
        "worker1": [cluster.workers[1].process.pid],
        "nginx": [nginx, *children(nginx)],
        "fake": [cluster.fake.process.pid],
        "load": [os.getpid()],
    }


def place(cluster, placement: str) -> dict[str, list[int]]:
    roles = processes_of(cluster)
    for role, cores in PLACEMENTS[placement].items():
        for pid in roles[role]:
            pin(pid, cores)
    return roles


def database_backends(database: str) -> list[int]:
    """PostgreSQL backends serving `database` (their process title names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres: ") and f" {database} " in title:
                found.append(int(entry.name))
    return found


def redis_server(port: int = 6379) -> list[int]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f":{port}" in (entry / "cmdline").read_bytes().decode(errors="replace") and (
                    (entry / "comm").read_text().strip() == "redis-server"
                ):
                    return [int(entry.name)]
            except OSError:
                continue
    return []


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):  # gone (a backend closed)
            total += ProcStats(pid).cpu_seconds()
    return total


def rss_mb(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, KeyError):
            total += ProcStats(pid).rss_mb()
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)
