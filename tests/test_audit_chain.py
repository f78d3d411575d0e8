"""The audit log is a hash chain: an entry edited or removed in the database is found."""

import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, models

from conversations import audit
from conversations.models import AuditEntry, Conversation

Action = AuditEntry.Action


def raw_update(entry: AuditEntry, **fields) -> None:
    """What someone with database access could do: the model itself refuses updates."""
    models.QuerySet.update(AuditEntry.objects.filter(pk=entry.pk), **fields)


def raw_delete(entry: AuditEntry) -> None:
    models.QuerySet.delete(AuditEntry.objects.filter(pk=entry.pk))


@pytest.fixture
def three_entries(staff, alice):
    conversation = Conversation.objects.create(owner=alice, title="Trip")
    return [
        audit.append(Action.VIEW_CONVERSATION, actor=staff, conversation=conversation,
                     policy="full", details={"reason": "complaint 12"}),
        audit.append(Action.SEARCH, actor=staff, policy="full", details={"query": "salary"}),
        audit.append(Action.POLICY, actor=staff, policy="off", details={"from": "full"}),
    ]  # fmt: skip


def test_each_entry_carries_the_hash_of_the_one_before(three_entries):
    first, second, third = three_entries
    assert first.previous_hash == audit.GENESIS_HASH
    assert second.previous_hash == first.entry_hash
    assert third.previous_hash == second.entry_hash
    assert list(audit.verify()) == []


def test_an_edited_entry_breaks_the_chain_where_it_was_edited(three_entries):
    raw_update(three_entries[1], details={"query": "weather"})
    assert [broken.entry_id for broken in audit.verify()] == [three_entries[1].pk]


def test_a_deleted_entry_breaks_the_chain_at_the_entry_after_it(three_entries):
    raw_delete(three_entries[1])
    assert [broken.entry_id for broken in audit.verify()] == [three_entries[2].pk]


def test_a_rehashed_edit_still_breaks_the_link_to_the_next_entry(three_entries):
    edited = three_entries[0]
    edited.actor_username = "someone-else"
    raw_update(edited, actor_username="someone-else",
               entry_hash=audit.entry_hash(edited, edited.previous_hash))  # fmt: skip
    assert [broken.entry_id for broken in audit.verify()] == [three_entries[1].pk]


def test_the_command_reports_an_intact_log_with_its_latest_hash(three_entries, capsys):
    call_command("verify_audit_log")
    out = capsys.readouterr().out
    assert "intact: 3 entries" in out
    assert three_entries[2].entry_hash in out


def test_the_command_fails_naming_the_broken_entry(three_entries, capsys):
    raw_update(three_entries[0], action=Action.EXPORT)
    with pytest.raises(CommandError, match="broken in 1 place"):
        call_command("verify_audit_log")
    assert f"Entry {three_entries[0].pk}:" in capsys.readouterr().err


def test_the_log_still_refuses_ordinary_updates_and_deletes(three_entries):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        AuditEntry.objects.filter(pk=three_entries[0].pk).update(action=Action.EXPORT)
    with pytest.raises(PermissionDenied):
        three_entries[0].delete()


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_from_several_workers_keep_one_chain(staff):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serves one process; the advisory lock is PostgreSQL's")
    errors = []

    def append_ten():
        try:
            for index in range(10):
                audit.append(Action.SEARCH, actor=staff, details={"query": str(index)})
        except Exception as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=append_ten) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert AuditEntry.objects.count() == 40
    assert list(audit.verify()) == []


def test_deleting_an_actor_leaves_their_entries_and_the_chain_as_they_were(three_entries, staff):
    staff_pk = staff.pk
    staff.delete()
    assert list(audit.verify()) == []
    entry = AuditEntry.objects.get(pk=three_entries[0].pk)
    assert entry.actor_id == staff_pk
    assert entry.actor_username == "sam"
