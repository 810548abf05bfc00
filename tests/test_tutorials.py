"""The tutorial sources (docs/tutorials/*.py, jupytext percent format) are sound without running
them: every cell parses, the sizes sit in a visible parameters cell and the switch that shrinks
them (INTERNALS_TUTORIAL_SIZE) only in the hidden cell after it, every `internals` name they import
exists, and the site's nav lists each. tests/test_docs_site.py executes them (the docs build)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "docs" / "tutorials").glob("*.py"))


def _cells(path: Path):
    nb = jupytext.read(path)
    return [c for c in nb.cells if c.cell_type == "code"], nb


def test_six_tutorials_in_the_site_nav():
    assert [p.stem for p in SOURCES] == [
        "01_capture",
        "02_factcheckmate",
        "03_cutoff",
        "04_voids",
        "05_depth",
        "06_patching",
    ]
    nav = (ROOT / "mkdocs.yml").read_text()
    assert all(f"tutorials/{p.name}" in nav for p in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_tutorial_source(path):
    code, nb = _cells(path)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), "starts with its title"
    for i, cell in enumerate(code):
        ast.parse(cell.source, filename=f"{path.name} code cell {i}")  # SyntaxError names the cell
    params, hidden, *rest = code
    assert params.metadata.get("tags") == ["parameters"], "first code cell: the sizes, tagged parameters"
    assert hidden.metadata.get("tags") == ["remove_input"] and "INTERNALS_TUTORIAL_SIZE" in hidden.source
    sizes = {t.id for node in ast.parse(params.source).body for t in getattr(node, "targets", [])}
    assert sizes and sizes <= {t.id for t in ast.walk(ast.parse(hidden.source)) if isinstance(t, ast.Name)}
    for cell in rest:
        assert "INTERNALS_" not in cell.source and "QUICK" not in cell.source, "no test switch in a visible cell"
        assert "remove_input" not in cell.metadata.get("tags", [])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_tutorial_imports_exist(path):
    code, _ = _cells(path)
    missing = []
    for cell in code:
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("internals"):
                module = importlib.import_module(node.module)
                missing += [f"{node.module}.{a.name}" for a in node.names if not hasattr(module, a.name)]
    assert missing == []
