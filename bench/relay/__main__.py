"""Relay benchmark: the same clients read the provider directly, through a bare Channels
relay (the floor, bench/relay/bare.py) and through chatsite's Daphne worker, in one run.

    python -m bench.relay --all                      # issue 10's scenarios, with targets (~9 min)
    python -m bench.relay --all --quick              # a third of the rounds: does it all work?
    python -m bench.relay --only 10x0ms --py-spy /tmp/worker.txt   # profile chatsite's worker
    python -m bench.relay --streams 10 --delay-ms 20 --tokens 200 --rounds 3
    python -m bench.relay --all --app-dir /tmp/chatsite-before     # the app of another checkout
    python -m bench.relay --all --database-url postgresql://postgres@127.0.0.1:5432/chatsite_bench_relay

It makes its own database (a fresh SQLite file unless --database-url), users
and session cookies; starts the fake upstream (one SSE event per token), the
bare relay and one chatsite worker, the two workers pinned with taskset to one
core, the fake and this load generator (asyncio + aiohttp) to the other. Each
round sends N streams straight at the fake, then through the bare relay, then
through chatsite. Results: a markdown table here, JSON in bench/results/.
"""

import argparse
import asyncio
import os
import platform
import signal
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

from bench.databases import ensure_database
from bench.relay import drive, load, profile, report, scenarios, world
from bench.relay.processes import ROOT, bare, daphne, fake_upstream
from bench.relay.scenarios import SIDES, Scenario
from tests.cluster.processes import ProcStats, free_port

RESULTS = Path(__file__).resolve().parent.parent / "results"


def chosen(args) -> list[Scenario]:
    if args.all or args.only:
        names = args.only.split(",") if args.only else [s.name for s in scenarios.ALL]
        picked = [s for s in scenarios.ALL if s.name in names]
        if len(picked) != len(names):
            raise SystemExit(f"--only: choose from {', '.join(s.name for s in scenarios.ALL)}")
    else:
        name = f"{args.streams}x{args.delay_ms:g}ms"
        picked = [Scenario(name, args.streams, args.delay_ms, args.rounds, args.tokens)]
    if args.quick:
        picked = [replace(s, rounds=max(1, s.rounds // 3)) for s in picked]
    return picked


def run(scenario: Scenario, cookies: list[str], urls: dict, workers: dict, args) -> dict:
    print(f"running {scenario.name} ({scenario.rounds} rounds)...", flush=True)
    spy = Path(args.py_spy) if args.py_spy else None
    if spy:
        spy = spy.with_stem(f"{spy.stem}-{scenario.name}")
        profiler = profile.record(workers["chatsite"].pid, spy, args.load_core)
    stats = {side: ProcStats(worker.pid) for side, worker in workers.items()}
    measured = asyncio.run(drive.measure(scenario, cookies[: scenario.streams], urls, stats))
    if spy:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(60)
    result = summary(scenario, measured)
    for target, met in result["targets"].items():
        print(f"  {scenario.name:<9} {'met ' if met else 'MISS'} {target}", flush=True)
    if spy and spy.suffix != ".svg":
        print("  chatsite worker, self time:\n    " + "\n    ".join(profile.top(spy)))
    return result


def summary(scenario: Scenario, measured: dict) -> dict:
    rounds = measured["rounds"]
    streams = {side: [s for r in rounds[side] for s in r.streams] for side in SIDES}
    stored = world.stored_answers([s.message_id for s in streams["chatsite"] if s.message_id])
    against = {"direct": None, "bare": None, "chatsite": stored}
    result = {
        **asdict(scenario),
        "sides": {side: asdict(report.Side.of(rounds[side])) for side in SIDES},
        "workers": measured["workers"],
        "problems": {
            side: report.text_problems(streams[side], scenario.tokens, against[side])
            for side in SIDES
        },
    }
    result["targets"] = scenarios.targets(result)
    return result


def turn_writes() -> dict:
    """The turn's own database work, timed in-process (skipped if the app's API moved)."""
    try:
        writes = world.time_turn_writes(50, load.prompt(200, 20))
    except (ImportError, AttributeError, TypeError) as exc:
        return {"skipped": f"{type(exc).__name__}: {exc}"}
    return {k: round(v, 2) for k, v in writes.items()}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="issue 10's scenarios")
    parser.add_argument("--only", help="some of them, comma-separated (e.g. 10x0ms)")
    parser.add_argument("--quick", action="store_true", help="a third of the rounds")
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--delay-ms", type=float, default=20)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="import chatsite from here")
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
    parser.add_argument("--py-spy", metavar="FILE", help="profile chatsite's worker (.txt/.svg)")
    return parser


def main() -> None:
    args = parser().parse_args()
    args.app_dir = args.app_dir.resolve()
    began, load_before = time.monotonic(), os.getloadavg()
    picked = chosen(args)
    url = args.database_url or world.default_database_url()
    if url.startswith("postgres"):
        ensure_database(url, rebuild=True)
    env = world.environment(url, args.transport)
    world.setup_django(env, args.app_dir)
    ports = {name: free_port() for name in ("fake", *scenarios.WORKERS)}
    fake_url = f"http://127.0.0.1:{ports['fake']}/v1"
    fake = fake_upstream(args.load_core, ports["fake"], env)
    workers = {}
    try:
        world.provider_at(fake_url)
        cookies = world.signed_in_users(max(s.streams for s in picked))
        chat = f"{fake_url}/chat/completions"
        workers["bare"] = bare(args.worker_core, ports["bare"], env, chat)
        workers["chatsite"] = daphne(args.worker_core, ports["chatsite"], env, args.app_dir)
        os.sched_setaffinity(0, {args.load_core})
        urls = {"direct": chat, "fresh": args.new_conversations}
        for side in scenarios.WORKERS:
            origin = f"http://127.0.0.1:{ports[side]}"
            urls[side] = {"ws": f"ws://127.0.0.1:{ports[side]}/ws/chat/", "origin": origin}
        results = [run(scenario, cookies, urls, workers, args) for scenario in picked]
        writes = turn_writes()
    finally:
        for worker in workers.values():
            worker.stop()
        fake.stop()
    print()
    print(report.table(results))
    print(f"\nload average before / after: {load_before} / {os.getloadavg()}")
    print("turn writes in-process (ms):", writes)
    for result in results:
        for side, problems in result["problems"].items():
            for problem in problems[:3]:
                print(f"  {result['name']:<9} {side} text problem: {problem}")
    missed = [(r["name"], t) for r in results for t, met in r["targets"].items() if not met]
    print("targets: all met" if not missed else f"targets missed: {missed}")
    save(args, url, results, writes, load_before, began)


def save(args, url: str, results: list, writes: dict, load_before, began: float) -> None:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"relay-{stamp}.json"
    payload = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}",
        "label": args.label,
        "app_dir": str(args.app_dir),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "transport": args.transport,
        "conversations": "new each turn" if args.new_conversations else "continued",
        "database": url.split(":", 1)[0],
        "turn_writes_ms": writes,
        "results": results,
        "took_seconds": round(time.monotonic() - began, 1),
    }
    report.write(path, payload)
    print(f"\nwritten: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


if __name__ == "__main__":
    main()
