"""The analyses rebuilt on edits give what their own hooks gave before (tests/data/edit_reference,
written by tests/data/make_edit_reference.py before the rebuild): LAC decisions and replies, the
skipped logits, steering answers and logits, LNS logits, the block ablation."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent
REF = json.loads((HERE / "data" / "edit_reference" / "reference.json").read_text())
spec = importlib.util.spec_from_file_location("make_edit_reference", HERE / "data" / "make_edit_reference.py")
make = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make)


def _same_top(got: dict, want: dict, tol: float = 2e-4) -> None:
    assert got["index"] == want["index"]
    assert max(abs(a - b) for a, b in zip(got["value"], want["value"])) <= tol


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv("INTERNALS_BIGBENCH_DIR", str(HERE / "data" / "bigbench"))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_lns_logits_reproduce():
    got = make.lns_part()
    assert got["ids"] == REF["lns"]["ids"]
    for g, w in zip(got["logits"], REF["lns"]["logits"]):
        _same_top(g, w, 1e-5)


def test_block_ablation_reproduces(tokenizer_dir):
    got = make.ablate_part(tokenizer_dir)
    assert got["baseline"] == pytest.approx(REF["ablate"]["baseline"], abs=1e-9)
    assert got["losses"] == pytest.approx(REF["ablate"]["losses"], abs=1e-9)


@pytest.fixture(scope="module")
def smollm2():
    from internals import load_model

    return load_model(device="cpu")


@pytest.mark.real_model
def test_steering_reproduces(smollm2):
    got = make.steer_part(smollm2)
    assert got["plain"] == REF["steer"]["plain"]
    assert got["steered"] == REF["steer"]["steered"]
    _same_top(got["logits"], REF["steer"]["logits"])


@pytest.mark.real_model
@pytest.mark.slow
def test_voids_runs_reproduce(smollm2):
    got = make.voids_part(smollm2)
    assert len(got) == len(REF["voids"])
    for g, w in zip(got, REF["voids"]):
        assert g["id"] == w["id"]
        for rg, rw in zip(g["runs"], w["runs"]):
            assert rg["label"] == rw["label"]
            # decisions (pair counts), replies, picks and skipped blocks exactly; scores to 1e-3 nats
            for key in ("reply", "pick_generate", "pick_loglik", "pp", "gen", "opt", "skipped_blocks"):
                assert rg[key] == rw[key], (g["id"], rg["label"], key)
            assert rg["scores"] == pytest.approx(rw["scores"], abs=1e-3)
