"""chatsite settings: every value comes from the environment.

The defaults are safe for a local run; with ``DJANGO_DEBUG`` off they are the
secure ones, and each can be relaxed by its variable (see docs/configuration.md).
A malformed value stops the process at start-up.
"""

import json
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from chatsite.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_origins,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Core -------------------------------------------------------------------

DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "django-insecure-local-debug-key-never-use-in-production"

LOCAL_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", LOCAL_HOSTS if DEBUG else [])
if not DEBUG and "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "DJANGO_ALLOWED_HOSTS must name the site's hosts when DJANGO_DEBUG is off, not '*'."
    )
CSRF_TRUSTED_ORIGINS = env_origins("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "conversations",
]

MIDDLEWARE = [
    "conversations.views.health.HealthCheckMiddleware",
    "conversations.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "conversations.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a locked-out sign-in into the lockout page
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "conversations.context_processors.interface",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
try:
    _database = dj_database_url.parse(
        DATABASE_URL,
        # Persistent connections: Channels runs database calls on one thread, and
        # opening a connection per call cost several milliseconds each.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
except ValueError as error:
    raise ImproperlyConfigured(f"DATABASE_URL is not valid: {error}") from None
if _database["ENGINE"] == "django.db.backends.sqlite3":
    _database["OPTIONS"] = {
        # WAL lets readers proceed while a turn writes; IMMEDIATE avoids
        # "database is locked" upgrades from read to write transactions.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
if env_str("DATABASE_TEST_NAME"):
    # Tests that run the app in other processes need a test database they can open.
    _database["TEST"] = {"NAME": env_str("DATABASE_TEST_NAME")}
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer and cache ------------------------------------------------

REDIS_URL = env_url("REDIS_URL", "", schemes=("redis", "rediss", "unix"))
REDIS_PREFIX = env_str("REDIS_PREFIX", "chatsite")

if REDIS_URL:
    import redis  # here, not at the top: importing redis-py costs a process up to 19 MB

    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # No socket timeout (redis-py 8 defaults to 5 s): channels_redis
                # blocks 5 s in BZPOPMIN, and the tie raised TimeoutError into
                # whichever socket was receiving; and with a timeout every write
                # goes through asyncio.wait_for, which on Python 3.11 can swallow
                # a cancellation, so a closed socket's receive never ended.
                # One retry, on a new connection, after a ConnectionError: after a
                # Redis restart every pooled connection failed its first command
                # ("Connection closed by server"; redis-py 8 no longer checks them
                # when lending them out), each ending one more socket long after
                # Redis was back. While Redis is down the retry fails at once.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": None,
                        "retry_on_error": [redis.exceptions.ConnectionError],
                    }
                ],
                "prefix": f"{REDIS_PREFIX}:layer",
                "capacity": env_int("CHANNEL_LAYER_CAPACITY", 1000, minimum=10),
                "expiry": 60,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{REDIS_PREFIX}:cache",
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Accounts ---------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "conversations.lockout.SignInLockoutBackend",  # first: refuses while locked out
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = env_int("DJANGO_SESSION_COOKIE_AGE", 14 * 24 * 3600, minimum=60)
# Tests only: a password hash costs ~1 s on small machines and every test user
# has one. `check --deploy` fails while this is on (conversations/checks.py).
CHATSITE_FAST_PASSWORD_HASHER = env_bool("CHATSITE_FAST_PASSWORD_HASHER", False)
if CHATSITE_FAST_PASSWORD_HASHER:
    PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]

# Sign-in lockout (django-axes, conversations/lockout.py): this many failed
# sign-ins for one account, or from one address, lock both out for the cool-off.
# Attempts are kept in the database, shared by every worker.
CHATSITE_SIGNIN_FAILURE_LIMIT = env_int("CHATSITE_SIGNIN_FAILURE_LIMIT", 10, minimum=1)
CHATSITE_SIGNIN_LOCKOUT_MINUTES = env_int("CHATSITE_SIGNIN_LOCKOUT_MINUTES", 15, minimum=1)
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = CHATSITE_SIGNIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=CHATSITE_SIGNIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "conversations.lockout.locked_out"
# axes' own reset on success forgets every failure from the signing-in address too,
# so anyone with an account could clear the count of the one they are guessing;
# conversations/signals.py forgets only the signed-in account's failures instead.
AXES_RESET_ON_SUCCESS = False
# Tries during a lockout neither extend it nor grow its record.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True  # no row per successful sign-in
AXES_VERBOSE = False  # no banner in the log of every process start

