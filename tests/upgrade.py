"""Upgrade tests: rows made with an older schema, then one migration run over them."""

import contextlib

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

APP = "conversations"


class Upgrade:
    def __init__(self, before: str, after: str) -> None:
        self.before, self.after = [(APP, before)], [(APP, after)]
        executor = MigrationExecutor(connection)
        self.latest = executor.loader.graph.leaf_nodes()
        executor.migrate(self.before)
        # The models as they were at `before`, to make the rows to upgrade with.
        self.apps = MigrationExecutor(connection).loader.project_state(self.before).apps

    def run(self):
        """Migrate to `after`; return the models as they are there, to read what it did.

        Read through them, not the current models: later migrations may have
        added columns that do not exist yet at `after`.
        """
        executor = MigrationExecutor(connection)
        executor.migrate(self.after)
        return MigrationExecutor(connection).loader.project_state(self.after).apps


@contextlib.contextmanager
def upgrade(before: str, after: str):
    """Go back to migration `before`, yield an Upgrade; the latest schema is back after."""
    step = Upgrade(before, after)
    try:
        yield step
    finally:
        MigrationExecutor(connection).migrate(step.latest)
