"""Every notebook in notebooks/ executes top to bottom (nbclient, the venv's kernel) with
INTERNALS_NOTEBOOK_QUICK=1, real dataset slices and a fresh cache; a cell that errors fails the
test. The committed notebooks are also checked to be what make_notebooks.py writes, outputs empty."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
sys.path.insert(0, str(NOTEBOOKS))
import make_notebooks  # noqa: E402

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def kernel_env(tokenizer_dir, tmp_path_factory):
    """Environment of the notebook kernels: quick settings, test data slices, one thread, and a fresh
    cache that shares only the converted embedded model."""
    from internals.paths import cache_dir

    cache = tmp_path_factory.mktemp("nb-cache")
    (cache / "models").symlink_to(cache_dir("models"), target_is_directory=True)
    return {
        **os.environ,
        "INTERNALS_NOTEBOOK_QUICK": "1",
        "INTERNALS_CACHE": str(cache),
        "INTERNALS_BIGBENCH_DIR": str(DATA / "bigbench"),
        "INTERNALS_FANOUTQA_FILE": str(DATA / "fanoutqa" / "fanout-final-dev.json"),
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TQDM_DISABLE": "1",
        "PYTHONWARNINGS": "ignore",
    }


def test_committed_notebooks_are_generated_and_stripped():
    for name, cells in make_notebooks.NOTEBOOKS.items():
        path = NOTEBOOKS / name
        assert path.is_file(), f"{name} missing: run python notebooks/make_notebooks.py"
        nb = nbformat.read(path, as_version=4)
        assert nb == make_notebooks.build(cells), f"{name} differs from make_notebooks.py: regenerate it"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{name} has outputs: strip them"
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(make_notebooks.NOTEBOOKS)


@pytest.mark.parametrize("name", list(make_notebooks.NOTEBOOKS))
def test_notebook_executes(name, kernel_env, tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=kernel_env)  # raises CellExecutionError, naming the cell, when one fails
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    figures = [o for c in code for o in c.outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert figures, f"{name} drew no figure"
