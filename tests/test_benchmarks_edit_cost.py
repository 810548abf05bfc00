"""benchmarks/edit_cost.py: its variants compute what they claim (correctness, not timing), its JSON
has the committed structure, and make_tables renders it (docs/edits.md's table: tests/test_results_tables.py)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import edit_cost  # noqa: E402
import make_tables  # noqa: E402


@pytest.fixture(scope="module")
def quick(tiny_dirs, tmp_path_factory):
    """The --quick run on a tiny Llama: (result document, path of its JSON)."""
    out = tmp_path_factory.mktemp("edit-cost") / "edit_cost_cpu.json"
    threads = torch.get_num_threads()
    try:
        doc = edit_cost.main(
            ["--quick", "--model", str(tiny_dirs["llama"]), "--out", str(out), "--threads", str(threads)]
        )
    finally:
        torch.set_num_threads(threads)
    return doc, out


def test_quick_run_writes_every_variant_and_regime(quick):
    doc, path = quick
    assert json.loads(path.read_text()) == json.loads(json.dumps(doc))
    assert list(doc["regimes"]) == list(edit_cost.REGIMES)
    for reg in ("latency", "throughput"):
        ratios = doc["regimes"][reg]
        assert list(ratios) == list(edit_cost.VARIANTS) and ratios["plain"] == 1.0
        assert all(isinstance(r, float) and r > 0 for r in ratios.values())
        assert doc["vs_read"][reg]["read"] == 1.0
        assert set(doc["seconds"][reg]) == set(edit_cost.VARIANTS)
    decode = doc["regimes"]["decode"]
    assert decode["plain"] == 1.0 and decode["steer_hooks"] > 0
    missing = [v for v, r in decode.items() if r is None]
    assert missing and all(doc["notes"][f"decode.{v}"] for v in missing)  # every n/a has its reason
    assert doc["steer_hooks_worst"] == max(r["steer_hooks"] for r in doc["regimes"].values())
    assert doc["denominator"].startswith("plain: model(") and doc["clock"] == "cpu"
    m = doc["manifest"]
    assert {"model", "versions", "threads", "regimes", "machine", "date", "steer"} <= set(m)
    assert m["model"]["n_layers"] == 3 and m["regimes"]["latency"]["repeats"] == 2


def test_steer_and_patch_compute_what_they_claim(quick):
    doc, _ = quick
    for reg in ("latency", "throughput"):
        c = doc["checks"][reg]
        assert c["steer_change"] > 1e-3  # the steered logits differ from the plain capture's
        assert c["plain_vs_read"] <= 1e-5
        assert max(c["steer_backends"].values()) <= 1e-4  # TL and nnsight steer as hooks do
        assert c["corrupted_vs_clean"] > 1e-3 and max(c["patch_vs_clean"].values()) <= 1e-4
    assert doc["checks"]["decode"]["generated_tokens"] == edit_cost.QUICK["decode"][2]


def test_steered_logits_differ_from_plain(tiny_llama):
    regime = edit_cost.Regime("latency", 2, 6)
    calls, clean = edit_cost.forward_calls(tiny_llama, regime, seed=0)
    plain, read, steer = calls["plain"](), calls["read"](), calls["steer_hooks"]()
    assert plain.shape == read.shape == steer.shape == (2, tiny_llama.model.config.vocab_size)
    assert torch.allclose(plain, read, atol=1e-5)
    assert (steer - read).abs().max() > 1e-3
    assert torch.allclose(calls["steer_nnsight"](), steer, atol=1e-4)
    assert torch.allclose(calls["patch_hooks"](), clean, atol=1e-4) and not torch.allclose(read, clean, atol=1e-3)
    decode = edit_cost.decode_calls(tiny_llama, edit_cost.Regime("decode", 1, 6, steps=3), seed=0)
    assert not torch.equal(decode["plain"](), decode["steer_hooks"]())


def test_make_tables_renders_edit_cost(quick):
    _, path = quick
    text = make_tables.render(path)
    assert "| regime | read | steer hooks | steer TL | steer nnsight | patch hooks | patch TL | patch nnsight |" in text
    assert re.search(r"\| decode \| n/a \| \d+\.\d\dx \| n/a \| n/a \| n/a \| n/a \| n/a \|", text)
    assert "n/a decode.patch_hooks, decode.patch_transformer_lens, decode.patch_nnsight:" in text
