# Backdrop: the two commands that matter are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
PY := .venv/bin/python
PYTEST := ../../.venv/bin/pytest
E2E_DB := postgresql://127.0.0.1:5432/backdrop_e2e
E2E_PATHS ?= tests browser
SCREENSHOTS ?=
SUITES := libs/common libs/client services/auth services/upload services/sweeper services/gateway services/worker

.PHONY: help install infra up down status run demo test test-unit test-e2e test-observability test-faults test-containers \
        lint fmt typecheck bench screenshots all

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

install: ## Create .venv with every workspace member (needs only python3 and pip)
	@command -v uv >/dev/null 2>&1 || [ -x "$(UV)" ] || python3 -m pip install --quiet uv
	@# Bytecode now, not in every process: with PYTHONDONTWRITEBYTECODE set (as on CI) each
	@# start compiled every imported module again (a service took 1.9 s to import, now 0.7).
	@$$(command -v uv || echo "$(UV)") sync --all-packages --locked --quiet --compile-bytecode

infra: install ## Make sure PostgreSQL, Redis and the S3 stand-in are running
	@scripts/infra.sh 9000

up: install ## Start the whole stack in the background (dev profile, ports 8080-8082)
	@$(PY) scripts/stack.py up --profile dev

down: ## Stop the stack
	@[ -x $(PY) ] && $(PY) scripts/stack.py down --profile dev || true

status: ## Show the stack's processes
	@$(PY) scripts/stack.py status --profile dev

run: up ## Bring the system up and run the main job (sign in, submit files, watch, results)
	@.venv/bin/backdrop --url http://127.0.0.1:8080 demo

test: install ## Run every test suite (libs, services, e2e) against real PostgreSQL/Redis/S3
	@scripts/infra.sh 9000
	@scripts/rgw.sh install
	@$(MAKE) --no-print-directory test-unit
	@$(MAKE) --no-print-directory test-observability
	@$(MAKE) --no-print-directory test-e2e

test-unit: ## Run each library's and service's own tests
	@set -e; for s in $(SUITES); do \
	  echo "=== $$s"; (cd $$s && $(PYTEST) tests -q -p no:cacheprovider $(PYTEST_ARGS)); \
	done

test-e2e: install ## Start a throw-away stack (ports 18080+) and run tests-e2e (API + dashboard in Chromium)
	@scripts/system-packages.sh chromium
	@$(PY) scripts/stack.py up --profile e2e --fresh || { $(PY) scripts/stack.py down --profile e2e; exit 1; }
	@cd tests-e2e && BACKDROP_URL=http://127.0.0.1:18080 BACKDROP_E2E_DATABASE_URL=$(E2E_DB) \
	  BACKDROP_SCREENSHOTS=$(SCREENSHOTS) ../.venv/bin/pytest $(E2E_PATHS) -q -p no:cacheprovider \
	  $(PYTEST_ARGS); rc=$$?; \
	  cd .. && $(PY) scripts/stack.py down --profile e2e; exit $$rc

screenshots: install ## Refresh docs/img/dashboard-*.png from the browser test on the e2e stack
	@$(MAKE) --no-print-directory test-e2e E2E_PATHS=browser SCREENSHOTS=$(CURDIR)/docs/img

test-observability: install ## promtool check/test of the alert rules, Prometheus config, Grafana dashboard
	@scripts/system-packages.sh prometheus
	@.venv/bin/pytest deploy/tests/test_observability.py -q -p no:cacheprovider $(PYTEST_ARGS)

test-faults: install ## Fault suite: own PostgreSQL/Redis/S3, kills, wipes, outages; a summary line per scenario
	@cd tests-faults && flock /tmp/backdrop-faults.lock ../.venv/bin/pytest scenarios -q -p no:cacheprovider \
	  $(PYTEST_ARGS)

test-containers: install ## Images, the compose stack (project backdrop-ci, :28080), e2e + container tests, k8s checks
	@scripts/system-packages.sh prometheus
	@scripts/containers/test.sh

bench: install ## Benchmarks: figures and ratios against baselines measured in the same run
	@$(PY) scripts/bench/run.py $(BENCH_ARGS)

lint: install ## ruff check and format check
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .

fmt: install ## Format the code
	@.venv/bin/ruff format .
	@.venv/bin/ruff check --fix .

typecheck: install ## mypy (strict on libs)
	@.venv/bin/mypy libs/common/src libs/contract/src libs/client/src libs/testing/src services/*/src

all: lint typecheck test ## Everything CI runs
