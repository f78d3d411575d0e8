"""What keeps a crash from losing more than a second of an answer.

Running turns flush their partial text in batches and heartbeat; the sweeper
marks answers whose worker stopped heart-beating as interrupted, text kept.
"""

import logging
from typing import NamedTuple
from uuid import UUID

from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations import budgets, tokens
from conversations.models import Message
from conversations.turn.plan import Status, message_dicts

logger = logging.getLogger(__name__)


class Partial(NamedTuple):
    """A running answer's text, and its reasoning (None: it has none), up to delta seq."""

    message_id: UUID | str
    content: str
    seq: int
    reasoning: str | None = None


def flush_partials(rows: list[tuple]) -> list[UUID]:
    """Store partial text and reasoning of running turns; returns the ids of the rows stored.

    One transaction for all of a worker's answers, the common case. Should it
    fail, each answer is stored on its own, so a row the database refuses
    costs only its own flush (it keeps its text in memory and tries again
    next time), never the other answers'. A database that is down fails them
    all, and the caller tries again.
    """
    try:
        with transaction.atomic():
            _store_partials(rows)
        return [row[0] for row in rows]
    except (DatabaseError, UnicodeError):
        if len(rows) == 1:
            raise
    stored = []
    for row in rows:
        try:
            with transaction.atomic():
                _store_partials([row])
            stored.append(row[0])
        except (DatabaseError, UnicodeError):
            logger.exception("Flushing the partial answer %s failed", row[0])
    if not stored:
        raise DatabaseError("No partial answer could be stored.")
    return stored


def _store_partials(rows: list[tuple]) -> None:
    now = timezone.now()
    for row in rows:
        partial = Partial(*row)
        changes = {"content": partial.content, "stream_seq": partial.seq, "heartbeat": now}
        if partial.reasoning is not None:
            changes["reasoning"] = partial.reasoning
        Message.objects.filter(pk=partial.message_id, status=Status.STREAMING).update(**changes)


def heartbeat(message_ids: list) -> None:
    """Running turns say they are alive, so the sweeper leaves them alone."""
    Message.objects.streaming().filter(pk__in=message_ids).update(heartbeat=timezone.now())


def sweep_stale(stale_after: float | None = None) -> list[dict]:
    """Mark answers whose worker stopped heart-beating as interrupted, text kept, and
    release what their turns held of the owner's budgets."""
    orphans = Message.objects.orphaned(stale_after)
    swept = [message.pk for message in orphans if _interrupt(message, stale_after)]
    budgets.release_abandoned()  # what those turns held, charged at their estimate
    return message_dicts(swept)


def _interrupt(message: Message, stale_after: float | None) -> bool:
    model_name = message.model_name or "gpt-4"
    estimate = tokens.count_text(message.content, model_name).tokens
    if message.reasoning:  # the model wrote that too
        estimate += tokens.count_text(message.reasoning, model_name).tokens
    return bool(
        Message.objects.orphaned(stale_after)
        .filter(pk=message.pk)
        .update(
            status=Status.INTERRUPTED,
            error_code="worker_lost",
            error_message=_("The server handling this answer stopped; the text so far is kept."),
            completion_tokens=estimate,
            usage_estimated=True,
            worker="",
            heartbeat=None,
        )
    )


def stop_orphan(message_id: UUID) -> dict | None:
    """Stop an answer whose worker is gone (no heartbeat), straight in the database."""
    updated = (
        Message.objects.orphaned()
        .filter(pk=message_id)
        .update(status=Status.STOPPED, worker="", heartbeat=None)
    )
    return message_dicts([message_id])[0] if updated else None
