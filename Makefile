# Two commands on a fresh machine (Python 3.11+, Node 20+): `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: run test test-unit soak lint typecheck bench clean deps

deps: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=python3.x)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## Serve the whole service locally: Azurite + Graph simulator + local Functions host, demo tenant seeded.
run: deps
	$(PY) -m devstack.stack

## Every test: unit, property, integration (Azurite + simulators started by the tests), lint and types.
test: deps
	$(PY) -m pytest -q

## The proof suites at full length (docs/reliability.md): schemathesis, load (200 clients x 60 s),
## faults, restart. `make test` runs the same suites at fast lengths.
soak: deps
	$(PY) -m pytest -q -m soak tests/proof

test-unit: deps
	$(PY) -m pytest -q tests/unit

lint: deps
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

typecheck: deps
	$(VENV)/bin/mypy

bench: deps
	$(PY) bench/slots.py
	$(PY) bench/slots_endpoint.py
	$(PY) bench/bookings.py
	$(PY) bench/routing.py

## Forget local state (Azurite data, simulator state).
clean:
	rm -rf .devstack
