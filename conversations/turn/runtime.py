"""The worker runtime: what one server process does besides answering sockets.

It owns the running turns (so a closed tab does not stop them) and the hub
through which they reach the sockets (which register with it), and three
background loops:

- a control listener on the worker's own channel (stop a turn, start or end
  relaying a turn to a tab on another worker);
- the flusher, which writes partial text of all running turns in one
  transaction at least once a second (never once per token);
- housekeeping: heartbeats for the running turns and the sweeper that marks
  turns of dead workers as interrupted;
- the fine-tuning poller, which follows upstream jobs under a lease per job.

There is one runtime per event loop, started with the server (under Daphne)
or by the first request. Nothing here knows what a socket is.
"""

import asyncio
import logging
import sys
import time
import weakref

from channels.db import database_sync_to_async
from django.conf import settings

from conversations import frames
from conversations.turn import recovery
from conversations.turn.hub import Hub
from conversations.turn.images import ImageTurn
from conversations.turn.plan import Status, TurnPlan, message_dicts
from conversations.turn.stream import Turn

logger = logging.getLogger(__name__)


class WorkerRuntime:
    def __init__(self) -> None:
        self.hub = Hub()
        self.turns: dict[str, Turn] = {}  # by assistant message id
        self.loops: list[asyncio.Task] = []
        self.turn_tasks: set[asyncio.Task] = set()
        self.database_back_at: float | None = float("-inf")  # None: housekeeping failing

    @property
    def channel(self) -> str:
        """This worker's name on the channel layer (stored on the rows it answers)."""
        return self.hub.channel

    async def start(self) -> None:
        await self.hub.open()
        self.loops = [
            asyncio.create_task(self._listen(), name="chatsite-control"),
            asyncio.create_task(self._flush_loop(), name="chatsite-flusher"),
            asyncio.create_task(self._housekeeping_loop(), name="chatsite-housekeeping"),
            asyncio.create_task(self._finetune_loop(), name="chatsite-finetune"),
        ]
        self._stop_with_the_server()

    def _stop_with_the_server(self) -> None:
        """Under Daphne, a stopping worker ends its turns first: `interrupted`, text stored.

        Daphne runs Twisted's asyncio reactor, which waits for what a "before
        shutdown" trigger returns; without Twisted (tests), nothing to do.
        """
        reactor = sys.modules.get("twisted.internet.reactor")
        if reactor is None or not getattr(reactor, "running", False):
            return
        from twisted.internet.defer import Deferred

        def stop_turns():
            return Deferred.fromFuture(asyncio.ensure_future(self.shutdown()))

        reactor.addSystemEventTrigger("before", "shutdown", stop_turns)

    async def shutdown(self) -> None:
        """Stop every loop and turn (turns end `interrupted`, their text stored)."""
        for turn in list(self.turns.values()):
            if turn.task:
                turn.task.cancel()
        if self.turn_tasks:
            await asyncio.gather(*self.turn_tasks, return_exceptions=True)
        for task in self.loops:
            task.cancel()
        await asyncio.gather(*self.loops, return_exceptions=True)

    # --- Turns ---------------------------------------------------------------------

    async def begin_turn(self, plan: TurnPlan, client_id: str | None = None) -> Turn:
        """Announce the turn's new messages and start it.

        This worker's tabs hear of the messages before any delta can follow;
        other workers hear of them once the turn is registered, so a watch
        they send back always finds it; the upstream call is already under way.
        """
        conversation_id = str(plan.conversation_id)
        texts = [frames.encode(frames.message_frame(m, client_id)) for m in plan.frames]
        for text in texts:
            await self.hub.send_local(conversation_id, text)
        turn = self.run_turn(plan)
        for text in texts:
            await self.hub.announce_remote(conversation_id, text)
        return turn

    def run_turn(self, plan: TurnPlan) -> Turn:
        kind = ImageTurn if plan.images else Turn
        turn = kind(plan, self.hub, on_end=self.turn_ended)
        for choice in turn.choices:
            self.turns[choice.message_id] = turn
        turn.task = asyncio.create_task(turn.run(), name=f"turn-{turn.conversation_id}")
        self.turn_tasks.add(turn.task)
        turn.task.add_done_callback(self.turn_tasks.discard)
        return turn

    def turn_ended(self, turn: Turn) -> None:
        for choice in turn.choices:
            self.turns.pop(choice.message_id, None)

    def stop_local(self, message_id: str) -> bool:
        turn = self.turns.get(message_id)
        if turn is None:
            return False
        turn.stop()
        return True

    # --- Control channel -----------------------------------------------------------

    async def _listen(self) -> None:
        while True:
            try:
                message = await self.hub.layer.receive(self.channel)
                await self._handle(message)
            except asyncio.CancelledError:
                raise
            except Exception:  # e.g. Redis restarting: keep listening once it is back
                if asyncio.current_task().cancelling():
                    raise  # a library turned our cancellation into another error
                logger.exception("Control channel receive failed")
                await asyncio.sleep(1)

    async def _handle(self, message: dict) -> None:
        kind, message_id = message.get("type"), message.get("message_id", "")
        turn = self.turns.get(message_id)
        if kind == "turn.stop" and turn:
            turn.stop()
        elif kind == "turn.watch" and turn:
            turn.remote.add(message["reply_channel"], message_id, message.get("after_seq"))
        elif kind == "turn.watch":
            await self._send_ended(message_id, message["reply_channel"])
        elif kind == "turn.unwatch" and turn:
            turn.remote.discard(message["reply_channel"])

    async def _send_ended(self, message_id: str, channel: str) -> None:
        """A watch that came after its turn ended here: the stored answer is the catch-up."""
        stored = await database_sync_to_async(message_dicts)([message_id])
        if stored and stored[0]["status"] != Status.STREAMING:
            await self.hub.send_remote({channel}, frames.encode(frames.message_frame(stored[0])))

    # --- Flusher and housekeeping -----------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(settings.CHATSITE_FLUSH_INTERVAL)
            await self.flush()

    async def flush(self) -> None:
        batch = [(turn, turn.partials()) for turn in set(self.turns.values())]
        rows = [row for _turn, partials in batch for row in partials]
        if not rows:
            return
        try:
            stored = set(await database_sync_to_async(recovery.flush_partials)(rows))
        except Exception:  # the database may be restarting; the next flush retries
            logger.exception("Flushing %d partial answers failed", len(rows))
            return
        for turn, partials in batch:
            turn.mark_flushed([row for row in partials if row[0] in stored])

    async def _housekeeping_loop(self) -> None:
        while True:
            try:
                await self.housekeeping()
            except Exception:
                self.database_back_at = None
                logger.exception("Housekeeping failed")
            await asyncio.sleep(settings.CHATSITE_HEARTBEAT_INTERVAL)

    async def housekeeping(self) -> None:
        if self.turns:
            await database_sync_to_async(recovery.heartbeat)(list(self.turns))
        if self.database_back_at is None:
            self.database_back_at = time.monotonic()
        if time.monotonic() - self.database_back_at < settings.CHATSITE_STALE_AFTER:
            # While the database was unreachable no worker could heartbeat: give
            # the live ones a stale period to do so before judging anyone dead
            # (else their running answers were swept, and later ended twice).
            return
        for message in await database_sync_to_async(recovery.sweep_stale)():
            logger.warning("Marked answer %s interrupted: its worker stopped", message["id"])
            await self.hub.announce(message["conversation_id"], frames.done_frame(message))

    async def _finetune_loop(self) -> None:
        """Poll fine-tuning jobs this worker wins the lease on (see finetune.poller)."""
        from conversations.finetune import poller  # the turn needs none of it

        while True:
            await asyncio.sleep(settings.CHATSITE_FINETUNE_TICK)
            try:
                await poller.run_once(owner=self.channel)
            except Exception:  # the database may be restarting; the next tick retries
                logger.exception("Polling fine-tuning jobs failed")


