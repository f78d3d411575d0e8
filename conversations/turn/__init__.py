"""The chat turn, in one place: start, stream, finish, fan-out, worker runtime, recovery.

Every door (the websocket consumer, the HTTP API) turns its input into a
``TurnRequest`` and calls ``start_turn(user=, worker=, request=)`` inside a
database thread; what it returns, a ``TurnPlan``, goes to the worker runtime
(``get_runtime().begin_turn(plan)``), which streams it, relays it through the
hub to every tab that follows the conversation, and stores its end. A rule
that refuses raises a ``conversations.refusals.Refused``.

Arrows point one way: doors call the turn; the turn calls the llm client and
the models; nothing here calls a door.

- request.py: TurnRequest;          start.py: start_turn (checks, rows, prompt)
- resolve.py, limits.py, prompt.py: model/persona/parameters, caps, the prompt
- runtime.py: the worker's turns and loops;  hub.py: sockets and other workers
- stream.py: one running turn;      fanout.py: deltas to other workers' tabs
- finish.py: the final state and the bill;  titles.py: naming a new conversation
- recovery.py: flushing partial text, heartbeats, the sweeper
- images.py: a turn of images (an image model; one unstreamed request)
"""

from conversations.turn.hub import conversation_group
from conversations.turn.plan import Replay, Status, TurnPlan, message_dicts
from conversations.turn.request import KINDS, TurnRequest
from conversations.turn.runtime import get_runtime, shutdown_runtime
from conversations.turn.start import start_turn

__all__ = [
    "KINDS",
    "Replay",
    "Status",
    "TurnPlan",
    "TurnRequest",
    "conversation_group",
    "get_runtime",
    "message_dicts",
    "shutdown_runtime",
    "start_turn",
]
