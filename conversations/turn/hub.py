"""Who hears what: this worker's sockets per conversation, and the other workers.

Sockets register a send function for the conversation they follow; turns
send through the hub and never know what a socket is. Other workers' tabs are
reached through the channel layer: a conversation's group for announcements
(new messages, ends, titles), a worker's own channel for relayed deltas and
control messages.
"""

from collections import defaultdict
from collections.abc import Awaitable, Callable

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

from conversations import frames

CONVERSATION_GROUP = "chat.conversation.{}"

Send = Callable[[str], Awaitable[None]]


def conversation_group(conversation_id) -> str:
    return CONVERSATION_GROUP.format(str(conversation_id).replace("-", ""))


class Hub:
    def __init__(self) -> None:
        self.layer = get_channel_layer()
        # The in-memory layer reaches no other process: no other worker to tell.
        self.alone = isinstance(self.layer, InMemoryChannelLayer)
        self.channel = ""  # this worker's name on the channel layer, stored on rows
        self.sockets: dict[str, set[Send]] = defaultdict(set)  # conversation id → senders
        self.coalesce_interval = settings.CHATSITE_COALESCE_INTERVAL

    async def open(self) -> None:
        # The default prefix: channels_redis reads all of a process's specific
        # channels from one Redis list; a channel with another prefix is read by
        # nobody while a socket's receive holds the process's receive lock.
        self.channel = await self.layer.new_channel()

    # --- This worker's sockets -------------------------------------------------------

    def follow(self, conversation_id: str, send: Send) -> None:
        self.sockets[conversation_id].add(send)

    def unfollow(self, conversation_id: str, send: Send) -> None:
        followers = self.sockets.get(conversation_id)
        if followers is not None:
            followers.discard(send)
            if not followers:
                del self.sockets[conversation_id]

    async def send_local(self, conversation_id: str, text: str) -> None:
        """To this worker's sockets on the conversation, at once."""
        for send in list(self.sockets.get(conversation_id, ())):
            await send(text)

    # --- Other workers ---------------------------------------------------------------

    async def send_remote(self, channels: set[str], text: str) -> None:
        for channel in list(channels):
            await self.layer.send(channel, {"type": "chat.relay", "text": text})

    async def announce(self, conversation_id: str, frame: dict) -> None:
        """A new message or an end: local sockets directly, other workers via the group."""
        text = frames.encode(frame)
        await self.send_local(conversation_id, text)
        await self.announce_remote(conversation_id, text)

    async def announce_remote(self, conversation_id: str, text: str) -> None:
        if self.alone:
            return  # every tab is this worker's and got it directly
        event = {"type": "chat.announce", "text": text, "worker": self.channel}
        await self.layer.group_send(conversation_group(conversation_id), event)

    async def send_control(self, worker_channel: str, message: dict) -> None:
        await self.layer.send(worker_channel, message)
