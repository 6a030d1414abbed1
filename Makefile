# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml package.json | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# axe-core for the browser tests' accessibility checks (skipped where npm is missing).
	if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --silent; fi
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/commonground demo

# The tests wait on servers, browsers and subprocesses more than they compute: four
# workers halve the suite's time even on two cores (TEST_WORKERS=0 runs them in one process);
# work stealing keeps a worker from idling behind a long browser test.
TEST_WORKERS ?= 4

# The tests start servers and commands in new processes: where the environment forbids writing
# bytecode (PYTHONDONTWRITEBYTECODE), each would compile app/ again, 0.3 s of CPU a start.
test: $(STAMP) lint
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python benchmarks/matching.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
