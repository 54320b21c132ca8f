# skyroute developer entry points. `make` alone lists the targets.

PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
PYTEST_ARGS ?=
RUN_ARGS ?=
BENCH_ARGS ?=

# The stamp name carries the hash of both requirements files (requirements-dev.txt
# includes requirements.txt), so `make venv` reinstalls exactly when the pins change and
# is a no-op otherwise (mtimes lie after a git checkout).
REQ_SHA := $(shell cat requirements.txt requirements-dev.txt 2>/dev/null | sha256sum | cut -c1-16)
VENV_STAMP := $(VENV)/.installed-$(REQ_SHA)
# A venv whose python is gone (deleted, or its base interpreter removed) is rebuilt
# even though its stamp is there.
ifeq ($(shell test -x $(VENV_PY) && echo ok),)
.PHONY: $(VENV_STAMP)
endif

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help venv proto check-proto lint format services-up test run bench bench-token migrate seed \
	bench-search bench-booking bench-scale bench-account bench-tracking bench-packages dev-token \
	compose-secrets compose-check clean

help: ## List the targets
	@echo "Usage: make <target> [PYTEST_ARGS=...] [RUN_ARGS=...]"
	@echo
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) \
		| awk -F':.*## ' '{ printf "  %-14s %s\n", $$1, $$2 }'

venv: $(VENV_STAMP) ## Create .venv and install requirements-dev.txt (no-op when up to date)
	@:

$(VENV_STAMP):
	@set -e; \
	if ! "$(VENV_PY)" -m pip --version >/dev/null 2>&1; then \
		if [ -e "$(VENV)" ]; then \
			echo "venv: $(VENV) has no working python/pip; recreating it"; \
			rm -rf "$(VENV)"; \
		fi; \
		if ! $(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1; then \
			if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
				echo "venv: installing python3-venv"; \
				apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; \
			else \
				echo "venv: '$(PYTHON) -m venv' is unavailable; install python3-venv" >&2; exit 1; \
			fi; \
		fi; \
		echo "venv: creating $(VENV) with $(PYTHON)"; \
		$(PYTHON) -m venv "$(VENV)"; \
	fi
	$(VENV_PY) -m pip install -q -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

proto: venv ## Regenerate services/generated from protos/
	$(VENV_PY) scripts/gen_protos.py

check-proto: venv ## Fail if services/generated differs from what protos/ generate
	@VENV_PYTHON=$(VENV_PY) bash scripts/check_generated.sh

lint: venv ## ruff check + ruff format --check + mypy + buf lint + deploy/k8s validated (all run)
	@rc=0; \
	echo "ruff check ."; $(VENV)/bin/ruff check . || rc=1; \
	echo "ruff format --check ."; $(VENV)/bin/ruff format --check . || rc=1; \
	echo "mypy"; $(VENV)/bin/mypy || rc=1; \
	echo "buf lint"; $(VENV)/bin/buf lint && echo "buf lint: ok" || rc=1; \
	echo "k8s"; VENV_BIN=$(VENV)/bin bash scripts/check_k8s.sh || rc=1; \
	exit $$rc

format: venv ## Format the tree with ruff format (make lint checks it)
	$(VENV)/bin/ruff format .

services-up: ## Make sure Redis and PostgreSQL answer (start/install them if needed), pgbouncer installed
	@bash scripts/ensure_services.sh

test: venv check-proto services-up ## Run the tests (PYTEST_ARGS=... passes options)
	$(VENV_PY) -m pytest -q $(PYTEST_ARGS)

run: venv services-up migrate ## Run the whole stack locally in the foreground (Ctrl-C stops it)
	$(VENV_PY) -m inventory_seed --scale small --if-empty --quiet
	$(VENV_PY) scripts/run_stack.py $(RUN_ARGS)

migrate: venv services-up ## Create or upgrade the database schema (Alembic)
	$(VENV_PY) -m migrations

seed: migrate ## Load generated flight inventory (SEED_ARGS="--scale small")
	$(VENV_PY) -m inventory_seed $(SEED_ARGS)

# The user must be named on the command line: USER from the environment is the login
# name, which would silently become the JWT's user. Checked before anything runs; the
# usage goes to stderr (make exits 2), so TOKEN=$$(make -s dev-token) gets no text.
ifneq ($(filter dev-token,$(MAKECMDGOALS)),)
ifneq ($(origin USER),command line)
DEV_TOKEN_NO_USER := yes
else ifeq ($(strip $(USER)),)
DEV_TOKEN_NO_USER := yes
endif
ifdef DEV_TOKEN_NO_USER
$(error usage: make dev-token USER=<name>, e.g. USER=alice (the login name in $$USER is not used))
endif
endif

dev-token: venv ## Mint a development user JWT for the running stack: make dev-token USER=alice
	@test -f .run/dev.env || { echo "dev-token: start the stack first (make run)" >&2; exit 1; }
	@set -a; . ./.run/dev.env; set +a; $(VENV_PY) -m booking_service.dev_token --user "$(USER)"

bench: bench-token bench-search bench-booking bench-tracking ## Run all benchmarks

bench-token: venv services-up ## Benchmark the token service
	$(VENV_PY) -m benchmarks.token_bench

bench-search: venv services-up ## Benchmark the search service (seeds a scratch database)
	$(VENV_PY) -m benchmarks.search_bench

bench-booking: venv services-up ## Benchmark the booking service, direct and via PgBouncer (checks no oversell)
	$(VENV_PY) -m benchmarks.booking_bench --pgbouncer

bench-scale: venv services-up ## Cost as the work grows: search/booking/token curves, plotted to docs/ (~20 min)
	$(VENV_PY) -m benchmarks.cost_curves $(BENCH_ARGS)

bench-account: venv services-up ## Benchmark the account service (hash cost, logins/s, refresh/s, revocation check)
	$(VENV_PY) -m benchmarks.account_bench --write

bench-tracking: venv services-up ## Benchmark tracking: 10,000 trackers, cold and warm cache, all due at once and spread
	$(VENV_PY) -m benchmarks.tracking_bench
	$(VENV_PY) -m benchmarks.tracking_bench --warm
	$(VENV_PY) -m benchmarks.tracking_bench --warm --spread 10

bench-packages: venv services-up ## Benchmark flight + hotel packages with the hotel supplier at 200 ms (no double order, none half-booked)
	$(VENV_PY) -m benchmarks.package_bench --markdown $(BENCH_ARGS)

compose-secrets: ## Write random secrets for docker-compose.yml to .run/secrets/ (keeps existing)
	$(PYTHON) scripts/compose_secrets.py

# Secrets are files (docker-compose.yml `secrets:`), which `config` does not need.
compose-check: ## Validate docker-compose.yml with `docker-compose config`
	@if ! command -v docker-compose >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "compose-check: installing docker-compose"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose; \
		else \
			echo "compose-check: docker-compose not found (apt-get install docker-compose)" >&2; \
			exit 1; \
		fi; \
	fi
	docker-compose -f docker-compose.yml config -q
	@echo "compose-check: ok"

clean: ## Remove caches and .run/ (keeps .venv)
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -print0 | xargs -0 rm -rf
	rm -rf .pytest_cache .ruff_cache .mypy_cache .hypothesis .run build dist *.egg-info
