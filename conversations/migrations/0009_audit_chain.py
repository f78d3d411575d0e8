"""Chain the audit log: each entry carries the hash of the one before it.

Existing entries are chained here, oldest first, with the same hash the
application uses (conversations.audit.entry_hash, frozen below so that later
changes to the module cannot rewrite history).
"""

import hashlib
import json

import django.utils.timezone
from django.db import migrations, models

GENESIS_HASH = "0" * 64


def _hash(row, previous_hash):
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


def chain_existing_entries(apps, schema_editor):
    AuditEntry = apps.get_model("conversations", "AuditEntry")
    previous = GENESIS_HASH
    for row in AuditEntry.objects.order_by("pk").iterator(chunk_size=2000):
        digest = _hash(row, previous)
        # The model refuses updates (append-only); this one-time backfill goes around it.
        models.QuerySet.update(
            AuditEntry.objects.filter(pk=row.pk), previous_hash=previous, entry_hash=digest
        )
        previous = digest


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0008_context_window_sources"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditentry",
            name="entry_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="previous_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="action",
            field=models.CharField(
                choices=[
                    ("view_conversation", "viewed a conversation"),
                    ("export", "exported conversations"),
                    ("refused", "was refused a conversation"),
                    ("search", "searched message text"),
                    ("flag", "flagged or unflagged a conversation"),
                    ("policy", "changed the review policy"),
                    ("team", "changed a team"),
                    ("share", "shared or unshared a conversation"),
                    ("finetune", "acted on fine-tuning"),
                    ("sign_in", "signed in with single sign-on"),
                ],
                max_length=30,
            ),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="created",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now),
        ),
        migrations.RunPython(chain_existing_entries, migrations.RunPython.noop),
    ]
