"""Time admin pages server-side: Django's test client in process, warm, p50/p95."""

import random
import statistics
import time
from dataclasses import dataclass


@dataclass
class Timing:
    name: str
    url: str
    p50_ms: float
    p95_ms: float
    max_ms: float
    queries: int
    kib: float


def scenarios(rng: random.Random) -> list[tuple[str, object]]:
    """(name, url or a function giving a fresh url per round)."""
    from django.contrib.auth.models import Group

    from conversations.models import Conversation, ModelConfig

    team = Group.objects.order_by("name").first()
    model = ModelConfig.objects.order_by("pk").first()
    owner = Conversation.objects.order_by("-updated").values_list("owner__username", flat=True)[0]
    ids = list(Conversation.objects.order_by("?").values_list("pk", flat=True)[:500])
    base = "/admin/conversations/conversation/"
    return [
        ("changelist", base),
        ("changelist page 100", base + "?p=100"),
        ("changelist by team", base + f"?team={team.pk}"),
        ("changelist by model", base + f"?model__id__exact={model.pk}"),
        ("changelist by user", base + f"?owner={owner}"),
        ("changelist flagged", base + "?flagged__exact=1"),
        ("changelist status=error", base + "?status=error"),
        ("changelist last 7 days", base + "?active_from=" + _days_ago(7)),
        ("search, rare word (0.1%)", base + "?q=zanzibar"),
        ("search, absent word", base + "?q=timbuktu"),
        ("search, common word (60%)", base + "?q=invoice"),
        ("transcript (random)", lambda: f"{base}{rng.choice(ids)}/transcript/"),
        ("audit log", "/admin/conversations/auditentry/"),
        ("usage, 30 days by user", "/admin/conversations/usagedaily/"),
    ]


def _days_ago(days: int) -> str:
    import datetime

    from django.utils import timezone

    return (timezone.localdate() - datetime.timedelta(days=days)).isoformat()


def time_page(client, name: str, url, rounds: int, warm: int = 3) -> Timing:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    next_url = url if callable(url) else (lambda: url)
    for _ in range(warm):
        _get(client, next_url())
    timings = []
    for _ in range(rounds):
        target = next_url()
        started = time.perf_counter()
        response = _get(client, target)
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        response = _get(client, next_url())
    timings.sort()
    return Timing(
        name=name,
        url=target if callable(url) else url,
        p50_ms=round(statistics.median(timings), 1),
        p95_ms=round(timings[max(int(len(timings) * 0.95) - 1, 0)], 1),
        max_ms=round(timings[-1], 1),
        queries=len(queries),
        kib=round(len(response.content) / 1024, 1),
    )


def _get(client, url: str):
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"bench: {url} answered {response.status_code}")
    return response


def explain(client, url: str) -> str:
    """EXPLAIN ANALYZE of the slowest query behind a page (to check index use)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        _get(client, url)
    slowest = max(queries.captured_queries, key=lambda q: float(q["time"]))
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return f"-- {slowest['time']} s\n{slowest['sql']}\n{plan}"
