"""The append-only audit log, made tamper-evident by a hash chain.

Every entry stores the hash of the entry before it (``previous_hash``) and
its own (``entry_hash``): a SHA-256 over the previous hash and the entry's
recorded fields. Editing or deleting a row in the database, even by hand,
breaks the chain at that row, and ``manage.py verify_audit_log`` finds it.

Appends are serialised so two workers never chain onto the same entry: on
PostgreSQL by a transaction-scoped advisory lock; SQLite serves one process,
whose database calls run on one thread. What a chain
cannot show is the newest entries cut off the end; docs/admin.md says how to
keep the latest hash elsewhere for that.
"""

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from conversations.models import AuditEntry

Action = AuditEntry.Action
GENESIS_HASH = "0" * 64
# Any constant works; it only has to be the same for every worker of the site.
ADVISORY_LOCK_KEY = 0x63686174  # "chat"


@dataclass(frozen=True)
class Entry:
    """What to record; ``append`` fills in the time and the chain."""

    action: str
    actor: object = None  # a user, or None for the system itself
    conversation: object = None
    policy: str = ""
    details: dict | None = None


def append(
    action: str, *, actor=None, conversation=None, policy: str = "", details=None
) -> AuditEntry:
    """Record one act and chain it onto the log."""
    entry = Entry(action, actor, conversation, policy, details)
    return append_many([entry])[0]


def append_many(entries: Iterable[Entry]) -> list[AuditEntry]:
    """Record several acts in one transaction, chained in the order given."""
    entries = list(entries)
    if not entries:
        return []
    with transaction.atomic():
        previous = _lock_and_read_last_hash()
        saved = []
        for entry in entries:
            row = _row(entry)
            row.previous_hash = previous
            row.entry_hash = entry_hash(row, previous)
            row.save()
            saved.append(row)
            previous = row.entry_hash
        return saved


def entry_hash(row: AuditEntry, previous_hash: str) -> str:
    """The hash of one entry's recorded fields, chained onto ``previous_hash``."""
    fields = {
        "created": row.created.isoformat(),
        "actor_id": row.actor_id,
        "actor_username": row.actor_username,
        "action": row.action,
        "conversation_id": str(row.conversation_id) if row.conversation_id else None,
        "owner_username": row.owner_username,
        "policy": row.policy,
        "details": row.details,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{previous_hash}\n{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class Break:
    """Where the chain stops holding: the entry and what is wrong with it."""

    entry_id: int
    problem: str


def verify() -> Iterator[Break]:
    """Every place the chain is broken, oldest first (nothing: the log is intact)."""
    previous = GENESIS_HASH
    for row in AuditEntry.objects.order_by("pk").iterator(chunk_size=2000):
        if row.previous_hash != previous:
            yield Break(row.pk, "previous_hash does not match the entry before it")
        elif row.entry_hash != entry_hash(row, previous):
            yield Break(row.pk, "entry_hash does not match the entry's fields")
        previous = row.entry_hash


def _lock_and_read_last_hash() -> str:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
    last = AuditEntry.objects.order_by("-pk").values_list("entry_hash", flat=True).first()
    return last or GENESIS_HASH


def _row(entry: Entry) -> AuditEntry:
    conversation = entry.conversation
    actor = entry.actor
    return AuditEntry(
        created=timezone.now(),
        actor=actor,
        actor_username=actor.get_username() if actor is not None else "",
        action=entry.action,
        conversation_id=conversation.pk if conversation is not None else None,
        owner_username=conversation.owner.get_username() if conversation is not None else "",
        policy=entry.policy,
        details=entry.details or {},
    )
