# The two commands of the README: `make sync` (main job) and `make test` (whole suite).
# Each creates .venv and installs the project on first use; nothing to do by hand before.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: sync test year lint ui sandbox bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

sync: $(STAMP)  ## Command 1: full sync into warehouse/alocity.duckdb (embedded sandbox unless credentials are set)
	DAGSTER_HOME=$(CURDIR)/dagster_home $(BIN)/alocity-etl demo

test: $(STAMP)  ## Command 2: lint, the layer rules and the whole test suite
	$(BIN)/ruff check alocity_etl tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/pytest -n 2 --dist loadgroup --durations=25

year: $(STAMP)  ## The simulated year (tests/year, marker `year`, ~45 minutes): writes reports/year.json
	$(BIN)/pytest -m year tests/year -s -p no:cacheprovider

ui: $(STAMP)
	DAGSTER_HOME=$(CURDIR)/dagster_home $(BIN)/dagster dev -w workspace.yaml

sandbox: $(STAMP)
	$(BIN)/alocity-etl sandbox --preset small

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) warehouse
