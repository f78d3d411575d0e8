from django.core.management.base import BaseCommand, CommandError

from conversations import audit
from conversations.models import AuditEntry


class Command(BaseCommand):
    help = (
        "Check the audit log's hash chain: every entry must carry the hash of the one before it "
        "and a hash of its own fields. Exits with an error naming each broken entry."
    )

    def handle(self, *args, **options) -> None:
        breaks = list(audit.verify())
        for broken in breaks:
            self.stderr.write(f"Entry {broken.entry_id}: {broken.problem}")
        if breaks:
            raise CommandError(f"The audit log's chain is broken in {len(breaks)} place(s).")
        last = AuditEntry.objects.order_by("-pk").values_list("entry_hash", flat=True).first()
        count = AuditEntry.objects.count()
        latest = last or audit.GENESIS_HASH
        self.stdout.write(f"The audit log is intact: {count} entries; the latest hash is {latest}.")
