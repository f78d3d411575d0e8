# chatsite: `make run` starts the app, `make test` runs the whole suite.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SHARED ?= $(abspath ../shared)
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
PYTEST_ARGS ?=
export TEST_POSTGRES_URL TEST_REDIS_URL

# Where `make run` and `make demo` serve: make run PORT=8080 HOST=0.0.0.0
PORT ?= 8000
HOST ?= 127.0.0.1
# Debug pages only when asked: make run DEBUG=1 (or DJANGO_DEBUG=true).
DEBUG ?=
# The fake model of `make demo` listens here.
DEMO_UPSTREAM_PORT ?= 9100
# A local run without DJANGO_SECRET_KEY keeps a generated key here, so that
# sessions and the provider keys stored encrypted survive a restart.
SECRET_KEY_FILE ?= .django-secret-key
# The address printed for signing in: a wildcard bind is reached on 127.0.0.1.
SITE_HOST := $(if $(filter 0.0.0.0 :: [::],$(HOST)),127.0.0.1,$(HOST))

.PHONY: help run demo prepare test lint install install-test browser cluster messages

help:
	@echo "make run   set up (venv, Python and npm packages, database, first admin) and start on http://$(SITE_HOST):$(PORT)"
	@echo "           PORT=8080 HOST=0.0.0.0 choose where; DEBUG=1 shows Django's debug pages"
	@echo "make demo  the same with a local fake model answering, for a first look without an API"
	@echo "make test  install what the tests need and run the whole suite (SQLite, then PostgreSQL + Redis)"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@ $(VENV)/.installed-run

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed-run node_modules/.installed messages
install-test: $(VENV)/.installed-test node_modules/.installed browser cluster messages

# Compiled translations (.mo) are built here, not committed; msgfmt comes with gettext.
messages: $(VENV)/.installed-run
	@command -v msgfmt >/dev/null || { \
	  echo "Installing Debian's gettext to compile the translations"; \
	  $(SUDO) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq gettext >/dev/null; }
	env -u DATABASE_URL -u REDIS_URL DJANGO_DEBUG=true $(PY) manage.py compilemessages --ignore .venv --ignore node_modules --verbosity 0

# Browser tests drive the system's Chromium (Playwright cannot download one here);
# the fonts make Chinese text and emoji readable in the screenshots.
BROWSER_PACKAGES := chromium fonts-noto-cjk fonts-noto-color-emoji
browser:
	@dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1 || { \
	  echo "Installing Debian packages for the browser tests: $(BROWSER_PACKAGES)"; \
	  $(SUDO) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null; }

# The cluster tests (tests/test_cluster_nginx.py) and scripts/cluster.py put Debian's
# nginx in front of the workers; they run it as their own process, on free ports.
CLUSTER_PACKAGES := nginx
cluster:
	@dpkg -s $(CLUSTER_PACKAGES) >/dev/null 2>&1 || { \
	  echo "Installing Debian packages for the cluster tests: $(CLUSTER_PACKAGES)"; \
	  $(SUDO) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(CLUSTER_PACKAGES) >/dev/null; }

comma := ,
# A local run is plain http on this machine: the secure defaults of a debug-off
# run (HTTPS redirect, secure-only cookies, HSTS) would lock the browser out, so
# they are relaxed here unless set in the environment; deployments set their own
# (docs/deployment.md). Static files are collected and served by WhiteNoise.
LOCAL_RUN_ENV := \
  DJANGO_DEBUG="$${DJANGO_DEBUG:-$(if $(filter 1 true yes on,$(DEBUG)),true,false)}" \
  DJANGO_ALLOWED_HOSTS="$${DJANGO_ALLOWED_HOSTS:-127.0.0.1,localhost,[::1]$(if $(filter-out 127.0.0.1 localhost 0.0.0.0 :: [::],$(HOST)),$(comma)$(HOST))}" \
  DJANGO_SECURE_SSL_REDIRECT="$${DJANGO_SECURE_SSL_REDIRECT:-false}" \
  DJANGO_SESSION_COOKIE_SECURE="$${DJANGO_SESSION_COOKIE_SECURE:-false}" \
  DJANGO_CSRF_COOKIE_SECURE="$${DJANGO_CSRF_COOKIE_SECURE:-false}" \
  DJANGO_SECURE_HSTS_SECONDS="$${DJANGO_SECURE_HSTS_SECONDS:-0}" \
  LOG_FORMAT="$${LOG_FORMAT:-plain}" \
  DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-$$(cat $(SECRET_KEY_FILE))}"
