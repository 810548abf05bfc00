"""The passage corpus, the lr schedule, and a Pre-LN vs LNS pre-training run small enough for CPU."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from internals.analyses.depth.corpus import detokenize, load_corpus, near_duplicate_groups
from internals.analyses.depth.figures import make_figures
from internals.analyses.depth.pretrain import PRESETS, lr_factor, pack
from internals.analyses.depth.results import load_results
from internals.cli import main
from internals.errors import InternalsError

SLICES = Path(__file__).parent / "data" / "bigbench"


@pytest.fixture(autouse=True)
def slices_and_one_thread(monkeypatch):
    """The committed BIG-bench slices instead of the download; one torch thread (fastest when busy)."""
    monkeypatch.setenv("INTERNALS_BIGBENCH_DIR", str(SLICES))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_detokenize_rejoins_punctuation():
    text = "the university ' s library , which holds 9 . 8 million volumes ( in `` print '' ) ."
    assert detokenize(text) == 'the university\'s library, which holds 9.8 million volumes (in "print").'


def test_near_duplicates_share_a_group():
    words = " ".join(f"w{i}" for i in range(30))
    edited = words.replace("w20", "EDIT")  # same first 12 words
    tail_edit = words.replace("w0", "EDIT")  # same last 12 words
    other = " ".join(f"x{i}" for i in range(30))
    groups = near_duplicate_groups([words, edited, tail_edit, other])
    assert groups[0] == groups[1] == groups[2] != groups[3]


def test_corpus_holds_out_whole_documents():
    corpus = load_corpus(validation_fraction=0.3, seed=1)
    assert corpus.train and corpus.validation
    assert not set(corpus.train) & set(corpus.validation)
    every = sorted(corpus.train + corpus.validation)
    keys = dict(zip(every, near_duplicate_groups(every)))
    assert not {keys[t] for t in corpus.train} & {keys[t] for t in corpus.validation}
    assert load_corpus(validation_fraction=0.3, seed=1).fingerprint == corpus.fingerprint
    assert set(corpus.describe()["stats"]) <= {"coqa", "disfl_qa", "contextual_parametric_knowledge_conflicts"}
    with pytest.raises(InternalsError, match="validation_fraction"):
        load_corpus(validation_fraction=1.5)


def test_lr_schedule_warmup_then_cosine_to_min():
    f = [lr_factor(s, 10, 100, 0.1) for s in range(101)]
    assert f[0] == 0.0 and f[5] == 0.5 and f[10] == 1.0
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    assert f[100] == pytest.approx(0.1)
    assert lr_factor(55, 10, 100, 0.1) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))


def test_pack_drops_the_remainder():
    assert pack(torch.arange(10), 3).tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    with pytest.raises(InternalsError, match="fewer than one sequence"):
        pack(torch.arange(2), 3)


def test_cpu_pretrain_pre_ln_vs_lns(tmp_path):
    """The CLI's test preset: both runs, same steps and data; curves, variance and figures."""
    out = tmp_path / "pretrain.json"
    code = main(
        [
            "depth",
            "pretrain",
            "--preset",
            "test",
            "--out",
            str(out),
            "--figures",
            "none",
            "--no-progress",
            "--device",
            "cpu",
            "--save-models",
            str(tmp_path / "models"),
        ]
    )
    assert code == 0
    doc = load_results(out)
    runs = doc["results"]["runs"]
    cfg = PRESETS["test"]
    assert set(runs) == {"pre-ln", "lns"}
    for r in runs.values():
        assert r["steps"] == [0, 4, 8, 12] and r["params"] == runs["pre-ln"]["params"]
        assert all(math.isfinite(p) for p in r["val_ppl"])
        assert r["val_ppl"][-1] < r["val_ppl"][0]  # it learns
        assert len(r["variance"]) == cfg.n_layers + 1 and np.all(np.asarray(r["variance"]) > 0)
        assert np.asarray(r["prompt_variance"]).shape == (cfg.variance_sequences, cfg.n_layers + 1)
        assert r["tokens_seen"] == cfg.steps * cfg.batch_size * cfg.seq_len
    assert json.loads((tmp_path / "models" / "lns" / "config.json").read_text())["layernorm_scaling"] is True
    assert doc["manifest"]["data"]["corpus"]["n_validation"] > 0 and doc["manifest"]["versions"]["torch"]
    assert set(make_figures(doc)) == {"depth_pretrain_ppl", "depth_pretrain_variance"}


def test_pretrain_cli_refuses_bad_values(capsys):
    assert main(["depth", "pretrain", "--preset", "test", "--steps", "0", "--figures", "none"]) == 2
    assert "--steps must be >= 1, got 0" in capsys.readouterr().err  # the CLI's edge check (every command)
