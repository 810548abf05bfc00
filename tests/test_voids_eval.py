"""The evaluation: the paper's prompt and our parser, every configuration on a question,
summaries, resuming, and the `internals voids` CLI on a tiny model."""

from __future__ import annotations

import importlib
import json

import pytest

from internals.analyses.voids.evaluate import EvalConfig, evaluate_voids, question_result, summarise_voids
from internals.analyses.voids.protocol import chat_prompt, option_ids, parse_choice, user_message
from internals.analyses.voids.report import eval_figures
from internals.cli import main
from internals.data import Record, load_dataset
from internals.errors import InternalsError

pytestmark = pytest.mark.usefixtures("torch_one_thread")  # conftest.py

MC = Record("q1", "What does a thermometer measure?", choices=("humidity", "temperature", "pressure"), target=1)
ev = importlib.import_module("internals.analyses.voids.evaluate")  # the module
YN = Record("q2", "Is water wet?", choices=("Yes", "No"), target=0)


@pytest.fixture()
def data_file(tmp_path):
    path = tmp_path / "mini.jsonl"
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in (MC, YN)))
    return path


def test_paper_prompts():
    mc = user_message(MC)
    assert "Question:\n    What does a thermometer measure?" in mc
    assert "A. humidity\nB. temperature\nC. pressure" in mc and "Output format:\n    [Option]" in mc
    yn = user_message(YN)
    assert "Respond to the given question with Yes or No." in yn and "[Yes/No]" in yn
    with_passage = user_message(Record("q3", "Is it?", context="A passage.", choices=("True", "False"), target=0))
    assert "based on the passage with True or False" in with_passage and "A passage." in with_passage
    with pytest.raises(InternalsError, match="choices"):
        user_message(Record("q4", "Who?", answers=("x",)))


@pytest.mark.parametrize(
    "text,pick",
    [
        ("[B]", 1),
        ("B. temperature", 1),
        ("The answer is C", 2),
        ("C", 2),
        ("(A) humidity", 0),
        ("A thermometer measures temperature.", 1),
        ("It measures pressure and humidity", 2),
        ("I do not know", None),
    ],
)
def test_parse_multiple_choice(text, pick):
    assert parse_choice(text, MC) == pick


@pytest.mark.parametrize(
    "text,pick", [("Yes", 0), ("No.", 1), ("no, it is not", 1), ("Maybe", None), ("Nowhere", None)]
)
def test_parse_yes_no(text, pick):
    assert parse_choice(text, YN) == pick


def test_question_result_runs_every_configuration(tiny_llama):
    cfg = EvalConfig(
        alphas=(0.1, 0.8), drop_alphas=(0.8,), drop_phases=("both", "rg"), skip_alphas=(0.8,), max_new_tokens=3
    )
    line = question_result(tiny_llama, MC, cfg)
    labels = [r["label"] for r in line["runs"]]
    assert labels == [
        "full",
        "paper a=0.1 both",
        "paper a=0.8 both",
        "skip a=0.8 share=0.5",
        "drop a=0.8 both",
        "drop a=0.8 rg",
    ]
    prompt = chat_prompt(tiny_llama.tokenizer, MC.shuffled_choices(0))
    n_opt = sum(len(o) for o in option_ids(tiny_llama.tokenizer, MC))
    L = tiny_llama.n_layers
    for run in line["runs"]:
        assert run["pp"][1] == len(prompt) * L and run["opt"][1] == n_opt * L
        assert len(run["scores"]) == 3 and run["pick_loglik"] in (0, 1, 2)
        assert 0 <= run["pp"][0] <= run["pp"][1]
    full = line["runs"][0]
    assert full["pp"][0] == full["pp"][1] and full["skipped_blocks"] is None
    assert line["runs"][3]["pp"][0] == line["runs"][3]["pp"][1]  # skip: the prompt runs the full model


def test_summarise_counts():
    def run(label, kind, pick, pp, gen):
        return {
            "label": label,
            "kind": kind,
            "alpha": 0.5,
            "phases": "both",
            "pick_generate": pick,
            "pick_loglik": pick,
            "pp": pp,
            "gen": gen,
            "opt": gen,
        }

    lines = [
        {
            "id": "a",
            "target": 0,
            "runs": [run("full", "none", 0, [10, 10], [2, 2]), run("p", "paper", 1, [5, 10], [1, 2])],
        },
        {
            "id": "b",
            "target": 1,
            "runs": [run("full", "none", None, [10, 10], [2, 2]), run("p", "paper", 1, [3, 10], [1, 2])],
        },
    ]
    rows = {(r["label"], r["protocol"]): r for r in summarise_voids(lines, "d")}
    assert rows[("full", "generate")]["accuracy"] == 0.5 and rows[("full", "generate")]["parsed"] == 0.5
    assert rows[("p", "loglik")]["accuracy"] == 0.5
    assert rows[("p", "generate")]["used"] == pytest.approx(10 / 24)
    assert rows[("p", "generate")]["layers_skipped"] == pytest.approx(14 / 24)
    assert rows[("full", "generate")]["alpha"] is None
    assert rows[("p", "generate")]["agree_full"] == 0.0 and rows[("full", "loglik")]["agree_full"] == 1.0


