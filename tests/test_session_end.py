"""A session that ends closes its sockets, and such a socket starts nothing upstream.

Sign-out is in test_operations.py; here: a changed password (by the user or an
admin), a deactivated account, a deleted or expired session, and a socket whose
close never arrived.
"""

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from conversations.models import Message
from tests.cluster.seed import session_cookie
from tests.conftest import PASSWORD
from tests.fakeupstream import Scenario
from tests.sockets import ChatSocket

pytestmark = pytest.mark.django_db(transaction=True)

CLOSED = {"type": "websocket.close", "code": 4401}
NEW_PASSWORD = "a completely new passphrase 7"


async def open_tab(user) -> tuple[ChatSocket, str]:
    """A signed-in socket and its session's cookie."""
    cookie = await database_sync_to_async(session_cookie)(user)
    socket = ChatSocket(cookie)
    connected, _ = await socket.connect()
    assert connected
    return socket, cookie


async def closes(socket: ChatSocket, within: float = 5.0) -> bool:
    return await socket.communicator.receive_output(timeout=within) == CLOSED


async def stays_open(socket: ChatSocket) -> bool:
    await socket.send(type="ping")
    return (await socket.receive())["type"] == "pong"


def browser_of(user, cookie: str | None = None) -> Client:
    client = Client()
    if cookie:
        name, value = cookie.split("=", 1)
        client.cookies[name] = value
    else:
        client.force_login(user)
    return client


def change_password(client: Client) -> None:
    form = {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    response = client.post("/accounts/password_change/", form)
    assert response.status_code == 302, response.content[:300]


async def test_changing_the_password_closes_the_sockets_of_other_sessions(alice, runtime):
    socket, _cookie = await open_tab(alice)
    await database_sync_to_async(change_password)(await database_sync_to_async(browser_of)(alice))
    assert await closes(socket)


async def test_the_browser_that_changed_the_password_reconnects_signed_in(alice, runtime):
    """Django gives that browser a new session key; its old socket closes with 4401
    and the page's one fresh handshake, with the new cookie, is signed in."""
    socket, cookie = await open_tab(alice)
    browser = browser_of(alice, cookie)
    await database_sync_to_async(change_password)(browser)
    assert await closes(socket)
    name = cookie.split("=", 1)[0]
    again = ChatSocket(f"{name}={browser.cookies[name].value}")
    assert (await again.connect())[0]
    assert await stays_open(again)
    await again.close()


async def test_an_admin_setting_the_password_closes_the_users_sockets(alice, superuser, runtime):
    socket, _cookie = await open_tab(alice)
    admin = await database_sync_to_async(browser_of)(superuser)
    form = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
    url = f"/admin/auth/user/{alice.pk}/password/"
    response = await database_sync_to_async(admin.post)(url, form)
    assert response.status_code == 302
    assert await closes(socket)


async def test_deactivating_the_account_closes_its_sockets(alice, superuser, runtime):
    socket, _cookie = await open_tab(alice)
    alice.is_active = False
    await database_sync_to_async(alice.save)()
    assert await closes(socket)


async def test_other_changes_to_the_account_leave_its_sockets_open(alice, runtime):
    socket, _cookie = await open_tab(alice)
    alice.first_name = "Alice"
    await database_sync_to_async(alice.save)()
    assert await socket.communicator.receive_nothing(timeout=0.5)
    assert await stays_open(socket)
    await socket.close()


async def test_deleting_the_session_closes_its_sockets(alice, runtime):
    socket, cookie = await open_tab(alice)
    key = cookie.split("=", 1)[1]
    await database_sync_to_async(Session.objects.filter(pk=key).delete)()
    assert await closes(socket)


async def test_clearsessions_closes_the_sockets_of_expired_sessions(alice, runtime):
    socket, cookie = await open_tab(alice)
    key = cookie.split("=", 1)[1]
    expired = Session.objects.filter(pk=key)
    await database_sync_to_async(expired.update)(expire_date=timezone.now())
    await database_sync_to_async(call_command)("clearsessions")
    assert await closes(socket)


async def test_a_socket_whose_close_was_lost_starts_nothing_upstream(
    alice, upstream_model, fake, runtime
):
    """The password changes where no signal reaches the socket (as when the channel
    layer restarted): the socket's next turn checks its session and closes instead."""
    fake.enqueue(Scenario(tokens=["never"]))
    socket, _cookie = await open_tab(alice)
    changed = User.objects.filter(pk=alice.pk)
    await database_sync_to_async(changed.update)(password="pbkdf2_sha256$1$x$y")  # no signals
    await socket.send_message("Are you there?")
    assert await closes(socket)
    assert fake.requests == []
    assert await database_sync_to_async(Message.objects.count)() == 0


async def test_a_socket_whose_session_row_vanished_cannot_subscribe(alice, runtime):
    socket, cookie = await open_tab(alice)
    key = cookie.split("=", 1)[1]

    def delete_without_signals() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM django_session WHERE session_key = %s", [key])

    await database_sync_to_async(delete_without_signals)()
    await socket.send(type="subscribe", conversation_id="00000000-0000-0000-0000-000000000000")
    assert await closes(socket)


async def test_frames_after_the_close_start_nothing(alice, upstream_model, fake, runtime):
    fake.enqueue(Scenario(tokens=["never"]))
    socket, cookie = await open_tab(alice)
    key = cookie.split("=", 1)[1]
    await database_sync_to_async(Session.objects.filter(pk=key).delete)()
    assert await closes(socket)
    await socket.send_message("Too late")
    assert await socket.communicator.receive_nothing(timeout=0.5)
    assert fake.requests == []
