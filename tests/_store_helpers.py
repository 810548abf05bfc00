"""Helpers for the store / CLI tests: the committed data slices, and running the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import torch

DATA = Path(__file__).parent / "data"
SLICES = {
    "INTERNALS_BIGBENCH_DIR": str(DATA / "bigbench"),
    "INTERNALS_FANOUTQA_FILE": str(DATA / "fanoutqa" / "fanout-final-dev.json"),
}
CLI = "import sys; from internals.cli import main; sys.exit(main())"


def cli_env() -> dict:
    return {**os.environ, **SLICES, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-c", CLI, *args]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*args), env=cli_env(), capture_output=True, text=True, timeout=timeout)


@contextmanager
def one_thread():
    """Run torch on one thread, as the CLI subprocesses do (OMP_NUM_THREADS=1): a CPU matmul's
    float rounding depends on the thread count, and these tests compare arrays bit for bit."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
