# The two commands of the README: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR := data/generated/demo
DEMO_DB := $(DEMO_DIR)/distillguard.duckdb

.PHONY: demo test lint typecheck unit clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	rm -rf $(DEMO_DIR)
	$(BIN)/distillguard simulate --out $(DEMO_DIR) --seed 7 --scale tiny
	$(BIN)/distillguard ingest --db $(DEMO_DB) $(DEMO_DIR)/requests.jsonl --accounts $(DEMO_DIR)/accounts.jsonl
	$(BIN)/distillguard scan --db $(DEMO_DB)
	$(BIN)/distillguard status --db $(DEMO_DB)

lint: $(BIN)/.installed
	$(BIN)/ruff check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy

unit: $(BIN)/.installed
	$(BIN)/pytest -n 2

test: lint typecheck unit

clean:
	rm -rf $(VENV) data/generated .mypy_cache .ruff_cache .pytest_cache