def test_paired_counts():
    def line(target, full, other):
        return {
            "target": target,
            "runs": [
                {"label": "full", "kind": "none", "pick_generate": full},
                {"label": "p", "kind": "paper", "pick_generate": other},
            ],
        }

    lines = [line(0, 1, 0)] * 6 + [line(0, 0, 1)] + [line(1, 1, 1)] * 3
    out = ev.paired(lines, "p", "generate")
    assert (out["wins"], out["losses"]) == (6, 1) and out["p_value"] == pytest.approx(0.125)
    with pytest.raises(InternalsError, match="no configuration"):
        ev.paired(lines, "drop", "generate")


def test_evaluate_writes_and_resumes(tiny_llama, data_file, tmp_path, monkeypatch):
    data = load_dataset(str(data_file))
    cfg = EvalConfig(alphas=(0.5,), kinds=("paper",), max_new_tokens=2)
    rows = evaluate_voids(
        tiny_llama, [data], cfg, tmp_path / "out", manifest={"model": tiny_llama.describe()}, progress=False
    )
    assert {(r["label"], r["protocol"]) for r in rows} == {
        (l, p) for l in ("full", "paper a=0.5 both") for p in ("generate", "loglik")
    }
    assert len((tmp_path / "out" / "mini.jsonl").read_text().splitlines()) == 2
    monkeypatch.setattr(ev, "question_result", lambda *a: pytest.fail("a finished question was recomputed"))
    assert (
        evaluate_voids(
            tiny_llama, [data], cfg, tmp_path / "out", manifest={"model": tiny_llama.describe()}, progress=False
        )
        == rows
    )
    with pytest.raises(InternalsError, match="another model, data or config"):
        evaluate_voids(
            tiny_llama,
            [data],
            EvalConfig(alphas=(0.3,), kinds=("paper",)),
            tmp_path / "out",
            manifest={"model": tiny_llama.describe()},
            progress=False,
        )


def test_eval_config_errors():
    for bad in (
        dict(alphas=()),
        dict(alphas=(0.0,)),
        dict(kinds=("paper", "exit")),
        dict(drop_phases=("all",)),
        dict(drop_alphas=(2.0,)),
        dict(max_new_tokens=0),
        dict(prompt_share=0.0),
    ):
        with pytest.raises(InternalsError):
            EvalConfig(**bad)


def test_cli_trace_and_eval(tiny_dirs, data_file, tmp_path, capsys):
    model = str(tiny_dirs["llama"])
    assert (
        main(
            [
                "voids",
                "trace",
                "--model",
                model,
                "--data",
                str(data_file),
                "--max-new-tokens",
                "3",
                "--alphas",
                "0.2,0.8",
                "--out",
                str(tmp_path / "tr"),
                "--threads",
                "1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert '"alpha": 0.8' in out and (tmp_path / "tr" / "norms.safetensors").exists()
    assert json.loads((tmp_path / "tr" / "summary.json").read_text())["n_prompts"] == 2
    assert (
        main(
            [
                "voids",
                "eval",
                "--model",
                model,
                "--data",
                str(data_file),
                "--alphas",
                "0.5",
                "--kinds",
                "paper,skip",
                "--max-new-tokens",
                "2",
                "--out",
                str(tmp_path / "ev"),
                "--threads",
                "1",
            ]
        )
        == 0
    )
    rows = json.loads((tmp_path / "ev" / "summary.json").read_text())["rows"]
    assert {r["kind"] for r in rows} == {"none", "paper", "skip"}
    paths = eval_figures(rows, tmp_path / "figs", formats=("html",))
    assert [p.name for p in paths] == ["voids_tradeoff_mini_generate.html", "voids_tradeoff_mini_loglik.html"]
    assert main(["voids", "figures", "--out", str(tmp_path / "figs")]) == 2  # neither --trace nor --eval


@pytest.mark.parametrize("alpha", ["0", "1.2", "-0.5"])
def test_cli_bad_alpha(tiny_dirs, data_file, alpha, capsys):
    assert main(["voids", "eval", "--model", str(tiny_dirs["llama"]), "--data", str(data_file), "--alphas", alpha]) == 2
    err = capsys.readouterr().err
    assert err.startswith("internals: error: alpha must be in (0, 1]") and err.count("\n") == 1
