"""Lint and types as tests, so that `make test` catches what `make lint` does (`.ci/run` runs both).

ruff and mypy come with the dev extras (`make setup`); their settings are in pyproject.toml.
mypy keeps a cache in .mypy_cache: after `make lint` (or a first run) it takes seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINTED = ("src", "tests", "benchmarks")


def _run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _passes(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"{' '.join(result.args[2:])} failed:\n{result.stdout}{result.stderr}"


def test_ruff_check_passes():
    _passes(_run("ruff", "check", *LINTED))


def test_ruff_format_check_passes():
    _passes(_run("ruff", "format", "--check", *LINTED))


@pytest.mark.slow
def test_mypy_passes():
    result = _run("mypy")
    _passes(result)
    assert "Success: no issues found" in result.stdout


def _ci_with_fake_make(tmp_path: Path, lint_ok: bool) -> tuple[int, list[str]]:
    """Run .ci/run with a `make` on PATH that records its target; `make lint` fails unless lint_ok."""
    log = tmp_path / "calls"
    fake = tmp_path / "bin" / "make"
    fake.parent.mkdir(parents=True)
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$1" >> "{log}"\n'
        f'if [ "$1" = lint ]; then exit {0 if lint_ok else 1}; fi\n'
        'echo "3 passed in 0.01s"\n'
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(ROOT / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, log.read_text().split() if log.exists() else []


def test_ci_runs_lint_first_and_fails_when_it_fails(tmp_path):
    code, calls = _ci_with_fake_make(tmp_path / "bad", lint_ok=False)
    assert code != 0 and calls == ["lint"]  # the tests do not run after a lint failure
    code, calls = _ci_with_fake_make(tmp_path / "good", lint_ok=True)
    assert code == 0 and calls == ["lint", "test"]
