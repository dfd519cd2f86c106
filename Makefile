# Two commands on a fresh machine (Python 3.11+, Node 20+): `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: run test test-unit soak lint typecheck bench clean deps connector infra-check solution

CHROMIUM ?= /usr/bin/chromium

deps: $(VENV)/.installed node_modules/.installed $(CHROMIUM)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=python3.x)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## Headless Chromium for the browser tests (tests/browser), from Debian: Playwright never downloads one.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi
	@test -x $(CHROMIUM) || { echo "chromium did not install at $(CHROMIUM) (set CHROMIUM=...)"; exit 1; }

## Serve the whole service locally: Azurite + Graph simulator + local Functions host, demo tenant seeded.
run: deps
	$(PY) -m devstack.stack

## Every test: unit, property, integration (Azurite + simulators started by the tests), lint and types;
## first the static checks of infra/ (checkov).
test: deps infra-check
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
	$(PY) bench/slots_scale.py
	$(PY) bench/bookings.py
	$(PY) bench/routing.py

## Regenerate the Power Automate connector (connector/*.json) from the registered routes and models.
connector: deps
	$(PY) -m connector.generate

## The Dynamics side as one importable unmanaged solution zip (dynamics/README.md): web resources, the
## "Schedule meeting" command on lead/contact/account/opportunity/case forms, the booking-page environment
## variable. EVENT_TYPE: the slug the command books; BOOKING_PAGE_BASE_URL: the variable's default value.
EVENT_TYPE ?= discovery-call
BOOKING_PAGE_BASE_URL ?=
solution: deps
	$(PY) -m dynamics.solution --event-type "$(EVENT_TYPE)" $(if $(BOOKING_PAGE_BASE_URL),--base-url "$(BOOKING_PAGE_BASE_URL)")

## checkov on infra/ (Bicep), in its own venv: its dependency pins would clash with ours. Fails on any
## finding not in the justified skip list of infra/.checkov.yaml, and on any Bicep file it cannot parse.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: infra/requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r infra/requirements-checkov.txt
	@touch $@

infra-check: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/python infra/checkov_gate.py

## Forget local state (Azurite data, simulator state).
clean:
	rm -rf .devstack
