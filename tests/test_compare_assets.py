"""The comparison figures for the README (`internals figures`, sources "compare ..."): two models with
different depths on one relative-depth axis, drawn from saved results files; a pair with a file
missing is skipped with a note."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from internals.cli import main
from internals.plots import find_chrome
from internals.report import compare_assets as ca
from internals.report import compare_figures as cf
from internals.report.assets import SOURCES, regenerate

needs_chrome = pytest.mark.skipif(find_chrome() is None, reason="Chromium not installed: apt-get install -y chromium")

MODELS = {"SmolLM2-135M-Instruct": (6, None), "gemma3-270m": (4, "gemma3-270m")}  # name -> (blocks, file key)


def _file(folder: Path, stem: str, key: str | None) -> Path:
    return folder / (f"{stem}.json" if key is None else f"{stem}.{key}.json")


def _write(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))


def _depth(name: str, n: int) -> dict:
    model = {"name": name, "n_layers": n}
    rng = np.random.default_rng(n)
    variance = np.geomspace(1, 10 * n, n + 1)
    trace = {
        "model": model,
        "variance": variance.tolist(),
        "variance_rest": (variance / 2).tolist(),
        "prompt_variance": (variance * rng.uniform(0.5, 2, (5, 1))).tolist(),
    }
    twin = {**trace, "model": {**model, "name": f"{name} (random init)"}, "variance": np.ones(n + 1).tolist()}
    ablation = {"model": model, "blocks": list(range(n)), "n_texts": 2, "n_tokens": 20, "max_tokens": 8}
    ablation |= {"baseline": 3.0, "loss": (3 + rng.uniform(0, 1, n)).tolist()}
    return {
        "analysis": "depth.trace",
        "manifest": {"models": {name: model}},
        "results": {"traces": {name: trace, twin["model"]["name"]: twin}, "ablation": ablation},
    }


@pytest.fixture
def root(tmp_path):
    """A folder laid out like a clone: both models' depth, factcheckmate and voids results, their probes;
    the cutoff results of the first model only."""
    results = tmp_path / "benchmarks/results"
    for name, (n, key) in MODELS.items():
        model = {"name": name, "n_layers": n}
        _write(_file(results, "depth_trace", key), _depth(name, n))
        out = "probes" if key is None else f"probes/{key}"
        configs = {"qa_wikidata": {"out": out, "name": "qa_wikidata"}}
        _write(_file(results, "factcheckmate", key), {"manifest": {"model": model, "configs": configs}})
        scores = {"balanced_accuracy": np.linspace(0.5, 0.7, n).tolist()}
        sweep = {h: {"layers": list(range(n)), "test": scores, "validation": scores} for h in ("mlp_scaled", "mlp")}
        _write(tmp_path / out / "qa_wikidata/sweep.json", sweep)
        rates = {p: {"layer_rates": np.linspace(1, 0.2, n).tolist()} for p in ("pp", "rg")}
        trace = {"manifest": {"model": model}, "n_layers": n, "alphas": {"0.8": rates}}
        _write(_file(results, "voids", key), {"trace": trace})
        train = {
            "model": model,
            "config": {"main": "attn_z"},
            "f1_val_position": 0.7,
            "kinds": {k: {"head_f1": np.full((n, 3), 0.75).tolist()} for k in ("attn_z", "attn_z+logistic")},
        }
        _write(tmp_path / out / "cutoff/train.json", train)
    _write(results / "context_cutoff.json", {"manifest": {"probe": "probes/cutoff"}})
    return tmp_path


def _pair(root: Path, stem: str) -> list[Path]:
    return [_file(root / "benchmarks/results", stem, key) for _, key in MODELS.values()]


def _depths(fig, axis: str = "x") -> dict[str, np.ndarray]:
    """Legend group (model) -> every relative-depth coordinate its traces put on `axis`."""
    out: dict[str, list] = {}
    for t in fig.data:
        group = t.legendgroup or t.name
        out.setdefault(group, []).extend(np.asarray(getattr(t, axis), dtype=float).tolist())
    return {k: np.unique(np.round(v, 9)) for k, v in out.items()}


def test_comparison_sources_are_registered():
    compare = {s.name: s.results for s in SOURCES if s.name.startswith("compare")}
    assert compare["compare depth"] == ("depth_trace.json", "depth_trace.gemma3-270m.json")
    assert compare["compare cutoff"] == ("context_cutoff.json", "context_cutoff.gemma3-270m.json")
    assert {"compare factcheckmate", "compare voids"} <= set(compare)


def test_figures_put_both_models_on_relative_depth(root):
    smol, gemma = ca.label("SmolLM2-135M-Instruct"), ca.label("gemma3-270m")
    figs = ca.depth_figures(_pair(root, "depth_trace"))
    assert set(figs) == {"compare_depth_variance", "compare_depth_growth", "compare_depth_ablation"}
    for fig in figs.values():
        assert fig.layout.xaxis.title.text == cf.DEPTH_AXIS
    x = _depths(figs["compare_depth_variance"])
    assert np.allclose(x[smol], np.arange(7) / 6) and np.allclose(x[gemma], np.arange(5) / 4)
    drawn = next(t for t in figs["compare_depth_variance"].data if t.name == f"{smol}, all tokens")
    assert np.allclose(drawn.y, np.geomspace(1, 60, 7))  # the loaded model's trace, not its random-init twin
    rest = next(t for t in figs["compare_depth_variance"].data if t.name == f"{smol}, without first token")
    assert rest.line.dash == "dot" and np.allclose(rest.y, np.geomspace(1, 60, 7) / 2)
    growth = next(t for t in figs["compare_depth_growth"].data if t.name == f"{gemma}, without first token")
    assert growth.y[1] == pytest.approx(1.0)
    assert np.allclose(_depths(figs["compare_depth_ablation"])[gemma], (np.arange(4) + 0.5) / 4)

    sweep = ca.factcheckmate_figures(_pair(root, "factcheckmate"), root)["compare_factcheckmate_sweep"]
    assert sweep.layout.xaxis.title.text == cf.DEPTH_AXIS
    assert np.allclose(_depths(sweep)[smol], (np.arange(6) + 1) / 6)  # resid_post.l: after block l
    assert len(sweep.data) == 4  # two heads per model

    voids = ca.voids_figures(_pair(root, "voids"))["compare_voids_blocks"]
    assert np.allclose(_depths(voids)[gemma], (np.arange(4) + 0.5) / 4)
    assert np.allclose(next(t for t in voids.data if t.name == f"{smol}, prompt").y, 1 - np.linspace(1, 0.2, 6))

    _write(
        root / "benchmarks/results/context_cutoff.gemma3-270m.json",
        {"manifest": {"probe": "probes/gemma3-270m/cutoff"}},
    )
    maps = ca.cutoff_figures(_pair(root, "context_cutoff"), root)["compare_cutoff_f1"]
    assert [np.asarray(t.y).size for t in maps.data] == [6, 4]
    assert np.allclose(maps.data[1].y, (np.arange(4) + 0.5) / 4) and np.allclose(maps.data[0].z, 0.05)
    assert maps.layout.yaxis.title.text == cf.DEPTH_AXIS


def test_probe_folder_missing_is_skipped(root):
    (root / "probes/gemma3-270m/qa_wikidata/sweep.json").unlink()
    [outcome] = regenerate(root / "benchmarks/results", root / "assets", only=["compare factcheckmate"], root=root)
    assert not outcome.written and "probes/gemma3-270m/qa_wikidata/sweep.json" in outcome.skipped
    assert not (root / "assets").exists()


@needs_chrome
def test_cli_writes_png_and_pdf_and_skips_a_missing_pair(root, capsys):
    results, assets = root / "benchmarks/results", root / "assets"
    args = ["--results", str(results), "--out", str(assets), "--root", str(root), "--only", "compare"]
    assert main(["figures", *args]) == 0
    captured = capsys.readouterr()
    assert f"skipped compare cutoff: context_cutoff.gemma3-270m.json not found in {results}" in captured.err
    stems = {
        "compare_depth_variance",
        "compare_depth_growth",
        "compare_depth_ablation",
        "compare_factcheckmate_sweep",
        "compare_voids_blocks",
    }
    assert {p.name for p in assets.iterdir()} == {f"{s}.{f}" for s in stems for f in ("png", "pdf")}
    for stem in stems:
        png = (assets / f"{stem}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24])[0] > 2000  # two columns
        assert (assets / f"{stem}.pdf").read_bytes().startswith(b"%PDF-")
        assert f"wrote {assets / stem}.png" in captured.out
