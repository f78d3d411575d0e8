"""The chat websocket: speaks the protocol of docs/protocol.md, nothing more.

One socket per browser tab. Turns run in the worker runtime, not here, so this
consumer only checks frames, turns them into turn requests, and relays.
"""

import json
import logging
from functools import partial

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils.translation import gettext as _

from conversations import access, frames, sessions
from conversations.frames import FrameError
from conversations.models import Message
from conversations.refusals import Refused
from conversations.turn import Replay, TurnRequest, conversation_group, get_runtime, start_turn
from conversations.turn.recovery import stop_orphan

logger = logging.getLogger(__name__)

# The socket is not (or no longer) signed in; the page stops reconnecting.
SIGNED_OUT = 4401


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.ended = False
        if self.user is None or not self.user.is_authenticated:
            # Accepted, then closed: a refused handshake reaches the browser as a
            # bare HTTP 403, and only a close frame carries the code.
            await self.accept()
            await self._end_session()
            return
        self.runtime = await get_runtime()
        self.conversation_id: str | None = None
        self.remote_watches: dict[str, str] = {}  # message id → worker channel
        # Live frames held while a catch-up is being sent (None: send at once).
        self.held: list[str] | None = None
        self.session_key = self.scope["session"].session_key
        self.groups_of_session = [
            sessions.session_group(self.session_key),
            sessions.user_group(self.user.pk),
        ]
        for group in self.groups_of_session:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "runtime", None) is not None:
            await self._unfollow()
            for group in self.groups_of_session:
                await self.channel_layer.group_discard(group, self.channel_name)

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # A failing channel layer (Redis restarting) ends the consumer without
            # disconnect(): the worker must stop writing deltas to this socket.
            if getattr(self, "runtime", None) is not None and self.conversation_id:
                self.runtime.hub.unfollow(self.conversation_id, self.send_followed)

    async def dispatch(self, message: dict) -> None:
        """Channels hops to a thread to close stale database connections before
        every event; here each database call goes through database_sync_to_async,
        which does that itself, so the hop only delayed frames and relayed deltas."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self.ended:
            return  # frames already on their way when the session ended
        frame = None
        try:
            frame = frames.parse(text_data)
            await getattr(self, f"on_{frame.type}")(frame)
        except SessionEnded:
            await self._end_session()
        except Refused as refused:  # every rule's refusal, answered in one place
            await self.send_frame(frames.refusal_frame(refused, _client_id(frame)))
        except Exception:
            logger.exception("Socket frame %s failed", getattr(frame, "type", "?"))
            message = _("Something went wrong on the server; nothing was lost. Try again.")
            await self.send_frame(frames.error_frame("internal_error", message, _client_id(frame)))

    # --- Sending to this tab --------------------------------------------------------

    async def send_frame(self, frame: dict) -> None:
        await self.send_text(frames.encode(frame))

    async def send_text(self, text: str) -> None:
        # Straight to the server's send: every delta passes here.
        try:
            if len(text) <= frames.PART_CHARS:
                await self.base_send({"type": "websocket.send", "text": text})
                return
            for part in frames.split(text):  # too large for one websocket message
                await self.base_send({"type": "websocket.send", "text": part})
        except Exception:  # the tab went away mid-send; the turn goes on
            logger.debug("Dropped a frame for a closed socket")

    # --- Frames from the tab ---------------------------------------------------------

    async def on_ping(self, frame) -> None:
        await self.send_frame({"type": "pong"})

    async def on_send(self, frame) -> None:
        await self._start(frame)

    on_regenerate = on_edit = on_continue = on_image = on_send
    on_complete = on_send  # a completion document's prompt: the same turn entry

    async def _start(self, frame) -> None:
        start = partial(start_turn, user=self.user, worker=self.runtime.channel)
        result = await database_sync_to_async(_while_signed_in)(
            self.session_key, self.user, start, request=TurnRequest.from_frame(frame)
        )
        if isinstance(result, Replay):
            await self._replay(result, frame.client_id)
            return
        await self._follow(str(result.conversation_id))
        await self.runtime.begin_turn(result, frame.client_id)

    async def _replay(self, replay: Replay, client_id: str) -> None:
        caught_up = {}
        self.held = []  # live deltas wait until the replayed messages and catch-up are out
        try:
            await self._follow(str(replay.conversation_id))
            for message in replay.frames:
                await self.send_frame(frames.message_frame(message, client_id))
            streaming = await database_sync_to_async(_streaming_messages)(replay.conversation_id)
            for message in streaming:
                if message["id"] in {str(i) for i in replay.streaming}:
                    caught_up[message["id"]] = await self._catch_up(message, after=message["seq"])
        finally:
            await self._release_held(caught_up)

    async def on_subscribe(self, frame) -> None:
        conversation = await database_sync_to_async(_while_signed_in)(
            self.session_key, self.user, access.conversation_for, self.user, frame.conversation_id
        )
        cursor_for = str(frame.fields.get("message_id") or "")
        after = frame.fields.get("after_seq")
        caught_up = {}
        self.held = []  # until the catch-up below is out, live deltas would jump ahead of it
        try:
            await self._follow(str(conversation.id))
            streaming = await database_sync_to_async(_streaming_messages)(conversation.id)
            for message in streaming:
                mine = not cursor_for or message["id"] == cursor_for
                caught_up[message["id"]] = await self._catch_up(
                    message, after=after if mine else None
                )
        finally:
            await self._release_held(caught_up)
        if cursor_for and cursor_for not in {m["id"] for m in streaming}:
            await self._send_final(cursor_for)
        ids = [m["id"] for m in streaming]
        await self.send_frame(
            {"type": "subscribed", "conversation_id": self.conversation_id, "streaming": ids}
        )

    async def on_unsubscribe(self, frame) -> None:
        await self._unfollow()
        self.conversation_id = None

    async def on_stop(self, frame) -> None:
        message = await database_sync_to_async(_message_to_stop)(self.user, frame.fields)
        if message is None:
            return
        if self.runtime.stop_local(message["id"]):
            return
        if message["status"] != Message.Status.STREAMING:
            await self.send_frame(frames.done_frame(message))
            return
        stopped = await database_sync_to_async(stop_orphan)(message["id"])
        if stopped:
            await self.runtime.hub.announce(stopped["conversation_id"], frames.done_frame(stopped))
        else:
            control = {"type": "turn.stop", "message_id": message["id"]}
            await self.runtime.hub.send_control(message["worker"], control)

    # --- Following a conversation --------------------------------------------------

    async def _follow(self, conversation_id: str) -> None:
        if self.conversation_id == conversation_id:
            return
        await self._unfollow()
        self.conversation_id = conversation_id
        self.runtime.hub.follow(conversation_id, self.send_followed)
        await self.channel_layer.group_add(conversation_group(conversation_id), self.channel_name)

    async def _unfollow(self) -> None:
        if not self.conversation_id:
            return
        self.runtime.hub.unfollow(self.conversation_id, self.send_followed)
        await self.channel_layer.group_discard(
            conversation_group(self.conversation_id), self.channel_name
        )
        for message_id, worker in self.remote_watches.items():
            await self._control(worker, "turn.unwatch", message_id)
        self.remote_watches.clear()

    async def send_followed(self, text: str) -> None:
        """A live frame of the followed conversation, from a turn on this worker."""
        if self.held is not None:
            self.held.append(text)
        else:
            await self.send_text(text)

    async def _release_held(self, caught_up: dict[str, int | None]) -> None:
        """Send the live frames held during a catch-up, minus deltas it already carried."""
        while self.held:
            text = self.held.pop(0)
            frame = json.loads(text)
            covered = caught_up.get(frame.get("message_id"))
            if frame["type"] == "delta" and covered is not None and frame["seq"] <= covered:
                continue
            await self.send_text(text)
        self.held = None

    async def _catch_up(self, message: dict, *, after: int | None) -> int | None:
        """Bring this tab up to date on a streaming message, then keep it following.

        Returns the sequence number the tab now holds when this worker runs the turn."""
        # Neither is part of the message object the tab sees.
        worker, question = message.pop("worker"), message.pop("question")
        turn = self.runtime.turns.get(message["id"])
        if turn is not None:
            frame = turn.catch_up_frame(message["id"], after)
            if frame:
                await self.send_frame(frame)
            if after is None:  # a tab that missed the turn's announcement can place it
                await self._missed(question, {**message, **turn.live_fields(message["id"])})
            return frame["seq"] if frame else after
        if after is None:
            await self._missed(question, message)
            after = message["seq"]
        if worker:  # the turn runs on another worker: ask it to relay
            self.remote_watches[message["id"]] = worker
            await self._control(worker, "turn.watch", message["id"], after_seq=after)
        return None

    async def _missed(self, question: dict | None, answer: dict) -> None:
        """A running turn's messages, for a tab that may never have heard of it."""
        if question is not None:
            await self.send_frame(frames.message_frame(question))
        await self.send_frame(frames.message_frame(answer))

    async def _control(self, worker: str, kind: str, message_id: str, **extra) -> None:
        message = {"type": kind, "message_id": message_id, "reply_channel": self.channel_name}
        await self.runtime.hub.send_control(worker, {**message, **extra})

    async def _send_final(self, message_id: str) -> None:
        message = await database_sync_to_async(_message_dict)(self.user, message_id)
        if message is not None:
            await self.send_frame(frames.message_frame(message))
            await self.send_frame(frames.done_frame(message))

    # --- Events from the channel layer --------------------------------------------

    async def chat_announce(self, event: dict) -> None:
        """A new message or an end, from a turn on another worker."""
        if event.get("worker") == self.runtime.channel:
            return  # this worker's sockets got it directly
        await self.send_text(event["text"])
        frame = json.loads(event["text"])
        if frame["type"] == "message":
            message = frame["message"]
            if message["status"] == Message.Status.STREAMING and event.get("worker"):
                self.remote_watches[message["id"]] = event["worker"]
                after = message["seq"]  # the frame holds the text up to it
                await self._control(event["worker"], "turn.watch", message["id"], after_seq=after)
        elif frame["type"] == "done":
            self.remote_watches.pop(frame["message_id"], None)

    async def session_ended(self, event: dict) -> None:
        """The session was deleted (signed out in some tab, by the admin, expired)."""
        await self._end_session()

    async def session_check(self, event: dict) -> None:
        """The user's password or account changed: close if this session no longer counts."""
        if not await database_sync_to_async(sessions.is_current)(self.session_key, self.user):
            await self._end_session()

    async def _end_session(self) -> None:
        if not self.ended:
            self.ended = True
            await self.close(code=SIGNED_OUT)

    async def chat_relay(self, event: dict) -> None:
        """Deltas relayed by the worker running a turn this tab follows."""
        await self.send_text(event["text"])


