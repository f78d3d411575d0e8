"""Relay benchmark: N websocket clients through one Daphne worker vs the fake upstream directly.

    python -m bench.relay --streams 10 --delay-ms 20 --tokens 200 --rounds 3
    python -m bench.relay --all                      # the issue's scenarios, with targets
    python -m bench.relay --all --transport httpcore # the other connection pool under httpx
    python -m bench.relay --all --database-url postgresql://postgres@127.0.0.1:5432/chatsite_bench_relay

It makes its own database (a fresh SQLite file unless --database-url), users
and session cookies; starts the fake upstream (its command line) and one
Daphne worker, each pinned with taskset, the worker alone on its core; and
runs the load generator (asyncio + aiohttp) pinned to the other core. Each
round runs N streams straight at the fake (the baseline), then the same N
through the worker. Results: a table here, JSON in bench/results/.
"""

import argparse
import asyncio
import os
import platform
import random
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bench.databases import ensure_database
from bench.relay import load, report, world
from bench.relay.processes import daphne, fake_upstream
from tests.cluster.processes import ProcStats, free_port

RESULTS = Path(__file__).resolve().parent.parent / "results"


@dataclass
class Scenario:
    name: str
    streams: int
    delay_ms: float
    tokens: int = 200
    rounds: int = 3
    # burst: each round, all clients send in the same instant (the worst case);
    # staggered: client i starts after a random offset within one answer's
    # duration, then sends again as soon as each answer is done.
    arrival: str = "burst"


# The scenarios: latency at 10 streams (>= 20,000 deltas), a burst of
# 100, throughput at 0 ms per token, and memory at 300 streams.
ALL = [
    Scenario("10x20ms", 10, 20, rounds=10),
    Scenario("10x20ms-stag", 10, 20, rounds=10, arrival="staggered"),
    Scenario("100x20ms", 100, 20, rounds=3),
    Scenario("100x20ms-stag", 100, 20, rounds=3, arrival="staggered"),
    Scenario("50x0ms", 50, 0, rounds=6),
    Scenario("300x20ms", 300, 20, rounds=1),
]


def targets(result: dict) -> dict[str, bool]:
    """The issue's targets that apply to this scenario: name → met."""
    relay, direct, name = result["relay"], result["direct"], result["name"]
    checks = {}
    if name.startswith("10x20ms"):
        checks["added TTFT p50 <= 10 ms"] = result["added_ttft_p50_ms"] <= 10
        checks["added TTFT p99 <= 25 ms"] = result["added_ttft_p99_ms"] <= 25
        checks["delta p50 <= direct + 1 ms"] = relay["delta_p50_ms"] <= direct["delta_p50_ms"] + 1
        checks["delta p99 <= direct + 5 ms"] = relay["delta_p99_ms"] <= direct["delta_p99_ms"] + 5
        checks[">= 20,000 deltas"] = relay["deltas"] >= 20000
    if name.startswith("100x20ms"):
        ttft = relay["ttft_p99_ms"]
        checks["TTFT p99 <= 1.5 x direct"] = ttft <= 1.5 * direct["ttft_p99_ms"]
        checks["TTFT p99 < 500 ms"] = ttft < 500
    if name.endswith("x0ms"):
        one_per_chunk = relay["frames"] >= relay["deltas"]
        floor = 9000 if one_per_chunk else 12000
        checks[f"tokens/s >= {floor}"] = relay["tokens_per_second"] >= floor
    if name == "300x20ms":
        checks["peak RSS <= 150 MB"] = result["worker"]["peak_rss_mb"] <= 150
    if name.split("-")[0] in ("10x20ms", "100x20ms", "300x20ms") or name.endswith("x0ms"):
        checks["no error, texts identical"] = (
            relay["errors"] == 0 and direct["errors"] == 0 and not result["text_problems"]
        )
    return checks


async def drive(scenario: Scenario, cookies: list[str], urls: dict, stats: ProcStats) -> dict:
    content = load.prompt(scenario.tokens, scenario.delay_ms)
    warm = load.prompt(5, 0)
    relay, direct, cpu = [], [], 0.0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await load.direct_round(session, urls["chat"], len(cookies), warm)
        if scenario.arrival == "staggered":
            # Straight at the fake first: the tabs open afterwards, since idle
            # tabs would miss Daphne's pings and be closed.
            spread = max(scenario.tokens * scenario.delay_ms / 1000, 0.1)
            offsets = [random.uniform(0, spread) for _ in cookies]
            straight = (lambda i: load.direct_turn(session, urls["chat"], content), offsets)
            direct.append(await load.staggered_round(*straight, scenario.rounds))
        fresh = urls["fresh"]
        opening = (load.Tab.open(session, urls["ws"], urls["origin"], c, fresh) for c in cookies)
        tabs = await asyncio.gather(*opening)
        await load.relay_round(tabs, warm)  # connections open, encodings loaded
        idle_rss = stats.rss_mb()
        stats.reset_peak()
        if scenario.arrival == "staggered":
            before = stats.cpu_seconds()
            turns = (lambda i: tabs[i].turn(content), offsets, scenario.rounds)
            relay.append(await load.staggered_round(*turns))
            cpu += stats.cpu_seconds() - before
        for _ in range(scenario.rounds if scenario.arrival == "burst" else 0):
            direct.append(await load.direct_round(session, urls["chat"], len(tabs), content))
            before = stats.cpu_seconds()
            relay.append(await load.relay_round(tabs, content))
            cpu += stats.cpu_seconds() - before
            await asyncio.sleep(0.3)  # the worker's last writes, before the next round
        peak = stats.peak_mb()
        for tab in tabs:
            await tab.ws.close()
    wall = sum(r.wall for r in relay)
    return {
        "relay": relay,
        "direct": direct,
        "worker": {
            "cpu_seconds": round(cpu, 2),
            "cpu_percent": round(100 * cpu / wall, 1) if wall else 0,
            "cpu_ms_per_1k_deltas": round(
                1e6 * cpu / max(1, sum(len(s.latencies) for r in relay for s in r.streams)), 1
            ),
            "idle_rss_mb": round(idle_rss, 1),
            "peak_rss_mb": round(peak, 1),
        },
    }


