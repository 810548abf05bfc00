"""`internals cutoff train/eval/figures` end to end on a tiny model and real dataset slices; cutoff inference."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest
import torch

from internals.analyses.cutoff import infer
from internals.analyses.cutoff.pipeline import load_cutoff_probes
from internals.cli import main
from internals.errors import InternalsError
from internals.models import load_model

pytestmark = pytest.mark.usefixtures("data_env")  # the committed slices, a fresh cache

CPKC = "contextual_parametric_knowledge_conflicts"


@pytest.fixture(scope="module")
def trained(tiny_dirs, tmp_path_factory):
    """One `internals cutoff train` run shared by the tests here (on real slices, one torch thread)."""
    from _data_env import BIGBENCH_SLICES, FANOUTQA_SLICE

    tmp = tmp_path_factory.mktemp("cutoff")
    cfg = tmp / "cutoff.toml"
    cfg.write_text(
        f'datasets = ["{CPKC}"]\nmodel = "{tiny_dirs["llama"]}"\nn_train = 8\nn_val = 2\nn_test = 3\n'
        f"target_tokens = 200\nk = 3\nmax_new_tokens = 3\nthresholds = [0.5, 0.9]\n"
        f'combine = ["mean", "logistic"]\nmain = "attn_z+logistic"\n'
        f'kinds = ["attn_z", "o_proj_slices", "attn_z_query"]\n'
        f'out = "{tmp / "probe"}"\n'
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on a shared 2-core machine mostly wait on each other
    with pytest.MonkeyPatch.context() as mp, redirect_stdout(io.StringIO()) as out:
        mp.setenv("INTERNALS_BIGBENCH_DIR", str(BIGBENCH_SLICES))
        mp.setenv("INTERNALS_FANOUTQA_FILE", str(FANOUTQA_SLICE))
        mp.setenv("INTERNALS_CACHE", str(tmp / "cache"))
        assert main(["cutoff", "train", str(cfg)]) == 0
    yield tmp / "probe", json.loads(out.getvalue().strip().splitlines()[-1])
    torch.set_num_threads(threads)


def test_train_eval_figures_end_to_end(trained, tmp_path, capsys):
    probe_dir, summary = trained
    assert set(summary) >= {
        "attn_z",
        "attn_z+logistic",
        "o_proj_slices",
        "o_proj_slices+logistic",
        "attn_z_query",
        "attn_z_query+logistic",
        "f1_val_position",
    }
    assert len(summary["attn_z"]["heads"]) == 3 and summary["attn_z+logistic"]["heads"] == summary["attn_z"]["heads"]
    train = json.loads((probe_dir / "train.json").read_text())
    assert len(train["kinds"]["attn_z"]["head_f1"]) == 3 and len(train["kinds"]["attn_z"]["head_f1"][0]) == 4
    assert train["data"][0]["n_train"] == 8 and train["model"]["fingerprint"]

    out = tmp_path / "eval.json"
    assert main(["cutoff", "eval", str(probe_dir), "--data", f"{CPKC},disfl_qa", "--n", "2", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    result = json.loads(out.read_text())
    assert set(result["per_dataset"]) == {CPKC, "disfl_qa"}
    for key in ("token_reduction", "accuracy_cutoff", "accuracy_full", "f1_probe", "f1_position"):
        assert printed[key] == result[key]
        assert all(key in r for r in result["per_dataset"].values())
    table = result["tables"]["disfl_qa"]
    assert table["n_examples"] == 2 and table["n_prefixes"] == 20
    assert {
        "full",
        "oracle",
        "position",
        "fixed_truncation",
        "self_assessment",
        "probe:attn_z@0.95",
        "probe:o_proj_slices@0.95",
        "probe:o_proj_slices+logistic@0.95",
    } <= set(table["methods"])
    # the main probe (the config's main: attn_z+logistic) and its kind's other probe get the whole sweep
    assert {f"probe:{p}@{t}" for p in ("attn_z", "attn_z+logistic") for t in (0.5, 0.9, 0.95)} <= set(table["methods"])
    assert table["main"] == "probe:attn_z+logistic@0.95" and "probe:o_proj_slices@0.5" not in table["methods"]
    for ex in table["examples"]:
        assert all(str(c) in ex["answers"] for c in ex["stops"].values())  # every method's chunk was answered
    methods = result["tables"][CPKC]["methods"]
    assert methods["full"]["token_reduction"] == methods["full"]["processed_reduction"] == 1.0
    # the probes reading the question again count those tokens as processed; the prefix-mean ones add none
    query, plain = methods["probe:attn_z_query@0.95"], methods["probe:attn_z@0.95"]
    assert query["processed_reduction"] < query["token_reduction"]
    assert plain["processed_reduction"] == plain["token_reduction"]
    assert methods["self_assessment"]["processed_reduction"] < methods["self_assessment"]["token_reduction"]
    assert result["calibrated"]["threshold"] in (0.5, 0.9, 0.95) and set(result["calibrated"]["per_dataset"]) == {
        CPKC,
        "disfl_qa",
    }

    assert main(["cutoff", "figures", str(out), "--out", str(tmp_path / "assets")]) == 0
    paths = capsys.readouterr().out.split()
    assert {p.rsplit("/", 1)[1] for p in paths} == {
        "cutoff_tradeoff.png",
        "cutoff_tradeoff.pdf",
        "cutoff_head_f1_attn_z.png",
        "cutoff_head_f1_attn_z.pdf",
        "cutoff_head_f1_o_proj_slices.png",
        "cutoff_head_f1_o_proj_slices.pdf",
        "cutoff_head_f1_attn_z_query.png",
        "cutoff_head_f1_attn_z_query.pdf",
    }


def test_cutoff_stops_reading_and_answers_like_a_fresh_prefix(trained, tiny_dirs):
    probe_dir, _ = trained
    lm = load_model(tiny_dirs["llama"], device="cpu")
    probes, _ = load_cutoff_probes(probe_dir, lm)
    context = "The harbour of Ness was dredged in 1911. " * 12
    early = infer.cutoff(
        lm, probes["attn_z+logistic"], "When was the harbour dredged?", context, threshold=1e-9, max_new_tokens=4
    )
    assert early.chunk == 0 and early.stopped_early and early.token_reduction > 9
    ids = lm.tokenizer(context, add_special_tokens=False)["input_ids"]
    assert early.answer == infer.answer_prefix(lm, "When was the harbour dredged?", ids, early.n_read, max_new_tokens=4)
    full = infer.cutoff(lm, probes["attn_z"], "When was the harbour dredged?", context, threshold=1.0, max_new_tokens=4)
    assert full.n_read == full.n_total and len(full.probs) == 10 and not full.stopped_early or max(full.probs) >= 1.0
    with pytest.raises(InternalsError, match="context is empty"):
        infer.cutoff(lm, probes["attn_z"], "q?", "  ")
    with pytest.raises(InternalsError, match="trained on o_proj_slices features, not attn_z"):
        infer.cutoff(lm, probes["o_proj_slices+logistic"], "q?", context, kind="attn_z")
    by_card = infer.cutoff(
        lm, probes["o_proj_slices"], "When was the harbour dredged?", context, threshold=1e-9, max_new_tokens=4
    )  # no kind given: the probe's own
    assert by_card.chunk == 0 and len(by_card.probs) == 1
    query = infer.cutoff(
        lm, probes["attn_z_query"], "When was the harbour dredged?", context, threshold=1e-9, max_new_tokens=4
    )  # reads the question again after the chunk, then answers as before
    assert query.chunk == 0 and query.answer == early.answer and query.n_query_tokens > 0 and early.n_query_tokens == 0


def test_probe_of_another_model_and_bad_config_fail_on_one_line(trained, tiny_dirs, tmp_path, capsys):
    probe_dir, _ = trained
    code = main(["cutoff", "eval", str(probe_dir), "--data", CPKC, "--n", "1", "--model", str(tiny_dirs["qwen2"])])
    last = capsys.readouterr().err.strip().splitlines()[-1]  # earlier lines: transformers' loading bars
    assert code == 2 and last.startswith("internals: error: probe") and "train a new probe" in last
    bad = tmp_path / "bad.toml"
    bad.write_text('datasets = ["disfl_qa"]\nn_trian = 3\n')
    assert main(["cutoff", "train", str(bad)]) == 2
    assert "unknown key(s) n_trian" in capsys.readouterr().err
    assert main(["cutoff", "eval", str(tmp_path / "nowhere"), "--data", CPKC]) == 2
    assert "no cutoff probe" in capsys.readouterr().err
    assert main(["cutoff", "eval", str(probe_dir), "--data", CPKC, "--split", "train", "--offset", "5"]) == 2
    assert "--offset picks fresh examples of the test split" in capsys.readouterr().err
