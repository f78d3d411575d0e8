"""The bench's own database: schema, users with signed-in sessions, a provider at the fake.

The worker and this process share the database and the secret key, so the
session cookies made here sign the load generator's sockets in.
"""

import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.relay.processes import ROOT

SECRET_KEY = "bench-relay-only-secret-key-" + "x" * 40
SHARED_TIKTOKEN = ROOT.parent / "shared" / "tiktoken"


def default_database_url() -> str:
    folder = Path(tempfile.mkdtemp(prefix="bench-relay-"))
    return f"sqlite:///{folder / 'relay.sqlite3'}"


def environment(database_url: str, transport: str) -> dict[str, str]:
    """The environment of every process of the bench (the worker's settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.pop("REDIS_URL", None)  # one worker: the in-memory channel layer
    env.update(
        DJANGO_SETTINGS_MODULE="chatsite.settings",
        DJANGO_SECRET_KEY=SECRET_KEY,
        DJANGO_DEBUG="false",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SESSION_COOKIE_SECURE="false",
        DJANGO_CSRF_COOKIE_SECURE="false",
        WHITENOISE_USE_FINDERS="true",
        DATABASE_URL=database_url,
        LOG_LEVEL="warning",
        LLM_TRANSPORT=transport,
        # Limits lifted: the bench sends many turns per user and minute; titles
        # from the model would add requests.
        CHATSITE_MESSAGES_PER_MINUTE="1000000",
        CHATSITE_MAX_CONCURRENT_GENERATIONS="1000",
        CHATSITE_AUTO_TITLES="words",
    )
    if "TIKTOKEN_CACHE_DIR" not in env and SHARED_TIKTOKEN.is_dir():
        env["TIKTOKEN_CACHE_DIR"] = str(SHARED_TIKTOKEN)
    return env


def setup_django(env: dict[str, str], app_dir: Path = ROOT) -> None:
    """Django in this process, with the app imported from `app_dir` like the worker's."""
    os.environ.update(env)
    sys.path.insert(0, str(app_dir))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def provider_at(fake_url: str) -> None:
    from conversations.models import ModelConfig, Provider

    # The fake is on loopback; older checkouts have no such switch.
    local = {f.name for f in Provider._meta.get_fields()} & {"allow_local_network"}
    provider = Provider.objects.create(
        name="Fake upstream",
        base_url=fake_url,
        **dict.fromkeys(local, True),
        connect_timeout=5,
        first_byte_timeout=30,
        idle_timeout=30,
        total_timeout=300,
    )
    ModelConfig.objects.create(
        provider=provider, model_id="gpt-4", context_window=128000, is_default=True
    )


def signed_in_users(count: int) -> list[str]:
    """`count` users (made without password hashing: it is slow) and their session cookies."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    run = uuid.uuid4().hex[:8]
    users = [User(username=f"bench-{run}-{i}", password="!") for i in range(count)]
    User.objects.bulk_create(users)
    cookies = []
    for user in User.objects.filter(username__startswith=f"bench-{run}-").order_by("id"):
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        cookies.append(f"{settings.SESSION_COOKIE_NAME}={session.session_key}")
    return cookies


def stored_answers(message_ids: list[str]) -> dict[str, tuple[str, str]]:
    """Message id → (status, content) as the worker stored them."""
    from conversations.models import Message

    rows = Message.objects.filter(pk__in=message_ids).values_list("id", "status", "content")
    return {str(pk): (status, content) for pk, status, content in rows}


def time_turn_writes(count: int, prompt: str) -> dict[str, float]:
    """Milliseconds of start_turn and finish_turn, called here in-process.

    The worker runs the same calls on its database thread; this isolates their
    cost from the thread hop and the event loop.
    """
    from django.contrib.auth.models import User

    from conversations.turn import Status, TurnRequest, start_turn
    from conversations.turn.finish import finish_turn
    from conversations.turn.plan import Outcome

    user = User.objects.create(username=f"bench-writes-{uuid.uuid4().hex[:8]}", password="!")
    starts, finishes = [], []
    for _ in range(count):
        request = TurnRequest(kind="send", content=prompt, client_id=uuid.uuid4().hex)
        began = time.perf_counter()
        plan = start_turn(user=user, worker="bench", request=request)
        starts.append((time.perf_counter() - began) * 1000)
        outcomes = [
            Outcome(c.message_id, "x" * 4000, 200, Status.COMPLETE, "stop") for c in plan.choices
        ]
        began = time.perf_counter()
        finish_turn(plan=plan, outcomes=outcomes, usage=None)
        finishes.append((time.perf_counter() - began) * 1000)
    return {
        "start_send_p50_ms": statistics.median(starts),
        "start_send_max_ms": max(starts),
        "finish_turn_p50_ms": statistics.median(finishes),
        "finish_turn_max_ms": max(finishes),
    }
