"""Load through the cluster: signed-in people → nginx → two Daphne workers → PostgreSQL + Redis.

    python -m bench.load                              # 300 people, 150 s of steady load
    python -m bench.load --users 50 --duration 30     # a quick look
    python -m bench.load --placement split            # see bench/load/machine.py

Starts the cluster of tests/cluster (nginx with docs/deploy/nginx.conf, two
workers, a database and Redis prefix of its own on the machine's servers, the
fake upstream replying 100 tokens at 20 ms each in stamp mode), pins the
processes, creates the people and their sessions with the ORM, and runs
them in this one process (asyncio + aiohttp): each connects through nginx,
then loops send → read the whole answer → think 2–5 s. Afterwards the
database is checked against what every person sent and assembled. Results:
a summary here, JSON in bench/results/.
"""

import argparse
import asyncio
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bench.load import machine
from bench.load.audit import audit
from bench.load.users import User
from tests.cluster import Cluster
from tests.cluster.processes import ProcStats
from tests.cluster.tabs import upstream_trace

RESULTS = Path(__file__).resolve().parent.parent / "results"
TOKENS, DELAY_MS = 100, 20
# Titles from the first words: a title request per new conversation would add
# 300 extra upstream calls to the first minute.
WORKER_ENV = {"CHATSITE_AUTO_TITLES": "words", "LOG_LEVEL": "warning"}


def main() -> None:
    args = arguments()
    fake = ["--tokens", str(TOKENS), "--delay-ms", str(DELAY_MS), "--stamp"]
    with Cluster(worker_env=WORKER_ENV, fake_args=fake) as cluster:
        roles = machine.place(cluster, args.placement)
        users = people(cluster, args)
        print(f"{len(users)} people signed in; running (placement {args.placement})...")
        measured = asyncio.run(run(users, roles, cluster.name, args))
        measured["audit"] = audit(users)
        measured["worker_logs"] = [Path(worker.log.name).read_text() for worker in cluster.workers]
        measured["ports"] = cluster.ports
    result = summarise(users, measured, args)
    write(result)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--duration", type=float, default=150.0, help="seconds of steady load")
    parser.add_argument("--ramp", type=float, default=20.0, help="seconds to connect everyone")
    parser.add_argument("--think", type=float, nargs=2, default=(2.0, 5.0))
    parser.add_argument("--placement", choices=sorted(machine.PLACEMENTS), default="spread")
    parser.add_argument("--label", default="")
    return parser.parse_args()


def people(cluster: Cluster, args: argparse.Namespace) -> list[User]:
    """Users and signed-in sessions made with the ORM, in the cluster's database."""
    os.environ.update(cluster.env)
    import django

    django.setup()
    from tests.cluster.seed import signed_in

    cookies = signed_in([f"load-{i:03d}" for i in range(args.users)])
    return [
        User(name, cookie, cluster.ws_url, cluster.url, tuple(args.think))
        for name, cookie in sorted(cookies.items())
    ]


async def run(users: list[User], roles: dict, database: str, args) -> dict:
    roles = {**roles, "postgres": [], "redis (shared)": machine.redis_server()}
    start = time.monotonic()
    steady_from = start + args.ramp + args.think[1]  # everyone connected and looping
    until = steady_from + args.duration
    samples: list[dict] = []
    connector = aiohttp.TCPConnector(limit=0)
    tracing = [upstream_trace()]  # which worker nginx gave each person
    async with aiohttp.ClientSession(connector=connector, trace_configs=tracing) as session:
        runs = [
            asyncio.create_task(user.run(session, start + i * args.ramp / len(users), until))
            for i, user in enumerate(users)
        ]
        sampler = asyncio.create_task(sample(users, roles, samples))
        await asyncio.sleep(steady_from - time.monotonic())
        roles["postgres"] = machine.database_backends(database)
        before, wall_from = snapshot(roles), time.time()
        await asyncio.sleep(until - time.monotonic())
        after, wall_until = snapshot(roles), time.time()
        outcomes = await asyncio.gather(*runs, return_exceptions=True)
        sampler.cancel()
    crashed = [repr(o) for o in outcomes if isinstance(o, BaseException)]
    steady = [s for s in samples if steady_from <= s["at"] <= until]
    return {
        "window": {
            "starts_after_s": round(steady_from - start, 1),
            "seconds": round(until - steady_from, 1),
            "wall": [wall_from, wall_until],
        },
        "cpu_percent": cpu_percent(before, after),
        "machine_busy_percent": machine_percent(before, after),
        "rss_peak_mb": {role: max(s["rss"][role] for s in samples) for role in roles},
        "worker_vmhwm_mb": [ProcStats(roles[f"worker{i}"][0]).peak_mb() for i in (0, 1)],
        "postgres_backends": len(roles["postgres"]),
        "connected_min": min((s["connected"] for s in steady), default=0),
        "connected_max": max((s["connected"] for s in steady), default=0),
        "users_crashed": crashed[:5],
        "load_average": os.getloadavg(),
    }


