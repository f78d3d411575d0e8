"""How fast is the chat page's HTML for a heavy user?

A user with 10,000 conversations opens one with 1,000 messages; we time the
server's answer to GET /c/<id>/ (Django's test client, in process, warm), and
count its queries. Target: under 100 ms.

    python -m bench.page                      # SQLite file in a temporary folder
    python -m bench.page --database-url postgresql://postgres@127.0.0.1:5432/chatsite_bench_page

The PostgreSQL database is created if missing (its name must start with chatsite_bench).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta

from bench.databases import ensure_database


def configure(database_url: str | None) -> None:
    folder = tempfile.mkdtemp(prefix="chatsite-bench-page-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
    os.environ["DJANGO_SECURE_SSL_REDIRECT"] = "false"
    # The page is served by Django here; whitenoise needs only a folder to exist.
    os.environ.setdefault("DJANGO_STATIC_ROOT", folder)
    if database_url:
        ensure_database(database_url, rebuild=False)
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{folder}/bench.sqlite3"
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()


def build(conversations: int, messages: int):
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.utils import timezone

    from conversations.models import Conversation, Message, ModelConfig, Provider

    call_command("migrate", verbosity=0)
    Message.objects.all().delete()
    Conversation.objects.all().delete()
    User.objects.filter(username="heavy").delete()
    user = User.objects.create_user("heavy", password="heavy-user-password")
    provider, _ = Provider.objects.get_or_create(
        name="bench", base_url="http://127.0.0.1:9/v1", defaults={"allow_local_network": True}
    )
    ModelConfig.objects.get_or_create(provider=provider, model_id="gpt-4o-mini", is_default=True)
    now = timezone.now()
    Conversation.objects.bulk_create(
        Conversation(owner=user, title=f"Conversation {i}", updated=now - timedelta(minutes=i))
        for i in range(conversations - 1)
    )
    big = Conversation.objects.create(owner=user, title="The long one", updated=now)
    parent = None
    rows = []
    for i in range(messages):
        role = "user" if i % 2 == 0 else "assistant"
        status = "sent" if role == "user" else "complete"
        text = f"Message {i}: " + "lorem ipsum dolor sit amet " * 12
        message = Message(conversation=big, parent=parent, role=role, status=status, content=text,
                          created=now + timedelta(milliseconds=i))  # fmt: skip
        rows.append(message)
        parent = message
    Message.objects.bulk_create(rows)
    big.current_leaf = rows[-1]
    big.save()
    return user, big


def measure(user, conversation, rounds: int) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    url = f"/c/{conversation.id}/"
    for _ in range(3):  # warm up
        client.get(url)
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    timings.sort()
    return {
        "p50_ms": statistics.median(timings),
        "p95_ms": timings[int(len(timings) * 0.95) - 1],
        "max_ms": timings[-1],
        "queries": len(queries),
        "html_kb": len(response.content) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    sys.path.insert(0, os.getcwd())
    configure(args.database_url)
    user, conversation = build(args.conversations, args.messages)
    result = measure(user, conversation, args.rounds)
    engine = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"{engine}: {args.conversations} conversations, {args.messages} messages: "
        f"p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms, "
        f"max {result['max_ms']:.1f} ms, "
        f"{result['queries']} queries, {result['html_kb']:.0f} KiB of HTML"
    )


if __name__ == "__main__":
    main()
