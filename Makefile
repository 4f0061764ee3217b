# Eventscope — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# How many web processes `make serve` runs, on consecutive ports from PORT.
WEB_PROCESSES ?= 2
# The scaled mode's services in tests (the development machines run both on 127.0.0.1).
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/eventscope
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
# The benchmarks' PostgreSQL server (each makes and drops a database of its own there) and Redis.
BENCH_PG_URL ?= postgres://postgres@127.0.0.1:5432/postgres
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/13
# Where `make demo` sends its traffic: the dashboard `make run` serves (same HOST and PORT), or
# EVENTSCOPE_URL when set.
DEMO_URL ?= $(or $(EVENTSCOPE_URL),http://$(HOST):$(PORT))

.DEFAULT_GOAL := help
.PHONY: help run serve test test-fast test-js test-sqlite test-postgres lint format bench worker demo screenshots clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.runtime: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

run: $(VENV)/.runtime ## Serve the dashboard (HTTP + websockets) on http://$(HOST):$(PORT)
	$(PY) manage.py bootstrap --host $(HOST) --port $(PORT)
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl-C stops)"
	exec $(PY) manage.py serve --host $(HOST) --port $(PORT)

serve: $(VENV)/.runtime ## With DATABASE_URL (PostgreSQL) and REDIS_URL: migrate, then WEB_PROCESSES (2) web processes on ports PORT, PORT+1…, a Celery worker and beat, in the foreground
	@test -n "$$REDIS_URL" -a -n "$$DATABASE_URL" || { echo "Set DATABASE_URL (postgres://…) and REDIS_URL (redis://…); make run serves without them"; exit 2; }
	$(PY) manage.py migrate --no-input
	exec $(PY) manage.py supervise --host $(HOST) --port $(PORT) --web-processes $(WEB_PROCESSES)

test: $(VENV)/.dev ## Run the whole test suite: page scripts, embedded mode (SQLite), then the scaled mode (PostgreSQL + Redis)
	$(MAKE) --no-print-directory test-js
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-fast: $(VENV)/.dev ## Only the tests that start no server or browser (SQLite), and the page scripts' tests
	env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest -q -m "not redis and not server" $(PYTEST_ARGS)
	node --test tests/js/

test-js: ## The page scripts' pure functions, with Node's built-in test runner (no npm packages)
	node --test tests/js/

test-sqlite: $(VENV)/.dev ## The suite on the embedded default (SQLite, in-process layer)
	env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest -m "not redis" $(PYTEST_ARGS)

test-postgres: $(VENV)/.dev ## The database-backed tests again on PostgreSQL, with Redis
	DATABASE_URL=$(TEST_POSTGRES_URL) REDIS_URL=$(TEST_REDIS_URL) EVENTSCOPE_TEST_DB_ONLY=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev ## ruff (lint + format check), mypy and the import contracts (import-linter)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports

format: $(VENV)/.dev ## Apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.dev ## Run the benchmarks; one JSON object per line (the PostgreSQL ones on BENCH_PG_URL's server, with BENCH_REDIS_URL)
	BENCH_PG_URL=$(BENCH_PG_URL) BENCH_REDIS_URL=$(BENCH_REDIS_URL) $(PY) -m bench

demo: $(VENV)/.dev ## Run the simulated shop against the dashboard at $(DEMO_URL) (PORT=, DEMO_URL= or EVENTSCOPE_URL= elsewhere; ORDERS=n to stop after n)
	$(PY) manage.py migrate --no-input -v 0
	$(PY) manage.py demo --url $(DEMO_URL) $(if $(ORDERS),--orders $(ORDERS))

screenshots: $(VENV)/.dev ## Regenerate docs/screenshots/*.png from the real pages (temporary server + demo data)
	$(PY) manage.py screenshots --out docs/screenshots

worker: $(VENV)/.runtime ## With REDIS_URL: a Celery worker and beat
	@test -n "$$REDIS_URL" || { echo "Set REDIS_URL (e.g. redis://127.0.0.1:6379/0)"; exit 2; }
	exec $(VENV)/bin/celery -A config worker --beat --loglevel INFO

clean: ## Remove the virtualenv and local data (var/)
	rm -rf $(VENV) var
