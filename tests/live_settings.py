"""Settings of the live Daphne workers the tests start: the site's own, plus one
middleware that forgets what a test's database flush leaves stale in a worker
that outlives the test (see tests.live_middleware)."""

from chatsite.settings import *  # noqa: F403
from chatsite.settings import MIDDLEWARE

MIDDLEWARE = ["tests.live_middleware.ForgetFlushedCaches", *MIDDLEWARE]
