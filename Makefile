# Crime Warehouse: every target sets itself up from the lock on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
UV_VERSION := 0.9.30
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
RUN := $(UV) run --frozen --no-sync
BENCH_INCIDENTS ?= 1000000

.PHONY: help setup system-deps test test-fast test-slow lint format bench demo docs dashboard up down up-cluster down-cluster clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set (CI sandboxes set it), nothing
# caches compiled modules, and every process (each crimewh step, dbt run, Airflow task, test
# child) compiled Airflow, dbt and great-expectations again: 23 s against 8 s to import them.
setup: $(UV)  ## create .venv from uv.lock (a no-op when it is in sync)
	@UV_PYTHON=$(PYTHON) $(UV) sync --frozen --quiet --all-extras --compile-bytecode

system-deps:  ## Debian's chromium and redis-server, which the browser and cluster tests start
	@missing=""; for pkg in chromium redis-server; do \
		command -v $$pkg >/dev/null || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing from Debian"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

test: setup  ## run the test suite (the ten slowest tests are listed at the end)
	$(RUN) pytest -m "not cluster and not installed and not slow"

test-slow: setup  ## the whole Airflow runs, the Celery cluster, the installed wheel (CI runs it after test)
	$(RUN) pytest -m "cluster or installed or slow"

test-fast: setup  ## unit tests only: no PostgreSQL, moto or Airflow (under 2 minutes)
	$(RUN) pytest -m "not integration"

lint: setup  ## ruff check and format check; sqlfluff on the dbt SQL
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) python -m crimewh.dbt lint  # dbt templater, against a scratch PostgreSQL: offline

format: setup  ## apply ruff fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

bench: $(UV)  ## benchmarks at scale; one JSON object per line
	@UV_PYTHON=$(PYTHON) $(UV) sync --frozen --quiet --all-extras --group bench --compile-bytecode
	$(RUN) python -m testkit bench --incidents $(BENCH_INCIDENTS)

demo: setup  ## the whole pipeline once on synthetic data: stack, SODA server, nightly DAG
	$(RUN) python -m testkit demo

docs: setup  ## the dbt docs site: generate, then serve on http://127.0.0.1:8580
	$(RUN) crimewh dbt docs generate
	$(RUN) crimewh dbt docs serve

up: setup  ## the embedded stack, Airflow (UI on localhost:8080; prints the login), the dashboard and the model service (localhost:8000)
	$(RUN) crimewh airflow up
	$(RUN) crimewh dashboard up
	$(RUN) crimewh serve up

dashboard: setup  ## the dashboard alone (with the embedded stack), on localhost:8501
	$(RUN) crimewh dashboard up

down:  ## stop the model service, the dashboard, Airflow and the embedded stack (the data stays in ./data)
	$(RUN) crimewh serve down
	$(RUN) crimewh dashboard down
	$(RUN) crimewh airflow down

up-cluster: setup  ## the Celery topology here: Redis, S3, API server, scheduler, 2 workers
	$(RUN) crimewh cluster up --workers $(or $(WORKERS),2)

down-cluster:  ## stop every process of the cluster and its embedded stack
	$(RUN) crimewh cluster down

clean:  ## remove the virtual environments and caches (keeps ./data)
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache
