#!/usr/bin/env bash
# Build the docs site offline (`make docs`; tests/test_docs_site.py runs it with small sizes):
#   bash scripts/docs.sh [SITE_DIR]          (default: site/)
# mkdocs build --strict over mkdocs.yml. The six tutorials (docs/tutorials/*.py) are executed in a
# kernel of this Python; INTERNALS_TUTORIAL_SIZE=small shrinks them (the default; full: the sizes in
# each tutorial's first cell, `make docs DOCS_SIZE=full`). Progress bars
# are left off the site (their widgets would need a renderer from a CDN), and plotly figures go
# through plotly's "notebook" renderer, which embeds plotly.js in the page.
set -euo pipefail
cd "$(dirname "$0")/.."
site=${1:-site}
export INTERNALS_TUTORIAL_SIZE=${INTERNALS_TUTORIAL_SIZE:-small}
export PLOTLY_RENDERER=plotly_mimetype+notebook
export TQDM_DISABLE=1
export NO_MKDOCS_2_WARNING=1
exec "${PYTHON:-.venv/bin/python}" -m mkdocs build --strict --site-dir "$site"
