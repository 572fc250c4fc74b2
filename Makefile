# The two commands a newcomer needs are `make run` and `make test`; each sets up .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint bench install clean

run: $(INSTALLED)
	$(BIN)/crisisline db upgrade
	$(BIN)/crisisline demo
	$(BIN)/crisisline run --host 127.0.0.1  # port: $$PORT, default 5000

# The suite runs in parallel (pytest-xdist), TEST_WORKERS processes, each on databases of its own
# (tests/conftest.py); `make test PYTEST_ARGS="-n 0"` runs it in one process. One worker a core
# by default; `make test TEST_WORKERS=4` is faster on 2 cores (the tests wait much of the time) but
# on a heavily loaded machine some e2e tests that start servers on a free port then failed.
TEST_WORKERS ?= auto
test: $(INSTALLED)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
