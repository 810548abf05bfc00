"""Every results table and headline in README.md and docs/*.md is the one the committed result files
render: `benchmarks/make_tables.py` re-renders each `<!-- results: NAME -->` region, and a page
that differs fails here, named with its region (fix: `python benchmarks/make_tables.py --write`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from internals.stats import wilson_interval

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import make_tables  # noqa: E402
import page_tables  # noqa: E402

PAGES = make_tables.pages(ROOT)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_page_regions_match_the_results(page):
    _, changed = make_tables.rerender(page.read_text(), str(page.relative_to(ROOT)))
    assert changed == [], (
        f"{page.relative_to(ROOT)}: results region(s) {', '.join(changed)} differ from the result files: "
        "python benchmarks/make_tables.py --write"
    )


def test_every_region_is_on_a_page_and_the_readme_has_a_headline_per_analysis():
    used = {m.group(2) for p in PAGES for m in make_tables.REGION.finditer(p.read_text())}
    assert set(page_tables.REGIONS) - used == set(), "a renderer no page uses"
    readme = {m.group(2) for m in make_tables.REGION.finditer((ROOT / "README.md").read_text())}
    for analysis in ("capture", "factcheckmate", "cutoff", "voids", "depth", "patching", "edits"):
        assert f"headline_{analysis}" in readme


def test_drift_names_the_page_and_region_and_write_repairs_it(tmp_path):
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "x.md"
    page.write_text("intro\n<!-- results: voids_share -->\n| made up | 1 |\n<!-- /results -->\nend\n")
    assert make_tables.drift(tmp_path) == ["docs/x.md: voids_share"]
    assert make_tables.drift(tmp_path, write=True) == ["docs/x.md: voids_share"]
    assert make_tables.drift(tmp_path) == []
    text = page.read_text()
    assert text.startswith("intro\n") and text.endswith("<!-- /results -->\nend\n") and "| PP (" in text


def test_unknown_region_is_named():
    with pytest.raises(KeyError, match="docs/y.md: unknown results region 'nope'"):
        make_tables.rerender("<!-- results: nope -->\n<!-- /results -->\n", "docs/y.md")


def test_check_exits_nonzero_on_drift(tmp_path, monkeypatch, capsys):
    (tmp_path / "README.md").write_text("<!-- results: voids_share -->\nstale\n<!-- /results -->\n")
    monkeypatch.setattr(make_tables, "ROOT", tmp_path)
    assert make_tables.main(["--check"]) == 1
    assert "README.md: voids_share" in capsys.readouterr().err
    assert make_tables.main(["--write"]) == 0
    assert make_tables.main(["--check"]) == 0


def test_intervals_computed_from_the_files():
    lo, hi = wilson_interval(29, 366)  # FactCheckmate's flagged test questions after steering
    assert lo < 29 / 366 < hi and round(lo, 3) == 0.056 and round(hi, 3) == 0.111
    lo, hi = wilson_interval(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-12) and 0 < hi < 0.35
    # balanced accuracy 0.75 from recalls 0.9 (90/100 positives) and 0.6 (30/50 negatives)
    m = {"balanced_accuracy": 0.75, "accuracy": 120 / 150, "n": 150, "n_hallucinated": 100}
    lo, hi, n1, n0 = page_tables.balanced_accuracy_interval(m)
    se = 0.5 * (0.9 * 0.1 / 100 + 0.6 * 0.4 / 50) ** 0.5
    assert (n1, n0) == (100, 50) and lo == pytest.approx(0.75 - 1.96 * se) and hi == pytest.approx(0.75 + 1.96 * se)
    with pytest.raises(ValueError, match="not a count"):
        page_tables.count(0.123456, 50)