# Password-reset mails. The console backend prints them to the server's log.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "chatsite <noreply@localhost>")

# --- Security ---------------------------------------------------------------
# With debug off every default is the secure one; each can be relaxed, e.g.
# DJANGO_SECURE_SSL_REDIRECT=false when a proxy already redirects to HTTPS.

SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    # Trust the proxy's X-Forwarded-Proto only when told that a proxy sets it.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = env_bool("DJANGO_USE_X_FORWARDED_HOST", False)

# Model output is untrusted: no inline script, no eval, no remote images or
# connections. The websocket is same-origin, which 'self' covers.
CONTENT_SECURITY_POLICY = env_str(
    "DJANGO_CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'",
)

# --- Internationalisation ---------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
NODE_MODULES = BASE_DIR / "node_modules"
# Third-party browser libraries come from npm and are served from node_modules;
# none of their code is committed.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/marked", NODE_MODULES / "marked" / "lib"),
    ("vendor/dompurify", NODE_MODULES / "dompurify" / "dist"),
    ("vendor/highlight", NODE_MODULES / "@highlightjs" / "cdn-assets"),
    ("vendor/katex", NODE_MODULES / "katex" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", DEBUG)
MEDIA_ROOT = Path(env_str("DJANGO_MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "media/"

# --- Upstream API (OpenAI-compatible) ---------------------------------------

OPENAI_BASE_URL = env_url("OPENAI_BASE_URL", "https://api.openai.com/v1")
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_MODEL = env_str("OPENAI_MODEL")
# Encryption of provider keys stored in the database; derived from the secret
# key when unset (rotating the secret key then requires re-entering the keys).
CHATSITE_ENCRYPTION_KEY = env_str("CHATSITE_ENCRYPTION_KEY") or SECRET_KEY

LLM_CONNECT_TIMEOUT = env_float("LLM_CONNECT_TIMEOUT", 10.0, minimum=0.1)
LLM_FIRST_BYTE_TIMEOUT = env_float("LLM_FIRST_BYTE_TIMEOUT", 60.0, minimum=0.1)
LLM_IDLE_TIMEOUT = env_float("LLM_IDLE_TIMEOUT", 60.0, minimum=0.1)
LLM_TOTAL_TIMEOUT = env_float("LLM_TOTAL_TIMEOUT", 600.0, minimum=1.0)
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 2, maximum=2)
LLM_RETRY_CAP = env_float("LLM_RETRY_CAP", 20.0, maximum=300.0)
# httpx rides on aiohttp's connection pool; httpcore stays selectable for comparison
# (bench/README.md has both measured).
LLM_TRANSPORT = env_choice("LLM_TRANSPORT", "aiohttp", ("aiohttp", "httpcore"))

# --- Chat limits and streaming ----------------------------------------------

CHATSITE_MAX_MESSAGE_CHARS = env_int("CHATSITE_MAX_MESSAGE_CHARS", 100_000, minimum=100)
# An answer stops here (status truncated, error answer_too_long): about the largest
# output of today's models, and what keeps one stream's memory bounded.
CHATSITE_MAX_ANSWER_CHARS = env_int("CHATSITE_MAX_ANSWER_CHARS", 400_000, minimum=1000)
CHATSITE_MAX_FRAME_BYTES = env_int("CHATSITE_MAX_FRAME_BYTES", 512 * 1024, minimum=4096)
CHATSITE_MAX_CONCURRENT_GENERATIONS = env_int("CHATSITE_MAX_CONCURRENT_GENERATIONS", 3, minimum=1)
CHATSITE_MESSAGES_PER_MINUTE = env_int("CHATSITE_MESSAGES_PER_MINUTE", 30, minimum=1)
# Room kept for the answer when neither the request, persona nor model caps it.
CHATSITE_DEFAULT_REPLY_RESERVE = env_int("CHATSITE_DEFAULT_REPLY_RESERVE", 1024, minimum=16)
# Partial answers reach the database this often (a hard kill loses at most this much).
CHATSITE_FLUSH_INTERVAL = env_float("CHATSITE_FLUSH_INTERVAL", 1.0, minimum=0.05, maximum=1.0)
CHATSITE_HEARTBEAT_INTERVAL = env_float("CHATSITE_HEARTBEAT_INTERVAL", 5.0, minimum=0.1)
# A streaming answer whose worker has been silent this long is marked interrupted.
# How long a worker may use the site settings it read (every turn reads them). Saving
# clears the cache at once where the cache is shared (Redis); 0 reads them every time.
CHATSITE_SITE_SETTINGS_CACHE_SECONDS = env_float(
    "CHATSITE_SITE_SETTINGS_CACHE_SECONDS", 60.0, minimum=0.0
)
CHATSITE_STALE_AFTER = env_float("CHATSITE_STALE_AFTER", 20.0, minimum=0.5)
# Deltas for tabs on other workers are batched at most this long under load.
CHATSITE_COALESCE_INTERVAL = env_float("CHATSITE_COALESCE_INTERVAL", 0.03, maximum=1.0)

# Conversation titles: "model" asks the model for a short title after the first
# answer (one small extra request); "words" uses the first words of the question.
CHATSITE_AUTO_TITLES = env_choice("CHATSITE_AUTO_TITLES", "model", ("model", "words"))

# tiktoken reads this variable itself; an air-gapped install points it at a
# folder holding the encoding files (see docs/configuration.md).
TIKTOKEN_CACHE_DIR = env_str("TIKTOKEN_CACHE_DIR")
if TIKTOKEN_CACHE_DIR:
    os.environ["TIKTOKEN_CACHE_DIR"] = TIKTOKEN_CACHE_DIR

# --- Logging ----------------------------------------------------------------

LOG_LEVEL = env_choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
# JSON lines for log collectors; plain text on a developer's terminal.
LOG_FORMAT = env_choice("LOG_FORMAT", "plain" if DEBUG else "json", ("plain", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "conversations.observability.RequestIdFilter"},
        "redact": {"()": "conversations.observability.RedactSecretsFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s %(message)s"},
        "json": {"()": "conversations.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},  # one line per upstream request is noise
    },
}

# Portability: what one import may hold (docs/admin.md, "Export, import and sharing").
CHATSITE_IMPORT_MAX_BYTES = env_int("CHATSITE_IMPORT_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)
CHATSITE_IMPORT_MAX_MESSAGES = env_int("CHATSITE_IMPORT_MAX_MESSAGES", 20_000, minimum=1)

# --- Fine-tuning ---------------------------------------------------------------

# Training files are kept here (streamed to disk, checked line by line, uploaded from here).
CHATSITE_FINETUNE_DIR = Path(env_str("CHATSITE_FINETUNE_DIR", str(MEDIA_ROOT / "finetune")))
CHATSITE_FINETUNE_MAX_BYTES = env_int(
    "CHATSITE_FINETUNE_MAX_BYTES", 512 * 1024 * 1024, minimum=1, maximum=2**40
)
CHATSITE_FINETUNE_MIN_EXAMPLES = env_int("CHATSITE_FINETUNE_MIN_EXAMPLES", 10, minimum=1)
# How often the worker looks for jobs to poll; a job's own polls back off from
# POLL_INTERVAL up to POLL_MAX while nothing changes (and after failures).
CHATSITE_FINETUNE_TICK = env_float("CHATSITE_FINETUNE_TICK", 5.0, minimum=0.05)
CHATSITE_FINETUNE_POLL_INTERVAL = env_float("CHATSITE_FINETUNE_POLL_INTERVAL", 10.0, minimum=0.0)
CHATSITE_FINETUNE_POLL_MAX = env_float("CHATSITE_FINETUNE_POLL_MAX", 300.0, minimum=0.0)
# A worker holds a job this long while polling it; a dead worker's lease lapses.
CHATSITE_FINETUNE_LEASE = env_float("CHATSITE_FINETUNE_LEASE", 60.0, minimum=1.0)

# --- Single sign-on (OpenID Connect; conversations/sso.py) --------------------
# Off while OIDC_ISSUER is empty. The provider's endpoints come from its discovery
# document unless set here; ID tokens must be RS256, signed with its published keys.

OIDC_ISSUER = env_url("OIDC_ISSUER", "")
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "single sign-on")
OIDC_RP_CLIENT_ID = env_str("OIDC_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET")
OIDC_RP_SCOPES = env_str("OIDC_SCOPES", "openid email profile")
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
# The teams whose membership the provider decides, by name; "*" is every team;
# none unless set. Groups that carry permissions are never synced.
OIDC_TEAMS = env_list("OIDC_TEAMS", [])
OIDC_CREATE_USERS = env_bool("OIDC_CREATE_USERS", True)
OIDC_SSO_ONLY = env_bool("OIDC_SSO_ONLY", False)
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = env_int("OIDC_SESSION_CHECK_SECONDS", 15 * 60, minimum=10)
OIDC_OP_AUTHORIZATION_ENDPOINT = env_url("OIDC_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = env_url("OIDC_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = env_url("OIDC_USERINFO_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = env_url("OIDC_JWKS_ENDPOINT", "")
OIDC_TOKEN_USE_BASIC_AUTH = env_choice("OIDC_TOKEN_AUTH", "basic", ("basic", "post")) == "basic"
OIDC_TIMEOUT = env_float("OIDC_TIMEOUT", 10.0, minimum=0.5, maximum=120.0)
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_USE_PKCE = True
OIDC_EXEMPT_URLS = ["logout", "set_language"]
if OIDC_ISSUER:
    if not (OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET):
        raise ImproperlyConfigured("OIDC_ISSUER needs OIDC_CLIENT_ID and OIDC_CLIENT_SECRET.")
    AUTHENTICATION_BACKENDS.append("conversations.sso.SsoBackend")
    MIDDLEWARE.append("conversations.sso_session.SsoSessionRefresh")
    TEMPLATES[0]["OPTIONS"]["context_processors"].append("conversations.sso_context.sso")
elif OIDC_SSO_ONLY:
    raise ImproperlyConfigured("OIDC_SSO_ONLY needs OIDC_ISSUER (and the rest of single sign-on).")

# Moderation (conversations.moderation): the longest a check may take, all attempts included.
CHATSITE_MODERATION_TIMEOUT = env_float("CHATSITE_MODERATION_TIMEOUT", 15.0, minimum=0.5)
# --- Image generation (conversations.turn.images) ------------------------------
# The largest image accepted from a provider (decoded base64, or fetched from its URL).
CHATSITE_IMAGE_MAX_BYTES = env_int(
    "CHATSITE_IMAGE_MAX_BYTES", 20 * 1024 * 1024, minimum=1024, maximum=512 * 1024 * 1024
)
# Where uploaded and generated files go (persona avatars, generated images): local
# disk under DJANGO_MEDIA_ROOT unless a storage backend shared by every worker is
# named (docs/deployment.md, "Shared storage for files").
STORAGES["default"] = {
    "BACKEND": env_str("DJANGO_DEFAULT_STORAGE", "django.core.files.storage.FileSystemStorage")
}
try:
    STORAGES["default"]["OPTIONS"] = json.loads(env_str("DJANGO_DEFAULT_STORAGE_OPTIONS", "{}"))
except ValueError:
    raise ImproperlyConfigured("DJANGO_DEFAULT_STORAGE_OPTIONS must be a JSON object.") from None
if not isinstance(STORAGES["default"]["OPTIONS"], dict):
    raise ImproperlyConfigured("DJANGO_DEFAULT_STORAGE_OPTIONS must be a JSON object.")
