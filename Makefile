# kamflow: `make run` starts everything locally, `make test` proves it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-faults install bench lint format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/kamflow run

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# 1,000 accounts through real parts while workers are killed and Redis, the database, SMTP and
# the webhook receiver fail (tests/fault_run.py); prints the figures of each configuration.
test-faults: $(STAMP)
	$(BIN)/python -m pytest tests/test_fault_suite.py --faults=full -s $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# What CI holds the code to: ruff's lint rules and format (pyproject.toml), mypy on shared/.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var test-artifacts
