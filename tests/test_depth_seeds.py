"""benchmarks/depth_seeds.py: the declared seed-replicate test computes the paired t-test it declares,
turns a failed test into "does not hold", and the committed summary is recomputed from the committed
per-seed files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import depth_seeds  # noqa: E402

CONFIG = {
    "n_layers": 4,
    "d_model": 32,
    "n_heads": 2,
    "seq_len": 16,
    "batch_size": 2,
    "steps": 3,
    "lr": 1e-3,
    "threads": 1,
    "preset": "test",
}


def _seed_file(folder: Path, seed: int, ppl: dict, growth: dict) -> None:
    from internals.analyses.depth.results import save_results

    runs = {
        norm: {"val_ppl": [9e4, ppl[norm]], "variance": [0.5, 1.0, 1.5, growth[norm]], "seconds": 10.0}
        for norm in ("pre-ln", "lns")
    }
    manifest = {"config": CONFIG, "data": {"corpus": {"sources": ["passages"]}}, "seed": seed}
    save_results(depth_seeds.seed_path(folder, seed), "depth.pretrain", manifest, {"runs": runs})


def test_summary_is_the_declared_paired_t_test(tmp_path):
    from scipy.stats import ttest_rel

    pre, lns = [1200.0, 1250.0, 1190.0, 1300.0], [1100.0, 1150.0, 1120.0, 1180.0]
    g_pre, g_lns = [5.0, 5.5, 4.8, 5.2], [5.1, 5.4, 4.9, 5.3]  # no consistent direction
    for i, s in enumerate(depth_seeds.SEEDS):
        _seed_file(tmp_path, s, {"pre-ln": pre[i], "lns": lns[i]}, {"pre-ln": g_pre[i], "lns": g_lns[i]})
    out = depth_seeds.summarise(depth_seeds.SEEDS, tmp_path, None)
    ppl = out["tests"]["perplexity"]
    assert ppl["p_value"] == pytest.approx(ttest_rel(np.log(lns), np.log(pre)).pvalue)
    assert ppl["n"] == 4 and ppl["lower"] == 4 and ppl["hi"] < 1 and ppl["verdict"] == "holds"
    growth = out["tests"]["growth"]
    assert growth["verdict"] == "does not hold" and growth["lo"] < 1 < growth["hi"]
    assert out["per_seed"]["1"]["growth_preln"] == pytest.approx(5.0 / 1.0)  # last over first block (index 1)
    assert out["declared"]["seeds"] == list(depth_seeds.SEEDS) and out["config"]["n_layers"] == 4
    assert "exploratory_seed0" not in out


def test_committed_summary_is_recomputed_from_the_seed_files():
    path = depth_seeds.RESULTS / "depth_pretrain_seeds.json"
    if not path.exists():
        pytest.skip("the declared seed replicates have not been committed")
    committed = json.loads(path.read_text())
    again = depth_seeds.summarise(
        depth_seeds.SEEDS, depth_seeds.RESULTS / "depth_pretrain_seeds", depth_seeds.RESULTS / "depth_pretrain.json"
    )
    assert committed["declared"] == again["declared"] and committed["declared"]["preset"] == depth_seeds.PRESET
    assert committed["config"] == again["config"]
    for seed, measures in again["per_seed"].items():
        assert committed["per_seed"][seed] == pytest.approx(measures)
    assert committed["exploratory_seed0"] == pytest.approx(again["exploratory_seed0"])
    for claim, t in again["tests"].items():
        assert committed["tests"][claim]["verdict"] == t["verdict"]
        for key in ("ratio", "lo", "hi", "p_value", "n", "lower"):
            assert committed["tests"][claim][key] == pytest.approx(t[key])
