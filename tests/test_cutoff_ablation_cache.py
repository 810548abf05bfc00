"""benchmarks/context_cutoff.py's scaling ablation is saved beside the probes it was computed on
and read back by any run with the same training settings (a confirmation on other test examples),
not by a run whose training differs."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import context_cutoff  # noqa: E402
from internals.analyses.cutoff.config import CutoffConfig  # noqa: E402


def test_ablation_is_reused_across_evaluations_of_the_same_training(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(context_cutoff, "scaling_ablation", lambda lm, cfg: calls.append(cfg) or {"n": len(calls)})
    lm = SimpleNamespace(fingerprint="abc")
    cfg = CutoffConfig(out=str(tmp_path / "probes"))
    assert context_cutoff.ablation(lm, cfg) == {"n": 1}
    assert (tmp_path / "probes" / "scaling_ablation.json").exists()
    fresh_test = replace(cfg, n_test=cfg.n_test + 200, test_offset=cfg.n_test)  # evaluates elsewhere only
    assert context_cutoff.ablation(lm, fresh_test) == {"n": 1} and len(calls) == 1
    assert context_cutoff.ablation(lm, replace(cfg, n_train=cfg.n_train + 1)) == {"n": 2}  # other training
    assert context_cutoff.ablation(SimpleNamespace(fingerprint="xyz"), cfg) == {"n": 3}  # another model
