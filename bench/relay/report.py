"""Figures from the rounds: percentiles, throughput, the table and the JSON.

python -m bench.relay.report bench/results/relay-….json   # a run's table again
"""

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.relay.load import Round, Stream
from bench.relay.scenarios import SIDES


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


@dataclass
class Side:
    """One side of a scenario (relay or direct) over all its rounds."""

    streams: int
    deltas: int
    frames: int
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None
    delta_p50_ms: float | None
    delta_p99_ms: float | None
    tokens_per_second: float
    errors: int

    @classmethod
    def of(cls, rounds: list[Round]) -> "Side":
        streams = [s for r in rounds for s in r.streams]
        latencies = [lat for s in streams for lat in s.latencies]
        ttfts = [s.ttft for s in streams if s.ttft is not None]
        wall = sum(r.wall for r in rounds)
        return cls(
            streams=len(streams),
            deltas=len(latencies),
            frames=sum(s.frames for s in streams),
            ttft_p50_ms=ms(percentile(ttfts, 0.5)),
            ttft_p99_ms=ms(percentile(ttfts, 0.99)),
            delta_p50_ms=ms(percentile(latencies, 0.5)),
            delta_p99_ms=ms(percentile(latencies, 0.99)),
            tokens_per_second=round(len(latencies) / wall) if wall else 0,
            errors=sum(1 for s in streams if s.error or s.status != "complete"),
        )


def text_problems(streams: list[Stream], tokens: int, stored: dict | None) -> list[str]:
    """Each answer: no gap or duplicate, every stamp, and (`stored`) exactly the text stored."""
    problems = []
    for stream in streams:
        problems += stream.problems
        if len(stream.latencies) != tokens:
            problems.append(f"{stream.message_id}: {len(stream.latencies)} of {tokens} deltas")
        if stored is None:
            continue
        status, content = stored.get(stream.message_id, ("missing", ""))
        if (status, content) != ("complete", stream.text):
            problems.append(f"{stream.message_id}: stored {status}, text differs from the tab's")
    return problems


# The table: a label, the scenario it reads, and what it shows of a side.
ROWS = [
    ("1 stream, 20 ms/token: TTFT p50 / p99", "1x20ms", lambda r, s: _ttft(r, s)),
    ("burst of 10, 20 ms/token: TTFT p50 / p99", "10x20ms", lambda r, s: _ttft(r, s)),
    ("burst of 10: per-delta latency p50 / p99", "10x20ms", lambda r, s: _delta(r, s)),
    ("burst of 100, 20 ms/token: TTFT p50 / p99", "100x20ms", lambda r, s: _ttft(r, s)),
    ("burst of 100: tokens/s delivered (5,000 asked)", "100x20ms", lambda r, s: _rate(r, s)),
    ("burst of 100: CPU per relayed token", "100x20ms", lambda r, s: _cpu(r, s)),
    ("10 streams, 0 ms/token: tokens/s", "10x0ms", lambda r, s: _rate(r, s)),
    ("CPU per relayed token (10 streams, 0 ms)", "10x0ms", lambda r, s: _cpu(r, s)),
    ("burst of 300, 20 ms/token: TTFT p50 / p99", "300x20ms", lambda r, s: _ttft(r, s)),
    ("peak RSS with 300 open streams", "300x20ms", lambda r, s: _worker(r, s, "peak_rss_mb")),
]

# Any other scenario (--streams …): its figures in a row each.
OTHER = [
    ("TTFT p50 / p99", lambda r, s: _ttft(r, s)),
    ("per-delta latency p50 / p99", lambda r, s: _delta(r, s)),
    ("tokens/s", lambda r, s: _rate(r, s)),
    ("CPU per relayed token", lambda r, s: _cpu(r, s)),
    ("peak RSS", lambda r, s: _worker(r, s, "peak_rss_mb")),
]


def table(results: list[dict]) -> str:
    """Markdown: one row per figure of the issue, direct / bare relay / chatsite."""
    by_name = {r["name"]: r for r in results}
    rows = [row for row in ROWS if row[1] in by_name]
    named = {name for _, name, _ in ROWS}
    rows += [
        (f"`{r['name']}`: {label}", r["name"], cell)
        for r in results
        if r["name"] not in named
        for label, cell in OTHER
    ]
    lines = ["| scenario | direct | bare relay | chatsite |", "|---|---|---|---|"]
    for label, name, cell in rows:
        cells = [cell(by_name[name], side) for side in SIDES]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    last = results[-1]
    rss = [_worker(last, side, "rss_mb") for side in SIDES]
    lines.append(f"| RSS after the runs (after `{last['name']}`) | {' | '.join(rss)} |")
    faults = [str(sum(_faults(r, side) for r in results)) for side in SIDES]
    lines.append(f"| errors and text problems (all runs) | {' | '.join(faults)} |")
    return "\n".join(lines)


def _ttft(result: dict, side: str) -> str:
    figures = result["sides"][side]
    return f"{_n(figures['ttft_p50_ms'])} / {_n(figures['ttft_p99_ms'])} ms"


def _delta(result: dict, side: str) -> str:
    figures = result["sides"][side]
    return f"{figures['delta_p50_ms'] or 0:.1f} / {figures['delta_p99_ms'] or 0:.1f} ms"


def _rate(result: dict, side: str) -> str:
    return f"{result['sides'][side]['tokens_per_second']:,}"


def _cpu(result: dict, side: str) -> str:
    return _worker(result, side, "cpu_us_per_token", "µs")


def _worker(result: dict, side: str, key: str, unit: str = "MB") -> str:
    worker = result["workers"].get(side)
    return "—" if worker is None else f"{worker[key]:,.0f} {unit}"


def _faults(result: dict, side: str) -> int:
    return result["sides"][side]["errors"] + len(result["problems"][side])


def _n(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def write(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=_plain))


def _plain(value):
    return asdict(value) if hasattr(value, "__dataclass_fields__") else str(value)


if __name__ == "__main__":
    print(table(json.loads(Path(sys.argv[1]).read_text())["results"]))
