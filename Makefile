# Two commands matter (README): `make run` and `make test`. Both create the venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck unit bench bench-all chat clean

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

# Every figure of the README's "Performance" section, three runs each (median and spread,
# load average, commit): about 25 minutes. Needs Redis (db 13) and PostgreSQL on loopback.
BENCH_DIR ?= .bench
bench-all: $(STAMP)
	mkdir -p $(BENCH_DIR)
	$(BIN)/python benchmarks/load_conversations.py --system embedded,scaled --processes 1,2 \
		--mix mixed --rate 100 --residents 2000 --model-dir $(BENCH_DIR)/models \
		--json $(BENCH_DIR)/mixed-rate100.json
	$(BIN)/python benchmarks/load_conversations.py --system embedded --mix faq \
		--residents 5000 --concurrency 32 --model-dir $(BENCH_DIR)/models \
		--json $(BENCH_DIR)/faq-max.json
	# what the CPU of a message at 100 msg/s is made of: the same FAQ path paced, the mixed
	# path as fast as replies come, the same parse with and without sleep before it
	$(BIN)/python benchmarks/load_conversations.py --system embedded --mix faq --rate 100 \
		--residents 2000 --model-dir $(BENCH_DIR)/models --json $(BENCH_DIR)/faq-rate100.json
	$(BIN)/python benchmarks/load_conversations.py --system embedded --mix mixed \
		--residents 2000 --concurrency 32 --model-dir $(BENCH_DIR)/models \
		--json $(BENCH_DIR)/mixed-max.json
	$(BIN)/python benchmarks/bench_idle_gap.py --model-dir $(BENCH_DIR)/models
	$(BIN)/python benchmarks/bench_channel.py --json $(BENCH_DIR)/channel.json
	$(BIN)/python benchmarks/bench_tickets.py
	$(BIN)/python benchmarks/bench_nlu.py
	$(BIN)/python benchmarks/bench_sqlite_driver.py
	$(BIN)/python benchmarks/bench_redis_turn.py
	$(BIN)/python benchmarks/bench_http_calls.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .bench