async def sample(users: list[User], roles: dict, samples: list[dict]) -> None:
    while True:
        connected = sum(user.connected for user in users)
        rss = {role: machine.rss_mb(pids) for role, pids in roles.items()}
        samples.append({"at": time.monotonic(), "connected": connected, "rss": rss})
        await asyncio.sleep(1.0)


def snapshot(roles: dict) -> dict:
    cpu = {role: machine.cpu_seconds(pids) for role, pids in roles.items()}
    return {"cpu": cpu, "machine": machine.machine_busy(), "at": time.monotonic()}


def cpu_percent(before: dict, after: dict) -> dict[str, float]:
    wall = after["at"] - before["at"]
    return {
        role: round(100 * (after["cpu"][role] - before["cpu"][role]) / wall, 1)
        for role in before["cpu"]
    }


def machine_percent(before: dict, after: dict) -> float:
    busy = after["machine"][0] - before["machine"][0]
    total = after["machine"][1] - before["machine"][1]
    return round(100 * busy / total, 1) if total else 0.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def summarise(users: list[User], measured: dict, args) -> dict:
    turns = [turn for user in users for turn in user.turns]
    errors: dict[str, int] = {}
    for turn in turns:
        if turn.error or turn.status != "complete":
            kind = turn.error or f"status {turn.status or 'none'}"
            errors[kind.split(":")[0]] = errors.get(kind.split(":")[0], 0) + 1
    wall_from, wall_until = measured["window"].pop("wall")
    steady = [t for t in turns if wall_from <= t.sent_at <= wall_until]
    ttfts = [t.ttft for t in steady if t.ttft is not None]
    to_stored = [t.to_stored for t in steady if t.to_stored is not None]
    stored_to_first = [t.stored_to_first for t in steady if t.stored_to_first is not None]
    server = [t.server_ttft_ms / 1000 for t in steady if t.server_ttft_ms is not None]
    latencies = [value for turn in steady for value in turn.latencies]
    seconds = measured["window"]["seconds"]
    ports = measured.pop("ports")
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, "
        f"CPython {platform.python_version()}",
        "label": args.label,
        "placement": args.placement,
        "users": len(users),
        "think_s": list(args.think),
        "reply": {"tokens": TOKENS, "delay_ms": DELAY_MS},
        "turns": len(turns),
        "turns_complete": sum(t.status == "complete" for t in turns),
        "steady_turns": len(steady),
        "steady_turns_per_second": round(len(steady) / seconds, 1),
        "steady_deltas": len(latencies),
        "steady_deltas_per_second": round(len(latencies) / seconds),
        "errors": errors,
        "error_rate": round(sum(errors.values()) / len(turns), 5) if turns else None,
        "reconnects": sum(user.connects - 1 for user in users),
        "ttft_p50_ms": ms(percentile(ttfts, 50)),
        "ttft_p99_ms": ms(percentile(ttfts, 99)),
        "send_to_stored_p50_ms": ms(percentile(to_stored, 50)),
        "send_to_stored_p99_ms": ms(percentile(to_stored, 99)),
        "stored_to_first_token_p50_ms": ms(percentile(stored_to_first, 50)),
        "stored_to_first_token_p99_ms": ms(percentile(stored_to_first, 99)),
        "server_ttft_p50_ms": ms(percentile(server, 50)),
        "server_ttft_p99_ms": ms(percentile(server, 99)),
        "delta_p50_ms": ms(percentile(latencies, 50)),
        "delta_p99_ms": ms(percentile(latencies, 99)),
        **measured,
    }
    result["per_worker"] = per_worker(users, result, ports)
    return result


def per_worker(users: list[User], result: dict, ports: list[int]) -> list[dict]:
    """People and turns nginx gave each worker, and the worker's CPU per turn."""
    wall_seconds = result["window"]["seconds"]
    rows = []
    for index, port in enumerate(ports):
        mine = [u for u in users if u.upstream.split(",")[-1].strip().endswith(f":{port}")]
        turns = sum(len(u.turns) for u in mine)
        cpu = result["cpu_percent"][f"worker{index}"] / 100 * wall_seconds
        share = turns / max(1, sum(len(u.turns) for u in users))
        steady_turns = share * result["steady_turns"]
        rows.append(
            {
                "people": len(mine),
                "turns": turns,
                "cpu_ms_per_turn": round(1000 * cpu / steady_turns, 1) if steady_turns else None,
            }
        )
    return rows


def write(result: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"load-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.json"
    for index, log in enumerate(result.pop("worker_logs")):
        path.with_suffix(f".worker{index}.log").write_text(log)
    path.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    print(f"results: {path} (worker logs beside it)")


if __name__ == "__main__":
    main()
