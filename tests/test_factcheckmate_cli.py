"""End to end: `internals probe train / eval / predict` on a tiny model and the real qa_wikidata slice.

A random tiny model answers every question wrong, so no probe could be trained. The fixture
teaches a tiny Llama the gold answers of every other question of the slice (a few dozen Adam
steps on the answer tokens), so the labels hold both classes, as they do for a real model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _data_env import BIGBENCH_SLICES
from _teach import teach_answers
from internals.cli import main

pytestmark = pytest.mark.usefixtures("data_env")  # the committed slices, a fresh cache


@pytest.fixture(scope="module")
def knowing_dir(tmp_path_factory, tiny_dirs):
    """A tiny Llama checkpoint that knows the answers to half of the qa_wikidata slice."""
    from internals.data import load_dataset

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTERNALS_BIGBENCH_DIR", str(BIGBENCH_SLICES))
        mp.setenv("INTERNALS_CACHE", str(tmp_path_factory.mktemp("cache")))
        data = load_dataset("qa_wikidata")
    return teach_answers(tiny_dirs["llama"], data, tmp_path_factory.mktemp("knowing-llama"), steps=60)


def _config(tmp_path: Path, model: Path, **extra) -> Path:
    keys = {
        "name": "tiny_qa",
        "dataset": "qa_wikidata",
        "model": str(model),
        "limit": 100,
        "layer": "sweep",
        "setting": "I",
        "heads": ["mlp", "mlp_scaled", "logistic"],
        "max_new_tokens": 6,
    } | extra
    lines = ["[probe]"] + [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    path = tmp_path / "tiny_qa.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_train_eval_predict_end_to_end(tmp_path, knowing_dir, capsys):
    config = _config(tmp_path, knowing_dir, controls=["shuffle", "random_model"])
    assert main(["probe", "train", str(config), "--out", str(tmp_path / "probes"), "--quiet"]) == 0
    out = capsys.readouterr().out
    probe = tmp_path / "probes" / "tiny_qa"
    assert out.splitlines()[0] == str(probe)
    assert "mlp: layer" in out and "logistic: layer" in out
    assert "evidence (test n=" in out and "label-shuffle control" in out and "random-model control" in out
    assert "20 permutations" in out and "permutation p = " in out
    doc = json.loads((probe / "card.json").read_text())
    card = doc["card"]
    assert (probe / "weights.safetensors").is_file() and doc["estimators"]["probe"]["type"] == "MLPProbe"
    assert card["model"]["fingerprint"] and card["site"] == f"resid_post.{card['layer']}"
    assert card["setting"] == "I" and card["template"] == "chat" and card["seed"] == 0
    assert (
        card["data"]["splits"]["train"] + card["data"]["splits"]["validation"] + card["data"]["splits"]["test"]
        == card["data"]["n"]
    )
    assert 0 < card["data"]["hallucination_rate"] < 1
    assert {"torch", "scikit-learn", "safetensors"} <= set(doc["versions"])
    sweep = json.loads((probe / "sweep.json").read_text())
    assert sweep["mlp"]["layers"] == [0, 1, 2] and len(sweep["logistic"]["test"]["auroc"]) == 3
    assert len(sweep["mlp_scaled"]["validation"]["balanced_accuracy"]) == 3
    assert card["layer"] == sweep["mlp"]["best_layer"]
    ev = card["evidence"]  # intervals, operating points and controls
    for part in ("test", "label_shuffle_control", "random_model_control"):
        ba = ev[part]["balanced_accuracy"]
        assert ba["low"] <= ba["value"] <= ba["high"] and ev[part]["n"] == card["data"]["splits"]["test"]
    assert set(ev["recall_at_fpr"]) == {"0.01", "0.05"} and ev["majority_baseline"]["auroc"] == 0.5
    assert isinstance(ev["random_model_control"]["probe_beats_it"], bool)
    shuffled = ev["label_shuffle_control"]
    assert isinstance(shuffled["near_chance"], bool) and shuffled["n_permutations"] == 20
    assert "validation" in shuffled["permuted"] and 1 / 21 <= shuffled["probe_p_value"] <= 1
    from internals.analyses.factcheckmate.figures import sweep_figure

    fig = sweep_figure(probe / "sweep.json")
    assert [t.name for t in fig.data] == [
        "MLP bal. acc.",
        "MLP AUROC",
        "MLP-std (ours) bal. acc.",
        "MLP-std (ours) AUROC",
        "LogReg bal. acc.",
        "LogReg AUROC",
    ]
    assert list(fig.data[0].x) == [0, 1, 2]

    # a second train with the same config keeps the probe (labels and features are cached too)
    stamp = (probe / "weights.safetensors").stat().st_mtime_ns
    assert main(["probe", "train", str(config), "--out", str(tmp_path / "probes"), "--quiet"]) == 0
    assert (probe / "weights.safetensors").stat().st_mtime_ns == stamp
    capsys.readouterr()

    assert main(["probe", "eval", str(probe), "--data", "qa_wikidata", "--split", "all", "--quiet"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == card["data"]["n"] and 0 <= metrics["balanced_accuracy"] <= 1
    iv = metrics["evidence"]["auroc"]
    assert iv["low"] <= metrics["auroc"] == iv["value"] <= iv["high"] and metrics["evidence"]["card"] == ev

    assert main(["probe", "report", str(probe), "--out", str(tmp_path / "fig"), "--formats", "png"]) == 0
    assert (tmp_path / "fig" / "probe_evidence_tiny_qa.png").stat().st_size > 5000
    capsys.readouterr()

    assert main(["probe", "predict", str(probe), "The language of 30 Rock is", "The capital of Kenya is"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["question"] for r in lines] == ["The language of 30 Rock is", "The capital of Kenya is"]
    assert all(0 <= r["p_hallucination"] <= 1 and r["flagged"] == (r["p_hallucination"] >= 0.5) for r in lines)


def test_predict_refuses_another_model(tmp_path, knowing_dir, tiny_dirs, capsys):
    config = _config(tmp_path, knowing_dir, layer=1, heads=["logistic"])
    assert main(["probe", "train", str(config), "--out", str(tmp_path / "probes"), "--quiet"]) == 0
    probe = tmp_path / "probes" / "tiny_qa"
    doc = json.loads((probe / "card.json").read_text())
    assert doc["card"]["layer"] == 1 and doc["estimators"]["probe"]["type"] == "Pipeline"
    # point the card at another checkpoint: loading the probe there must be refused
    doc["card"]["model"]["path"] = str(tiny_dirs["qwen2"])
    (probe / "card.json").write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["probe", "predict", str(probe), "The language of 30 Rock is"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after transformers' loading bar
    assert err.startswith("internals: error: probe ") and f"was trained on {knowing_dir.name}" in err


def test_bad_config_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[probe]\nname = "x"\nsetting = "X+Y"\n')
    assert main(["probe", "train", str(bad)]) == 2
    assert "unknown setting 'X+Y'" in capsys.readouterr().err
    bad.write_text('[probe]\nname = "x"\nlayers = 3\n')
    assert main(["probe", "train", str(bad)]) == 2
    assert "unknown key(s) layers" in capsys.readouterr().err
    assert main(["probe", "predict", str(tmp_path), "hello"]) == 2
    assert "not a probe directory" in capsys.readouterr().err