def run(scenario: Scenario, cookies: list[str], urls: dict, stats: ProcStats) -> dict:
    measured = asyncio.run(drive(scenario, cookies[: scenario.streams], urls, stats))
    streams = [s for r in measured["relay"] for s in r.streams]
    stored = world.stored_answers([s.message_id for s in streams if s.message_id])
    relay, direct = report.Side.of(measured["relay"]), report.Side.of(measured["direct"])
    result = {
        **asdict(scenario),
        "relay": asdict(relay),
        "direct": asdict(direct),
        "added_ttft_p50_ms": round((relay.ttft_p50_ms or 0) - (direct.ttft_p50_ms or 0), 2),
        "added_ttft_p99_ms": round((relay.ttft_p99_ms or 0) - (direct.ttft_p99_ms or 0), 2),
        "worker": measured["worker"],
        "text_problems": report.text_problems(streams, scenario.tokens, stored)[:20],
    }
    result["targets"] = targets(result)
    return result


def profile(pid: int, path: str, core: int) -> subprocess.Popen:
    """py-spy sampling the worker from the load generator's core, until interrupted."""
    command = ["taskset", "-c", str(core), "py-spy", "record", "--pid", str(pid)]
    command += ["--format", "raw", "--output", path, "--rate", "200"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def scenarios(args) -> list[Scenario]:
    if args.all:
        return ALL
    name = f"{args.streams}x{args.delay_ms:g}ms" + ("-stag" if args.arrival == "staggered" else "")
    return [Scenario(name, args.streams, args.delay_ms, args.tokens, args.rounds, args.arrival)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--delay-ms", type=float, default=20)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--arrival", choices=("burst", "staggered"), default="burst")
    parser.add_argument("--all", action="store_true", help="the issue's scenarios")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--transport", choices=("aiohttp", "httpcore"), default="aiohttp")
    parser.add_argument("--worker-core", type=int, default=0)
    parser.add_argument("--load-core", type=int, default=1)
    parser.add_argument("--label", default="", help="a note kept in the JSON")
    parser.add_argument(
        "--new-conversations",
        action="store_true",
        help="every turn starts a conversation (default: each client goes on in its own)",
    )
    parser.add_argument(
        "--py-spy", metavar="FILE", help="profile the worker (collapsed stacks; needs py-spy)"
    )
    args = parser.parse_args()
    began = time.monotonic()

    url = args.database_url or world.default_database_url()
    if url.startswith("postgres"):
        ensure_database(url, rebuild=True)
    env = world.environment(url, args.transport)
    world.setup_django(env)
    chosen = scenarios(args)
    fake_port, worker_port = free_port(), free_port()
    fake = fake_upstream(args.load_core, fake_port, env)
    worker = None
    try:
        world.provider_at(f"http://127.0.0.1:{fake_port}/v1")
        cookies = world.signed_in_users(max(s.streams for s in chosen))
        os.sched_setaffinity(0, {args.load_core})
        urls = {
            "ws": f"ws://127.0.0.1:{worker_port}/ws/chat/",
            "origin": f"http://127.0.0.1:{worker_port}",
            "chat": f"http://127.0.0.1:{fake_port}/v1/chat/completions",
            "fresh": args.new_conversations,
        }
        results = []
        for scenario in chosen:
            # A fresh worker per scenario: its memory says what this load needs.
            worker = daphne(args.worker_core, worker_port, env)
            profiler = args.py_spy and profile(worker.pid, args.py_spy, args.load_core)
            print(f"running {scenario.name} ({scenario.rounds} rounds)...", flush=True)
            results.append(run(scenario, cookies, urls, ProcStats(worker.pid)))
            if profiler:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(30)
            worker.stop()
            worker = None
        writes = world.time_turn_writes(50, load.prompt(200, 20))
    finally:
        if worker is not None:
            worker.stop()
        fake.stop()
    print()
    print(report.table(results))
    for result in results:
        for target, met in result["targets"].items():
            print(f"  {result['name']:<10} {'met ' if met else 'MISS'} {target}")
        for problem in result["text_problems"][:3]:
            print(f"  {result['name']:<10} text problem: {problem}")
    print("  turn writes in-process (ms):", {k: round(v, 2) for k, v in writes.items()})
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"relay-{stamp}.json"
    report.write(
        path,
        {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, "
            f"{platform.python_implementation()} {platform.python_version()}",
            "label": args.label,
            "load_average_after": os.getloadavg(),
            "transport": args.transport,
            "conversations": "new each turn" if args.new_conversations else "continued",
            "database": url.split(":", 1)[0],
            "turn_writes_ms": writes,
            "results": results,
            "took_seconds": round(time.monotonic() - began, 1),
        },
    )
    print(f"\nwritten: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


if __name__ == "__main__":
    main()
