# The two commands a newcomer needs:
#   make demo   set up everything, then run the customization chain on the bundled demo
#   make test   set up everything, lint (ruff, mypy, import contracts), check the declared
#               dependencies (deptry, a fresh venv), then run the test suite
PYTHON ?= python3

.PHONY: setup setup-test demo test lint check-deps check-install bench

setup:
	PYTHON=$(PYTHON) bash scripts/setup.sh

setup-test:
	PYTHON=$(PYTHON) bash scripts/setup.sh --test

demo: setup
	$(PYTHON) -m jupyter_speechcustom.cli demo

test: setup-test lint check-install
	$(PYTHON) -m pytest -q tests notebooks --nbval-lax --sanitize-with notebooks/nbval_sanitize.cfg

# Code checks: ruff, mypy, and the import-linter contracts that keep the layers apart.
lint: setup-test
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy
	lint-imports

# Install truth: every third-party import is a declared dependency (deptry, static), and the
# package sets up and runs from a brand-new venv with only what pyproject.toml declares.
check-deps: setup-test
	$(PYTHON) -m deptry .

check-install: check-deps
	PYTHON=$(PYTHON) bash scripts/fresh_env_check.sh

bench: setup
	$(PYTHON) bench/bench_lm.py
	$(PYTHON) bench/bench_am.py
	$(PYTHON) bench/bench_confidence.py
	$(PYTHON) bench/bench_speech_detection.py
	$(PYTHON) bench/bench_streaming.py
	$(PYTHON) bench/bench_compare.py
	$(PYTHON) bench/bench_service_limits.py
