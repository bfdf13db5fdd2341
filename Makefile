# make demo: set everything up, survey the built-in lab network, write the HTML report.
# make test: set everything up, run lint, types and the whole test suite.

VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
REPORT ?= demo-report

.PHONY: setup demo test lint bench clean

setup: $(VENV)/.installed
	@./scripts/install-debian-packages
	@# Bytecode of the editable install, written now: where PYTHONDONTWRITEBYTECODE is set,
	@# every start would otherwise compile the tool again (a quarter of a 10-domain run).
	@# Only what changed since is compiled; an edited file's stale .pyc is never used.
	$(PY) -m compileall -q amt_preflight checks reports

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=70.1"
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

demo: setup
	$(PY) -m lab demo --config config.yaml --out $(REPORT)

# mypy runs on a hard-linked mirror of the installed package tree (scripts/typecheck):
# it cannot follow the editable install to checks/ and reports/.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check . scripts/typecheck
	$(PY) scripts/typecheck
	$(VENV)/bin/mypy scripts/typecheck

test: setup lint
	$(PY) -m pytest

bench: setup
	$(PY) bench/dns_survey.py
	$(PY) bench/site_survey.py
	$(PY) bench/devices.py

clean:
	rm -rf $(VENV) $(REPORT) .pytest_cache .mypy_cache .ruff_cache *.egg-info build
