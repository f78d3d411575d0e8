"""The scenarios of issue 10 and their targets, judged on one run's figures."""

from dataclasses import dataclass

SIDES = ("direct", "bare", "chatsite")  # the clients read the provider, the floor, the app
WORKERS = SIDES[1:]


@dataclass
class Scenario:
    """N clients send at the same instant, `rounds` times; 200 tokens, one SSE event each."""

    name: str
    streams: int
    delay_ms: float
    rounds: int
    tokens: int = 200


ALL = [
    Scenario("1x20ms", 1, 20, rounds=20),
    Scenario("10x20ms", 10, 20, rounds=10),
    Scenario("100x20ms", 100, 20, rounds=3),
    Scenario("10x0ms", 10, 0, rounds=6),
    Scenario("300x20ms", 300, 20, rounds=1),  # last: the others' memory is in it
]
ASKED_TOKENS_PER_SECOND = 100 * 50  # the 100-stream burst: 100 streams at 20 ms a token


def targets(result: dict) -> dict[str, bool]:
    """The issue's targets that apply to this scenario: name → met (chatsite's figures)."""
    sides, workers = result["sides"], result["workers"]
    app, bare, direct = sides["chatsite"], sides["bare"], sides["direct"]
    checks = {}
    if result["name"] == "10x20ms":
        checks["added TTFT p50 <= 10 ms over direct"] = added(app, direct, "p50") <= 10
        checks["added TTFT p99 <= 25 ms over direct"] = added(app, direct, "p99") <= 25
    if result["name"] == "100x20ms":
        checks["TTFT p99 <= 1.5 x bare"] = app["ttft_p99_ms"] <= 1.5 * bare["ttft_p99_ms"]
        checks["TTFT p99 < 500 ms"] = app["ttft_p99_ms"] < 500
        # Direct is what the provider itself delivers here: the relay must keep up with it.
        keeps_up = app["tokens_per_second"] >= 0.95 * direct["tokens_per_second"]
        checks["tokens/s >= 95% of direct (5,000 asked)"] = keeps_up
    if result["name"] == "10x0ms":
        checks["tokens/s >= 12,000"] = app["tokens_per_second"] >= 12000
        cpu = {side: workers[side]["cpu_us_per_token"] for side in WORKERS}
        checks["CPU per token <= 1.5 x bare"] = cpu["chatsite"] <= 1.5 * cpu["bare"]
    if result["name"] == "300x20ms":
        checks["peak RSS <= 150 MB"] = workers["chatsite"]["peak_rss_mb"] <= 150
    whole = all(s["errors"] == 0 for s in sides.values()) and not any(result["problems"].values())
    checks["no error, every answer whole"] = whole
    return checks


def added(side: dict, direct: dict, which: str) -> float:
    return (side[f"ttft_{which}_ms"] or 0) - (direct[f"ttft_{which}_ms"] or 0)
