# The two commands a newcomer needs:
#   make demo   set up everything, then run the customization chain on the bundled demo
#   make test   set up everything, then run the test suite
PYTHON ?= python3

.PHONY: setup setup-test demo test bench

setup:
	PYTHON=$(PYTHON) bash scripts/setup.sh

setup-test:
	PYTHON=$(PYTHON) bash scripts/setup.sh --test

demo: setup
	$(PYTHON) -m jupyter_speechcustom.cli demo

test: setup-test
	$(PYTHON) -m pytest -q tests notebooks --nbval-lax --sanitize-with notebooks/nbval_sanitize.cfg

bench: setup
	$(PYTHON) bench/bench_lm.py
	$(PYTHON) bench/bench_am.py
