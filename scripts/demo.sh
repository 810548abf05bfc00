#!/usr/bin/env bash
# `make demo` (after `make setup`): the one-page report for the embedded SmolLM2-135M-Instruct with
# quick settings, and a capture of 200 real BIG-bench qa_wikidata questions into an activation store.
# The first run converts the embedded model and downloads the BIG-bench sdist once into the cache
# (~/.cache/internals, or $INTERNALS_CACHE); later runs reuse both.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN="${VENV:-.venv}/bin"
# One torch/BLAS thread by default: on a 2-core machine shared with anything else, two threads mostly
# wait on each other (several times slower); DEMO_THREADS=2 on an idle machine.
THREADS="${DEMO_THREADS:-1}"
if [ ! -x "$BIN/internals" ]; then
  echo "demo: $BIN/internals not found: run \`make setup\` first" >&2
  exit 2
fi

echo "== internals report (all analyses, quick settings) -> report/"
start=$(date +%s)
"$BIN/internals" report --out report --quick --threads "$THREADS"
report_rc=$?
echo "   report took $(( $(date +%s) - start )) s"

echo "== internals capture: 200 qa_wikidata questions, resid_post.* (mean over tokens) -> runs/"
store_out=$("$BIN/internals" capture --data qa_wikidata --limit 200 --sites "resid_post.*" --reduce mean --out runs)
capture_rc=$?
echo "$store_out" | tail -n +2

echo
if [ -f report/index.html ]; then
  echo "report:  $(pwd)/report/index.html   (open it in a browser; report/report.json has the numbers and manifest)"
fi
if [ $capture_rc -eq 0 ]; then
  echo "store:   $(echo "$store_out" | head -1)   (read it with internals.store.Store.open(path))"
fi
[ $report_rc -eq 0 ] && [ $capture_rc -eq 0 ]