class SessionEnded(Exception):
    """The socket's session no longer signs its user in."""


def _while_signed_in(session_key: str, user, call, *args, **kwargs):
    """`call`, only while the socket's session still counts (in the same database
    hop): a socket whose close was lost, e.g. in a channel layer restart, must
    start no turn and read nothing."""
    if not sessions.is_current(session_key, user):
        raise SessionEnded
    return call(*args, **kwargs)


def _client_id(frame) -> str | None:
    return frame.client_id if frame is not None else None


def _streaming_messages(conversation_id) -> list[dict]:
    """Running answers, each with its worker and the message it answers (`question`)."""
    rows = Message.objects.filter(conversation_id=conversation_id, status=Message.Status.STREAMING)
    answers = list(rows.select_related("persona_version__persona"))
    asked = Message.objects.filter(pk__in=[m.parent_id for m in answers if m.parent_id])
    questions = {m.id: m.to_dict() for m in asked.select_related("persona_version__persona")}
    return [{**_with_worker(m), "question": questions.get(m.parent_id)} for m in answers]


def _with_worker(message: Message) -> dict:
    return {**message.to_dict(), "worker": message.worker if message.has_live_worker() else ""}


def _message_to_stop(user, fields: dict) -> dict | None:
    if fields.get("message_id"):
        return _with_worker(access.message_for(user, fields["message_id"]))
    if fields.get("conversation_id"):
        conversation = access.conversation_for(user, fields["conversation_id"])
        running = conversation.messages.filter(status=Message.Status.STREAMING).first()
        return _with_worker(running) if running else None
    raise FrameError("invalid_frame", _("stop needs message_id or conversation_id."))


def _message_dict(user, message_id) -> dict | None:
    try:
        return access.message_for(user, message_id).to_dict()
    except access.NotFound:
        return None
