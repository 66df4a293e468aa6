# QMM Workbench. `make demo` and `make test` work on a fresh machine: each creates the
# virtual environment when it is missing and installs the pinned versions it needs: `make demo`
# the app alone, `make test` the test tools too, `make bench*` the benchmark tools.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
# One stamp per set of extras, so `make test` after `make demo` installs only what is missing.
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
HOST ?= 127.0.0.1
PORT ?= 8000
# Test workers: one per CPU; `make test WORKERS=0` runs the suite in one process.
WORKERS ?= auto

.PHONY: install install-dev install-bench demo serve test test-postgres lint fmt bench bench-full bench-web bench-report db-upgrade docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24"

$(RUNTIME_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	@echo "== Installing QMM Workbench and the libraries it runs on into $(VENV)"
	@echo "   (pinned by constraints.txt; a few minutes on a fresh machine)"
	$(PIP) install --progress-bar on -c constraints.txt -e .
	touch $@

$(DEV_STAMP): $(RUNTIME_STAMP)
	@echo "== Installing the test and lint tools into $(VENV): pytest and xdist, ruff, mypy,"
	@echo "   Playwright (drives Chromium in tests/e2e) and PySpark (the Spark lane of tests/metrics)"
	$(PIP) install --progress-bar on -c constraints.txt -e ".[dev,spark]"
	touch $@

$(BENCH_STAMP): $(RUNTIME_STAMP)
	@echo "== Installing the benchmark tools into $(VENV): Locust (bench-web) and httpx"
	$(PIP) install --progress-bar on -c constraints.txt -e ".[bench]"
	touch $@

## The app and its runtime libraries only (no test, browser, Spark or benchmark tools).
install: $(RUNTIME_STAMP)

install-dev: $(DEV_STAMP)

install-bench: $(BENCH_STAMP)

## Install, load the demo workspace into the embedded default database, serve the web app.
demo: install
	$(BIN)/qmm demo
	@$(MAKE) --no-print-directory serve

## Serve the web application on http://$(HOST):$(PORT)/ (create or upgrade the database first).
serve: install
	$(BIN)/qmm init
	$(BIN)/qmm serve --host $(HOST) --port $(PORT)

## The test suite, one worker per CPU (a file's tests, and all browser tests, share a worker);
## QMM_TEST_DATABASE_URL=postgresql+psycopg://... runs it on PostgreSQL.
test: install-dev
	$(BIN)/pytest -q -n $(WORKERS) --dist loadfile

test-postgres: install-dev
	QMM_TEST_DATABASE_URL=$${QMM_TEST_DATABASE_URL:-postgresql+psycopg://$$(id -un)@127.0.0.1:5432/test} \
		$(BIN)/pytest -q -n $(WORKERS) --dist loadfile

lint: install-dev
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

fmt: install-dev
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

## Benchmarks print figures as ratios against a reference measured in the same run.
bench: install-bench
	$(BIN)/python bench/run.py
	$(BIN)/python bench/kpis.py --quick

## The full KPI benchmark: 10 sites, 5 years, about 10 million EM samples (15+ minutes).
bench-full: install-bench
	$(BIN)/python bench/kpis.py

## The readiness report of a busy demo site (40+ pages), against plain WeasyPrint text.
bench-report: install-bench
	$(BIN)/python bench/report.py

## The web app under 50 concurrent signed-in users (Locust), p95 latency per page (about 5 min).
bench-web: install-bench
	$(BIN)/python bench/web_load.py

db-upgrade: install
	$(BIN)/qmm init

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

docs: install
	$(BIN)/python scripts/gen_cli_docs.py
