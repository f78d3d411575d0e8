"""The benches' own PostgreSQL databases: made (and dropped) only under a bench's name."""

from urllib.parse import urlsplit, urlunsplit


def ensure_database(url: str, rebuild: bool) -> bool:
    """Create the bench's database (dropping it first with ``rebuild``); True if new."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.startswith("chatsite_bench"):
        raise SystemExit("bench: the database name must start with chatsite_bench (it is dropped)")
    server = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(server, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if exists and not rebuild:
            return False
        if exists:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return True