DAPHNE := $(VENV)/bin/daphne --bind $(HOST) --port $(PORT) chatsite.asgi:application

$(SECRET_KEY_FILE): | $(PY)
	umask 077 && $(PY) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

# Everything before serving: packages, translations, database, provider, static
# files, streams a previous run left open, the first admin.
prepare: install | $(SECRET_KEY_FILE)
	export $(LOCAL_RUN_ENV); \
	$(PY) manage.py migrate --noinput; \
	$(PY) manage.py bootstrap; \
	$(PY) manage.py collectstatic --noinput --verbosity 0; \
	$(PY) manage.py sweep_streams --all; \
	$(PY) manage.py ensure_admin --url http://$(SITE_HOST):$(PORT)/accounts/login/

run: prepare
	export $(LOCAL_RUN_ENV); \
	echo "chatsite on http://$(SITE_HOST):$(PORT) (debug $$DJANGO_DEBUG); Ctrl-C stops it."; \
	exec $(DAPHNE)

# A first look without an API: tests/fakeupstream.py answers as a model would (it
# streams a canned text), under the provider "Demo (local fake model)". Ctrl-C
# stops both processes.
demo: prepare
	export $(LOCAL_RUN_ENV); \
	$(PY) manage.py demo_provider --base-url http://127.0.0.1:$(DEMO_UPSTREAM_PORT)/v1; \
	$(PY) -m tests.fakeupstream --port $(DEMO_UPSTREAM_PORT) --delay-ms 30 & fake=$$!; \
	trap 'kill $$fake 2>/dev/null; wait $$fake 2>/dev/null' EXIT; \
	trap 'exit 130' INT TERM; \
	echo "chatsite on http://$(SITE_HOST):$(PORT) with the fake model on port $(DEMO_UPSTREAM_PORT); Ctrl-C stops both."; \
	$(DAPHNE)

lint: install-test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The two legs run side by side: the machine has two cores, and each leg spends
# much of its time waiting on sockets and browsers. The browser tests drive the
# page, so they run once, on the SQLite leg; the PostgreSQL + Redis leg runs
# everything else, the cluster tests (several workers, nginx, Chromium) included.
SERVICES_LEG_MARKS := not browser or cluster
LEG_LOG := test-artifacts/postgres-redis-leg.log

test: export TIKTOKEN_CACHE_DIR ?= $(SHARED)/tiktoken
test: install-test
	$(PY) -m ruff check .
	env -u DATABASE_URL -u REDIS_URL DJANGO_DEBUG=true $(PY) manage.py makemigrations --check --dry-run
	@mkdir -p test-artifacts; services_rc=skipped; \
	if $(PY) -m tests.services; then \
	  run_id="$$(date +%s)_$$$$"; \
	  echo "== PostgreSQL + Redis leg started beside the SQLite leg (its output comes after the SQLite leg's, and is in $(LEG_LOG))"; \
	  ( DATABASE_URL="$(TEST_POSTGRES_URL)/chatsite_$$run_id" \
	    REDIS_URL="$(TEST_REDIS_URL)" REDIS_PREFIX="chatsite-test-$$run_id" \
	    $(PY) -m pytest -m "$(SERVICES_LEG_MARKS)" $(PYTEST_ARGS) > $(LEG_LOG) 2>&1 ) & services_pid=$$!; \
	elif [ "$${CI:-}" = "true" ]; then \
	  echo "CI=true: PostgreSQL and Redis are required for the second leg; failing."; exit 1; \
	else \
	  echo "PostgreSQL or Redis is not reachable: the PostgreSQL + Redis leg will NOT run."; \
	fi; \
	echo "== SQLite + in-memory channel layer"; \
	sqlite_rc=0; env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest $(PYTEST_ARGS) || sqlite_rc=$$?; \
	if [ -n "$${services_pid:-}" ]; then \
	  services_rc=0; wait $$services_pid || services_rc=$$?; \
	  echo "== PostgreSQL + Redis channel layer (-m '$(SERVICES_LEG_MARKS)')"; cat $(LEG_LOG); \
	fi; \
	echo "== SQLite leg: exit $$sqlite_rc; PostgreSQL + Redis leg: exit $$services_rc"; \
	[ "$$sqlite_rc" = 0 ] && { [ "$$services_rc" = 0 ] || [ "$$services_rc" = skipped ]; }
