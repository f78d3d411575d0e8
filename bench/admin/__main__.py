"""How fast are the history-review admin pages on a big PostgreSQL database?

50,000 conversations and 1,000,000 messages in a database of the bench's own;
the conversation changelist (unfiltered, filtered, searched) and a transcript
view are timed server-side with Django's test client, warm, as a superuser
under the "full" review policy. Target: changelist and transcript under 300 ms.

    python -m bench.admin                    # build the database once, then measure
    python -m bench.admin --rebuild          # drop and rebuild it first
    python -m bench.admin --explain          # also print the plan of the list's slowest query
    python -m bench.admin --database-url postgresql://postgres@127.0.0.1:5432/chatsite_bench_admin
"""

import argparse
import json
import os
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

from bench.databases import ensure_database

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/chatsite_bench_admin"
RESULTS = Path(__file__).resolve().parent.parent / "results"


def configure(url: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"
    os.environ["DJANGO_SECURE_SSL_REDIRECT"] = "false"
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()


def reviewer():
    """A superuser, with the policy opened so transcripts can be read."""
    from django.contrib.auth.models import User

    from conversations.models import SiteSettings

    user = User.objects.filter(username="bench-admin").first()
    if user is None:
        user = User.objects.create_superuser("bench-admin", password="bench-admin-password")
    settings = SiteSettings.load()
    settings.review_policy = "full"
    settings.save()
    return user


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--conversations", type=int, default=50_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, os.getcwd())
    fresh = ensure_database(args.database_url, args.rebuild)
    configure(args.database_url)
    from django.core.management import call_command
    from django.test import Client

    from bench.admin import generate, measure
    from conversations.models import Message

    call_command("migrate", verbosity=0)
    if fresh or not Message.objects.exists():
        print("Generating (a few minutes)...", flush=True)
        print(
            generate.generate(
                conversations=args.conversations, messages=args.messages, users=args.users
            ),
            flush=True,
        )
    client = Client()
    client.force_login(reviewer())
    rng = random.Random(1)
    counts = f"{Message.objects.count():,} messages"
    print(f"PostgreSQL, {counts}; {args.rounds} warm rounds per page (server time, in process)")
    print(f"{'page':28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8} {'KiB':>7}")
    timings = []
    for name, url in measure.scenarios(rng):
        timing = measure.time_page(client, name, url, args.rounds)
        timings.append(timing)
        print(
            f"{timing.name:28} {timing.p50_ms:8.1f} {timing.p95_ms:8.1f} {timing.max_ms:8.1f} "
            f"{timing.queries:8} {timing.kib:7.1f}",
            flush=True,
        )
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"admin-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps([asdict(t) for t in timings], indent=1))
    print(f"Saved {path}")
    if args.explain:
        print(measure.explain(client, "/admin/conversations/conversation/"))


if __name__ == "__main__":
    main()
