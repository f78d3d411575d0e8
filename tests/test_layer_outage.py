"""A socket whose channel layer fails (Redis restarting) ends, and the worker forgets it.

Channels ends such a consumer without `disconnect()`; the page reconnects and
subscribes again. The worker must not keep writing every later delta of the
conversation to the dead socket. (The live Redis restart is in
tests/test_cluster_nginx.py.)
"""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from conversations.models import Conversation
from tests.cluster.seed import session_cookie
from tests.sockets import ChatSocket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def failing_layer(runtime, monkeypatch):
    """The layer's receive fails for sockets (not for the runtime) once `outage` is set."""
    layer = get_channel_layer()
    original, outage = layer.receive, asyncio.Event()

    async def receive(channel: str) -> dict:
        if channel == runtime.channel:
            return await original(channel)
        message = asyncio.ensure_future(original(channel))
        broken = asyncio.ensure_future(outage.wait())
        done, pending = await asyncio.wait({message, broken}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if message in done:
            return message.result()
        raise ConnectionError("Connection closed by server.")

    monkeypatch.setattr(layer, "receive", receive)
    return outage


async def test_a_socket_ended_by_a_channel_layer_failure_is_forgotten(
    alice, failing_layer, runtime
):
    conversation = await database_sync_to_async(Conversation.objects.create)(owner=alice)
    socket = ChatSocket(await database_sync_to_async(session_cookie)(alice))
    assert (await socket.connect())[0]
    await socket.send(type="subscribe", conversation_id=str(conversation.id))
    await socket.next_of("subscribed")
    assert len(runtime.hub.sockets[str(conversation.id)]) == 1

    failing_layer.set()
    with pytest.raises(ConnectionError):
        await socket.communicator.receive_output(timeout=2)
    assert str(conversation.id) not in runtime.hub.sockets
