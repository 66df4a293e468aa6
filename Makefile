# QMM Workbench. `make demo` and `make test` work on a fresh machine: each creates the
# virtual environment when it is missing and installs the pinned versions.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install demo serve test test-postgres lint fmt bench bench-full bench-web bench-report db-upgrade docs clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,spark,bench]"
	touch $(STAMP)

install: $(STAMP)

## Install, load the demo workspace into the embedded default database, serve the web app.
demo: install
	$(BIN)/qmm demo
	@$(MAKE) --no-print-directory serve

## Serve the web application on http://$(HOST):$(PORT)/ (create or upgrade the database first).
serve: install
	$(BIN)/qmm init
	$(BIN)/qmm serve --host $(HOST) --port $(PORT)

## The test suite; QMM_TEST_DATABASE_URL=postgresql+psycopg://... runs it on PostgreSQL.
test: install
	$(BIN)/pytest -q

test-postgres: install
	QMM_TEST_DATABASE_URL=$${QMM_TEST_DATABASE_URL:-postgresql+psycopg://$$(id -un)@127.0.0.1:5432/test} \
		$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

## Benchmarks print figures as ratios against a reference measured in the same run.
bench: install
	$(BIN)/python bench/run.py
	$(BIN)/python bench/kpis.py --quick

## The full KPI benchmark: 10 sites, 5 years, about 10 million EM samples (15+ minutes).
bench-full: install
	$(BIN)/python bench/kpis.py

## The web app under 50 concurrent signed-in users (Locust), p95 latency per page (about 5 min).
## The readiness report of a busy demo site (40+ pages), against plain WeasyPrint text.
bench-report: install
	$(BIN)/python bench/report.py

bench-web: install
	$(BIN)/python bench/web_load.py

db-upgrade: install
	$(BIN)/qmm init

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

docs: install
	$(BIN)/python scripts/gen_cli_docs.py
