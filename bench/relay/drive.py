"""One scenario on all three sides in the same run: each round, direct, then the bare
relay, then chatsite, so that a noisy moment of the machine touches all three alike."""

import asyncio
from pathlib import Path

import aiohttp

from bench.relay import load
from bench.relay.scenarios import SIDES, Scenario
from tests.cluster.processes import ProcStats

SETTLE = 0.3  # seconds after a round: the worker's last writes count in its CPU


def cpu_seconds(pid: int) -> float:
    """CPU time of the process's threads in nanoseconds' precision (/proc/*/schedstat),
    where utime + stime counts 10 ms ticks: too coarse for a round of a second."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that just ended
    return total / 1e9


async def measure(scenario: Scenario, cookies: list[str], urls: dict, workers: dict) -> dict:
    """Rounds per side, and each worker's CPU and memory (workers: side → ProcStats)."""
    content, warm = load.prompt(scenario.tokens, scenario.delay_ms), load.prompt(5, 0)
    rounds: dict[str, list[load.Round]] = {side: [] for side in SIDES}
    cpu = dict.fromkeys(workers, 0.0)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        direct = (session, urls["direct"], len(cookies))
        await load.direct_round(*direct, warm)
        tabs = {side: await _open(session, urls[side], cookies, urls["fresh"]) for side in workers}
        for side, stats in workers.items():
            await load.relay_round(tabs[side], warm)  # connections open, encodings loaded
            stats.reset_peak()
        for _ in range(scenario.rounds):
            rounds["direct"].append(await load.direct_round(*direct, content))
            for side, stats in workers.items():
                before = cpu_seconds(stats.pid)
                rounds[side].append(await load.relay_round(tabs[side], content))
                await asyncio.sleep(SETTLE)
                cpu[side] += cpu_seconds(stats.pid) - before
        peaks = {side: stats.peak_mb() for side, stats in workers.items()}
        for tab in (tab for side_tabs in tabs.values() for tab in side_tabs):
            await tab.ws.close()
    await asyncio.sleep(SETTLE)
    return {"rounds": rounds, "workers": _usage(workers, rounds, cpu, peaks)}


async def _open(session, url: dict, cookies: list[str], fresh: bool) -> list[load.Tab]:
    opening = (load.Tab.open(session, url["ws"], url["origin"], c, fresh) for c in cookies)
    return list(await asyncio.gather(*opening))


def _usage(workers: dict[str, ProcStats], rounds: dict, cpu: dict, peaks: dict) -> dict:
    usage = {}
    for side, stats in workers.items():
        tokens = sum(len(s.latencies) for r in rounds[side] for s in r.streams)
        usage[side] = {
            "cpu_seconds": round(cpu[side], 2),
            "cpu_us_per_token": round(1e6 * cpu[side] / max(1, tokens), 1),
            "peak_rss_mb": round(peaks[side], 1),
            "rss_mb": round(stats.rss_mb(), 1),  # after the tabs closed
        }
    return usage
