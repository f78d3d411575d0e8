"""Environment defaults for the test run, loaded with ``-p tests.testenv``.

pytest-django imports the settings before any conftest.py runs, so the test
environment has to be in place earlier than a conftest could set it.
"""

import os
import tempfile
from pathlib import Path

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("DJANGO_SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("DJANGO_CSRF_COOKIE_SECURE", "false")
os.environ.setdefault("DJANGO_SECURE_HSTS_SECONDS", "0")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(SHARED / "tiktoken"))
os.environ.setdefault("WHITENOISE_USE_FINDERS", "true")
# Tests count upstream requests; the title call is tested on its own.
os.environ.setdefault("CHATSITE_AUTO_TITLES", "words")
if os.environ.get("DATABASE_URL", "sqlite").startswith("sqlite"):
    # A file, not memory: live servers in other processes open the same test database.
    os.environ.setdefault(
        "DATABASE_TEST_NAME", os.path.join(tempfile.gettempdir(), f"chatsite-test-{os.getpid()}.db")
    )
os.environ.setdefault("LOG_FORMAT", "plain")
# Every test user has a password; the real hasher costs ~1 s each on these machines.
os.environ.setdefault("CHATSITE_FAST_PASSWORD_HASHER", "true")
