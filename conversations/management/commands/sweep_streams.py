from django.core.management.base import BaseCommand

from conversations.turn.recovery import sweep_stale


class Command(BaseCommand):
    help = (
        "Mark answers whose worker stopped heart-beating as interrupted (their text is kept). "
        "Workers also do this every few seconds while running."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--all",
            action="store_true",
            help="Treat every streaming answer as orphaned: only when no worker is running.",
        )

    def handle(self, *args, all: bool, **options) -> None:
        swept = sweep_stale(stale_after=0 if all else None)
        self.stdout.write(f"Marked {len(swept)} unfinished answer(s) as interrupted.")
