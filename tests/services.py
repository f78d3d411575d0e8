"""Are PostgreSQL and Redis reachable? `python -m tests.services` exits 0 if both are.

The Makefile asks this before running the suite's PostgreSQL + Redis leg.
"""

import os
import sys

import psycopg
import redis

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def problems() -> list[str]:
    found = []
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.Error as error:
        found.append(f"PostgreSQL at {POSTGRES_URL}: {error}".strip())
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        found.append(f"Redis at {REDIS_URL}: {error}")
    return found


if __name__ == "__main__":
    trouble = problems()
    for line in trouble:
        print(f"not reachable: {line}", file=sys.stderr)
    sys.exit(1 if trouble else 0)
