# Two commands matter (README): `make run` and `make test`. Both create the venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck unit bench chat clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,postgres]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/intake serve

chat: $(STAMP)
	$(BIN)/intake chat

lint: $(STAMP)
	$(BIN)/ruff check core bot nlu policies integrations privacy testing tests benchmarks docs

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_channel.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
