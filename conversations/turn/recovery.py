"""What keeps a crash from losing more than a second of an answer.

Running turns flush their partial text in batches and heartbeat; the sweeper
marks answers whose worker stopped heart-beating as interrupted, text kept.
"""

import logging
from typing import NamedTuple
from uuid import UUID

from django.db import DatabaseError, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations import budgets
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
    return bool(
        Message.objects.orphaned(stale_after)
        .filter(pk=message.pk)
        .update(
            status=Status.INTERRUPTED,
            error_code="worker_lost",
            error_message=_("The server handling this answer stopped; the text so far is kept."),
            **_streamed_usage(message),
            worker="",
            heartbeat=None,
        )
    )


def stop_orphan(message_id: UUID) -> dict | None:
    """Stop an answer whose worker is gone (no heartbeat), straight in the database."""
    message = Message.objects.orphaned().filter(pk=message_id).first()
    if message is None:
        return None
    updated = (
        Message.objects.orphaned()
        .filter(pk=message_id)
        .update(status=Status.STOPPED, **_streamed_usage(message), worker="", heartbeat=None)
    )
    return message_dicts([message_id])[0] if updated else None


def _streamed_usage(message: Message) -> dict:
    """The answer's completion tokens with what its lost turn streamed added, estimated
    from the stored text (a continued answer keeps its first part's count)."""
    estimate = budgets.streamed_tokens(message, budgets.streamed_from(message.pk))
    completion = Coalesce(F("completion_tokens"), Value(0)) + estimate
    return {"completion_tokens": completion, "usage_estimated": True}
