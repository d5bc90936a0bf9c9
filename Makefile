# make demo · make test · make lint · make bench — each creates .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONNECTORS := $(sort $(dir $(wildcard connectors/*/pyproject.toml)))
STAMP := $(VENV)/.installed
# The suite runs in one worker per core (at most 4), a test module per worker at a
# time, so that a module's shared fixtures (a synced world) are built once.
# `make test PYTEST_PARALLEL=` runs it in one process.
PYTEST_PARALLEL ?= --numprocesses=logical --maxprocesses=4 --dist=loadscope

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml $(wildcard connectors/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' $(foreach c,$(CONNECTORS),-e ./$(c))
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pmsync demo --out var/demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src connectors tests $(wildcard bench)
	$(BIN)/ruff format --check src connectors tests $(wildcard bench)
	$(BIN)/mypy src $(foreach c,$(CONNECTORS),$(c)src)

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
