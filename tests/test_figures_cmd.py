"""`internals figures`: the pages' figures redrawn from saved results files, as valid PNG and PDF; the
command and the installed package work outside a clone (every location is an argument)."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from internals.cli import main
from internals.plots import PNG_SCALE, find_chrome
from internals.report.assets import SOURCES, readme_assets, regenerate

pytestmark = pytest.mark.usefixtures("data_env")  # the committed slices, a fresh cache

needs_chrome = pytest.mark.skipif(find_chrome() is None, reason="Chromium not installed: apt-get install -y chromium")


@pytest.fixture
def root(tiny_llama, tmp_path):
    """A folder laid out like a clone (benchmarks/results, README.md) with a real depth trace results file
    (tiny model, test corpus slices); it is not the repository."""
    from internals.analyses.depth import ablate, trace_depth
    from internals.analyses.depth.results import manifest, save_results

    texts = [
        "The river runs past the old mill and into the town.",
        "She counted the stars until the sun rose.",
        "A short text about nothing in particular at all.",
    ]
    trace = trace_depth(tiny_llama, texts, max_tokens=16)
    ablation = ablate(tiny_llama, texts[:2], max_tokens=16)
    save_results(
        tmp_path / "benchmarks/results/depth_trace.json",
        "depth.trace",
        manifest(models={tiny_llama.name: tiny_llama.describe()}, data={"name": "test"}, config={}, seed=0),
        {"traces": {"tiny": trace.to_dict()}, "ablation": ablation.to_dict()},
    )
    (tmp_path / "README.md").write_text(
        "![v](assets/depth_variance.png) ![gone](assets/never_made.png) [pdf](assets/depth_ablation.pdf)\n"
    )
    return tmp_path


def test_readme_assets_lists_linked_stems(root):
    assert readme_assets(root / "README.md") == ["depth_variance", "never_made", "depth_ablation"]
    assert readme_assets(root / "absent.md") == []


@needs_chrome
def test_cli_redraws_png_and_pdf_skips_missing_results(root, capsys):
    results = root / "benchmarks/results"
    args = ["--results", str(results), "--out", str(root / "assets"), "--readme", str(root / "README.md")]
    assert main(["figures", *args]) == 0
    captured = capsys.readouterr()
    assert f"skipped depth pretrain: depth_pretrain.json not found in {results}" in captured.err
    assert "note: README.md uses assets/never_made but no saved results made it" in captured.err
    assert "depth_variance" not in captured.err and "depth_ablation" not in captured.err
    stems = {"depth_variance", "depth_angular_tiny", "depth_influence_tiny", "depth_ablation"}
    assert {p.stem for p in (root / "assets").iterdir()} == stems
    for stem in stems:
        png = (root / "assets" / f"{stem}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png[16:24])
        assert width == round(336 * PNG_SCALE) and height > 300  # one column at 300 dpi
        pdf = (root / "assets" / f"{stem}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-64:]
        assert f"wrote {root / 'assets' / stem}.png" in captured.out


def test_only_and_unknown_source(root, capsys):
    outcomes = regenerate(root / "benchmarks/results", root / "assets", only=["depth pretrain"])
    assert len(outcomes) == 1 and outcomes[0].skipped and not outcomes[0].written
    assert main(["figures", "--results", str(root / "benchmarks/results"), "--only", "nope"]) == 2
    assert "no figure source matches nope" in capsys.readouterr().err
    assert {"factcheckmate", "cutoff", "depth trace", "depth pretrain", "voids eval", "voids trace"} <= {
        s.name for s in SOURCES
    }


def test_repository_results_redraw_every_readme_figure(tmp_path):
    """On a fresh clone, the committed results files alone redraw every figure README links to."""
    repo = Path(__file__).resolve().parent.parent
    outcomes = regenerate(repo / "benchmarks/results", tmp_path, formats=("html",), root=repo)
    # a comparison waits for the other model's results; a README link to it is still checked below
    assert not [o.source.name for o in outcomes if o.skipped and not o.source.name.startswith("compare ")]
    made = {p.stem for p in tmp_path.iterdir()}
    wanted = set(readme_assets(repo / "README.md"))
    assert wanted and wanted <= made, sorted(wanted - made)
    for stem in wanted:
        assert (tmp_path / f"{stem}.html").stat().st_size > 1000


def test_outside_a_clone_the_missing_results_folder_is_one_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no benchmarks/results, no README.md here
    assert main(["figures"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("internals: error: no results folder benchmarks/results: pass the folder")


def test_an_installed_copy_draws_from_a_results_folder_outside_any_clone(root, tmp_path):
    """A copy of the package alone (as pip installs it: no benchmarks/, README.md or .git around it), run
    from a folder that is not a clone, redraws the depth figures from a results folder given by path."""
    site = tmp_path / "site-packages"
    shutil.copytree(
        Path(__import__("internals").__file__).parent, site / "internals", ignore=shutil.ignore_patterns("__pycache__")
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(root / "benchmarks/results/depth_trace.json", work / "depth_trace.json")
    code = (
        "import sys, internals; from internals.cli import main; "
        "assert internals.__file__.startswith(sys.argv[1]), internals.__file__; "
        "raise SystemExit(main(['figures', '--results', '.', '--out', 'figs', '--formats', 'html', '--only', 'depth']))"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", code, str(site)], cwd=work, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "skipped depth pretrain: depth_pretrain.json not found in ." in run.stderr
    made = {p.name for p in (work / "figs").iterdir()}
    assert {"depth_variance.html", "depth_ablation.html"} <= made
