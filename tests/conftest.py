"""Shared fixtures: people and configuration are built in code, per test."""

import pytest
from django.contrib.auth.models import Group, User

from conversations.models import ModelConfig, Persona, Provider
from tests.browser import browse, chromium, live_app  # noqa: F401  (fixtures)

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, dropped even if a connection outlived its test.

    A worker thread or a killed server process can leave a PostgreSQL session
    open on the test database; DROP DATABASE then fails and each run would
    leave its database behind.
    """
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for connection in connections.all():
            if connection.vendor != "postgresql":
                continue
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture(autouse=True)
def forget_cached_settings():
    """Cached site settings and health answers must not leak from one test to the next.

    Only our own keys: the cache may be a Redis database other runs share.
    """
    from django.core.cache import cache

    from conversations.models.governance import SITE_SETTINGS_CACHE_KEY
    from conversations.views.health import UPSTREAM_CACHE_KEY

    keys = [SITE_SETTINGS_CACHE_KEY, UPSTREAM_CACHE_KEY]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


def make_user(username: str, **extra) -> User:
    return User.objects.create_user(username=username, password=PASSWORD, **extra)


@pytest.fixture
def alice(db) -> User:
    return make_user("alice")


@pytest.fixture
def bob(db) -> User:
    return make_user("bob")


@pytest.fixture
def staff(db) -> User:
    return make_user("sam", is_staff=True)


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("root", password=PASSWORD)


@pytest.fixture
def team(db) -> Group:
    return Group.objects.create(name="research")


@pytest.fixture
def provider(db) -> Provider:
    return Provider.objects.create(
        name="Local", base_url="http://127.0.0.1:9/v1", allow_local_network=True
    )


@pytest.fixture
def chat_model(provider) -> ModelConfig:
    return ModelConfig.objects.create(
        provider=provider, model_id="gpt-4", context_window=8192, is_default=True
    )


@pytest.fixture
def persona(alice, chat_model) -> Persona:
    return Persona.objects.create(
        owner=alice, name="Pirate", system_prompt="Talk like a pirate.", model=chat_model
    )


# --- Chat turns: the fake upstream, a model pointing at it, sockets ------------------


@pytest.fixture(scope="session")
def fake_server():
    from tests.fakeupstream import FakeUpstream

    with FakeUpstream() as server:
        yield server


@pytest.fixture
def fake(fake_server):
    """The fake upstream with an empty queue and no recorded requests."""
    fake_server.reset()
    yield fake_server
    fake_server.reset()


@pytest.fixture
def upstream_model(transactional_db, fake) -> ModelConfig:
    provider = Provider.objects.create(
        name="Fake",
        base_url=fake.base_url,
        allow_local_network=True,  # the fake listens on 127.0.0.1
        connect_timeout=2,
        first_byte_timeout=2,
        idle_timeout=1,
        total_timeout=30,
    )
    return ModelConfig.objects.create(
        provider=provider, model_id="gpt-4", context_window=8192, is_default=True
    )


@pytest.fixture
def fast_streaming(settings):
    """Flush, heartbeat and sweep quickly so tests need not wait seconds."""
    settings.CHATSITE_FLUSH_INTERVAL = 0.1
    settings.CHATSITE_HEARTBEAT_INTERVAL = 0.2
    settings.CHATSITE_STALE_AFTER = 1.0
    settings.LLM_RETRY_CAP = 2
    return settings


@pytest.fixture
async def runtime():
    """A fresh channel layer and worker runtime for the test's event loop."""
    from channels.db import database_sync_to_async
    from channels.layers import channel_layers
    from django.db import connections

    from conversations import llm
    from conversations.turn import get_runtime, shutdown_runtime

    channel_layers.backends.clear()
    worker = await get_runtime()
    yield worker
    await shutdown_runtime()
    await llm.close_all()
    channel_layers.backends.clear()
    # The database thread keeps its persistent connection; close it so the test
    # database can be dropped at the end of the run.
    await database_sync_to_async(connections.close_all)()


@pytest.fixture
async def open_socket(runtime):
    """Connect a signed-in tab: `socket = await open_socket(alice)`."""
    from channels.db import database_sync_to_async

    from tests.cluster.seed import session_cookie
    from tests.sockets import ChatSocket

    sockets = []

    async def connect(user, **options):
        cookie = await database_sync_to_async(session_cookie)(user) if user else None
        socket = ChatSocket(cookie, **options)
        connected, _code = await socket.connect()
        assert connected, "the socket was refused"
        sockets.append(socket)
        return socket

    yield connect
    for socket in sockets:
        await socket.close()
