"""benchmarks/: the capture-overhead variants compute what they claim, and make_tables renders results."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import make_tables  # noqa: E402
import overhead_variants as ov  # noqa: E402


@dataclass(frozen=True)
class _Regime:
    name: str = "decode"
    batch: int = 1
    tokens: int = 6
    reduce: str = "norm"
    steps: int = 4
    mid_stop: bool = False


def test_decode_variants_are_validated_against_hf_generate(tiny_llama):
    regime = _Regime()
    calls, bad = ov.build_calls(tiny_llama, regime, ov.make_inputs(tiny_llama, regime, seed=0))
    assert {"plain", "hooks", "nnsight"} <= set(calls)  # hooks and nnsight capture every step of HF generate
    assert set(calls) | set(bad) == set(ov.VARIANTS)
    ids, norms = calls["hooks"]()
    assert ids.shape == (1, regime.tokens + regime.steps)
    assert {tuple(v.shape) for v in norms.values()} == {(1, regime.tokens + regime.steps - 1)}
    for reason in bad.values():
        assert reason and "\n" not in reason


def test_forward_variants_capture_the_sites(tiny_llama):
    regime = _Regime(name="stop", batch=2, tokens=5, reduce="mean", steps=0, mid_stop=True)
    calls, bad = ov.build_calls(tiny_llama, regime, ov.make_inputs(tiny_llama, regime, seed=0))
    assert not bad and list(calls) == list(ov.VARIANTS)
    mid = f"resid_post.{tiny_llama.n_layers // 2}"
    out = {b: calls[b]() for b in ov.BACKENDS}
    assert all(list(acts) == [mid] and acts[mid].shape == (2, 64) for acts in out.values())
    assert torch.allclose(out["hooks"][mid], out["nnsight"][mid], atol=1e-5)


def test_make_tables_renders_capture_overhead_and_skips_others(tmp_path, capsys):
    doc = {
        "regimes": {
            "latency": {"hooks": 1.01, "transformer_lens": 1.2, "nnsight": 1.05},
            "decode": {"hooks": 1.02, "transformer_lens": None, "nnsight": 1.07},
        },
        "hooks_worst": 1.02,
        "mid_layer_stop": 0.42,
        "long_peak_memory_hooks": None,
        "device": "cpu",
        "clock": "cpu",
        "peak_memory_ratio": {"latency": {"hooks": 1.0, "transformer_lens": 1.6, "nnsight": 1.0}},
        "notes": {"decode.transformer_lens": "other tokens"},
        "manifest": {"model": {"name": "m"}, "threads": 1},
    }
    good = tmp_path / "capture_overhead_cpu.json"
    good.write_text(json.dumps(doc))
    other = tmp_path / "depth.json"
    other.write_text("{}")
    broken = tmp_path / "capture_overhead_cuda.json"
    broken.write_text("not json")
    assert make_tables.main([str(good), str(other), str(broken)]) == 0
    out, err = capsys.readouterr()
    assert "| latency | 1.01x | 1.20x | 1.05x | 1.00x | 1.60x | 1.00x |" in out
    assert "| decode | 1.02x | n/a | 1.07x | - | - | - |" in out
    assert "n/a decode.transformer_lens: other tokens" in out
    assert "depth.json" in err and "capture_overhead_cuda.json" in err


@pytest.mark.parametrize("spec", ["llama-2b", "{not json"])
def test_bad_random_init_is_one_line(spec):
    import capture_overhead as co

    args = co.parse_args(["--random-init", spec])
    with pytest.raises(SystemExit, match="is not a preset"):
        co.load(args)
