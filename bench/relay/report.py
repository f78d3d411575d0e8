"""Figures from the rounds: percentiles, throughput, the table and the JSON."""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.relay.load import Round, Stream


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


def text_problems(streams: list[Stream], tokens: int, stored: dict[str, tuple]) -> list[str]:
    """Each answer: no gap or duplicate, every stamp, and exactly the text stored."""
    problems = []
    for stream in streams:
        problems += stream.problems
        if len(stream.latencies) != tokens:
            problems.append(f"{stream.message_id}: {len(stream.latencies)} of {tokens} deltas")
        status, content = stored.get(stream.message_id, ("missing", ""))
        if (status, content) != ("complete", stream.text):
            problems.append(f"{stream.message_id}: stored {status}, text differs from the tab's")
    return problems


def table(results: list[dict]) -> str:
    head = (
        "scenario        deltas  TTFT p50/p99 ms (direct)   added p50/p99  "
        "delta p50/p99 ms (direct)      tok/s (direct)   fr/Δ  CPU%  peak MB  errors"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        relay, direct = r["relay"], r["direct"]
        lines.append(
            f"{r['name']:<14} {relay['deltas']:>7}  "
            f"{_pair(relay, 'ttft')} ({_pair(direct, 'ttft')})  "
            f"{r['added_ttft_p50_ms']:>5.1f}/{r['added_ttft_p99_ms']:<6.1f} "
            f"{_pair(relay, 'delta')} ({_pair(direct, 'delta')})  "
            f"{relay['tokens_per_second']:>6} ({direct['tokens_per_second']:>6})  "
            f"{relay['frames'] / max(1, relay['deltas']):>4.2f} "
            f"{r['worker']['cpu_percent']:>5.0f} {r['worker']['peak_rss_mb']:>7.0f}  "
            f"{relay['errors'] + direct['errors'] + len(r['text_problems'])}"
        )
    return "\n".join(lines)


def _pair(side: dict, what: str) -> str:
    return f"{side[f'{what}_p50_ms'] or 0:>6.1f}/{side[f'{what}_p99_ms'] or 0:<6.1f}"


def write(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=_plain))


def _plain(value):
    return asdict(value) if hasattr(value, "__dataclass_fields__") else str(value)
