"""A chatsite cluster on this machine, for scripts/cluster.py, tests and bench/load.

nginx (configured by docs/deploy/nginx.conf) in front of Daphne workers
(tests/livedaphne.py) on one PostgreSQL and one Redis, with the local fake
upstream as the model. See Cluster.
"""

from tests.cluster.servers import Postgres, PrivatePostgres, PrivateRedis, Redis
from tests.cluster.site import Cluster

__all__ = ["Cluster", "Postgres", "PrivatePostgres", "PrivateRedis", "Redis"]