_runtimes: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WorkerRuntime]" = (
    weakref.WeakKeyDictionary()
)
_starting: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = (
    weakref.WeakKeyDictionary()
)


async def get_runtime() -> WorkerRuntime:
    """The runtime of the running loop, started on first use."""
    loop = asyncio.get_running_loop()
    runtime = _runtimes.get(loop)
    if runtime is not None:
        return runtime
    lock = _starting.setdefault(loop, asyncio.Lock())
    async with lock:
        if loop not in _runtimes:
            runtime = WorkerRuntime()
            await runtime.start()
            _runtimes[loop] = runtime
    return _runtimes[loop]


async def shutdown_runtime() -> None:
    runtime = _runtimes.pop(asyncio.get_running_loop(), None)
    if runtime is not None:
        await runtime.shutdown()


def start_with_the_server() -> None:
    """Under Daphne, start the runtime (and its first sweep) as the server starts.

    Daphne sends no lifespan events, and a worker restarted after a crash may
    get no request for a while: its sweeper must not wait for one to mark the
    dead worker's answers interrupted. Without Twisted (tests, other servers)
    StartRuntime below starts it with the first request.
    """
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is None or not hasattr(reactor, "_asyncioEventloop"):
        return
    reactor.callWhenRunning(lambda: asyncio.ensure_future(_start_logging_failures()))


async def _start_logging_failures() -> None:
    try:
        await get_runtime()
    except Exception:  # e.g. Redis down at start-up: the first request tries again
        logger.exception("Starting the worker runtime failed")


class StartRuntime:
    """ASGI middleware: start the worker runtime with the first request of any kind.

    Under Daphne the runtime starts with the server (start_with_the_server);
    elsewhere the first request (a health check, a page, a socket) stands in
    for start-up.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if (
            scope["type"] in ("http", "websocket")
            and _runtimes.get(asyncio.get_running_loop()) is None
        ):
            await get_runtime()
        return await self.app(scope, receive, send)
