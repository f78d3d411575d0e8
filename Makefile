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

.PHONY: help run test lint install install-test browser cluster messages

help:
	@echo "make run   set up (venv, Python and npm packages, database, first admin) and start on http://127.0.0.1:8000"
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

run: export DJANGO_DEBUG ?= true
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py sweep_streams --all
	$(PY) manage.py ensure_admin
	exec $(VENV)/bin/daphne --bind 127.0.0.1 --port 8000 chatsite.asgi:application

lint: install-test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: export TIKTOKEN_CACHE_DIR ?= $(SHARED)/tiktoken
test: install-test
	$(PY) -m ruff check .
	env -u DATABASE_URL -u REDIS_URL DJANGO_DEBUG=true $(PY) manage.py makemigrations --check --dry-run
	@echo "== 1/2: SQLite + in-memory channel layer"
	env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest $(PYTEST_ARGS)
	@echo "== 2/2: PostgreSQL + Redis channel layer"
	@if $(PY) -m tests.services; then \
	  run_id="$$(date +%s)_$$$$"; \
	  DATABASE_URL="$(TEST_POSTGRES_URL)/chatsite_$$run_id" \
	  REDIS_URL="$(TEST_REDIS_URL)" REDIS_PREFIX="chatsite-test-$$run_id" \
	  $(PY) -m pytest $(PYTEST_ARGS); \
	elif [ "$${CI:-}" = "true" ]; then \
	  echo "CI=true: PostgreSQL and Redis are required for the second leg; failing."; exit 1; \
	else \
	  echo "PostgreSQL or Redis is not reachable: the PostgreSQL + Redis leg did NOT run."; \
	fi
