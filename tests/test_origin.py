"""The socket accepts only the site's own origins (scheme, host and port), as CSRF does,
and refuses unknown socket paths cleanly."""

import logging

import aiohttp
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chatsite.asgi import application
from tests.cluster.seed import session_cookie
from tests.livedaphne import LiveDaphne, app_env

pytestmark = pytest.mark.django_db(transaction=True)


async def handshake(user, origin: str | None, host: str = "localhost", path="/ws/chat/", **more):
    """Whether the socket was accepted, with these handshake headers."""
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if user is not None:
        cookie = await database_sync_to_async(session_cookie)(user)
        headers.append((b"cookie", cookie.encode()))
    headers += [(name.replace("_", "-").encode(), value.encode()) for name, value in more.items()]
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _code = await communicator.connect()
    await communicator.disconnect()
    return connected


async def test_the_sites_own_origin_is_accepted(alice, runtime):
    assert await handshake(alice, "http://localhost")
    assert await handshake(alice, "http://localhost:8000", host="localhost:8000")


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:9999",  # another port of the same host
        "https://localhost",  # another scheme
        "https://localhost:8443",
        "http://evil.example",
        "http://localhost.evil.example",
        "null",
    ],
)
async def test_other_schemes_ports_and_hosts_are_refused(alice, runtime, origin):
    assert not await handshake(alice, origin)


async def test_a_handshake_without_an_origin_is_refused(alice, runtime):
    assert not await handshake(alice, None)


async def test_a_host_outside_allowed_hosts_is_refused_even_from_itself(alice, runtime):
    assert not await handshake(alice, "http://evil.example", host="evil.example")


async def test_behind_a_tls_proxy_the_origin_is_https(alice, runtime, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert await handshake(alice, "https://localhost", x_forwarded_proto="https")
    assert not await handshake(alice, "http://localhost", x_forwarded_proto="https")
    assert not await handshake(alice, "https://localhost")  # the proxy did not say https


async def test_the_forwarded_proto_is_ignored_unless_a_tls_proxy_is_configured(alice, runtime):
    assert not await handshake(alice, "https://localhost", x_forwarded_proto="https")


async def test_the_forwarded_host_counts_only_when_configured(alice, runtime, settings):
    forwarded = {"x_forwarded_host": "127.0.0.1"}
    assert not await handshake(alice, "http://127.0.0.1", host="localhost", **forwarded)
    settings.USE_X_FORWARDED_HOST = True
    assert await handshake(alice, "http://127.0.0.1", host="localhost", **forwarded)


async def test_csrf_trusted_origins_are_accepted(alice, runtime, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["http://localhost:9999", "https://*.example.com"]
    assert await handshake(alice, "http://localhost:9999")
    assert await handshake(alice, "https://chat.example.com")
    assert not await handshake(alice, "http://chat.example.com")
    assert not await handshake(alice, "http://localhost:9998")


async def test_an_unknown_socket_path_is_refused_without_an_error(runtime, caplog):
    with caplog.at_level(logging.WARNING):
        assert not await handshake(None, "http://localhost", path="/ws/nope/")
        assert not await handshake(None, "http://localhost", path="/elsewhere")
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.fixture(scope="module")
def daphne(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        env = app_env()
    with LiveDaphne(env) as app:
        yield app


async def test_daphne_closes_an_anonymous_socket_with_4401_not_403(daphne):
    async with aiohttp.ClientSession() as session:
        headers = {"Origin": daphne.url}
        socket = await session.ws_connect(daphne.ws_url, headers=headers)
        message = await socket.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert socket.close_code == 4401


async def test_daphne_answers_403_to_unknown_paths_and_logs_no_traceback(daphne):
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(f"{daphne.url}/ws/nope/", headers={"Origin": daphne.url})
            assert refused.value.status == 403
    log = daphne.output()
    assert "Traceback" not in log
    assert "No route found" not in log
