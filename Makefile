# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: demo test lint format bench clean-demo

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Reinstall only when the pins change.
$(RUNTIME_STAMP): requirements.txt requirements.lock | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt -c requirements.lock
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt requirements.lock | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt -c requirements.lock
	touch $(RUNTIME_STAMP) $@

## Start the console on a demo account: local sandbox, synced warehouse, one user per role.
demo: $(RUNTIME_STAMP)
	$(PY) -m sandbox.demo

## Run the test suite (CI=true makes browser tests fail instead of skipping without Chromium).
test: $(DEV_STAMP)
	$(PY) -m pytest

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: $(DEV_STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## Benchmarks (minutes; see README, Performance).
bench: $(DEV_STAMP)
	$(PY) -m bench

clean-demo:
	rm -rf data/demo
