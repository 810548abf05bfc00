"""docs/your-data.md's walkthrough, run: a small committed file in each format (tests/data/walkthrough:
.jsonl, .json, .csv, .parquet and a saved HF dataset, none with our field names) goes through
`internals capture` as it is, with its fields mapped on the command line, and each analysis's
train/eval command runs on one of them end to end on a tiny random model: probe train/eval
(.jsonl), cutoff train/eval (.json), voids eval (.csv), depth trace (.parquet), capture (HF)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from _teach import teach_answers
from internals.cli import main
from internals.data import load_dataset
from internals.data.registry import split_of

HERE = Path(__file__).parent / "data" / "walkthrough"
FILES = {  # file -> its --field options (ours=yours)
    "closed_book.jsonl": ["question=input", "answers=target"],
    "long_context.json": ["question=input", "evidence=gold_evidence"],
    "multiple_choice.csv": ["question=input", "choices=options", "target=label"],
    "passages.parquet": ["question=title", "context=passage"],
    "prompts_hf": ["question=prompt_text"],
}


FIELDS_JSON = {"question": "input", "evidence": "gold_evidence"}


def _fields(name: str) -> list[str]:
    return [a for f in FILES[name] for a in ("--field", f)]


@pytest.fixture(autouse=True)
def one_thread(monkeypatch, tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("INTERNALS_CACHE", str(tmp_path / "cache"))
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def knowing_dir(tmp_path_factory, tiny_dirs):
    """A tiny Llama taught the answers of every other closed_book.jsonl question (a random model
    gets every answer wrong, and a probe needs both classes)."""
    from internals.data import load_dataset

    data = load_dataset(str(HERE / "closed_book.jsonl"), fields={"question": "input", "answers": "target"})
    return teach_answers(tiny_dirs["llama"], data, tmp_path_factory.mktemp("knowing-llama"), steps=40)


@pytest.mark.parametrize("name", list(FILES))
def test_every_format_captures_with_its_fields_mapped(name, tiny_dirs, tmp_path, capsys):
    args = ["capture", "--model", str(tiny_dirs["llama"]), "--data", str(HERE / name), *_fields(name)]
    args += ["--sites", "resid_post.*", "--limit", "4", "--threads", "1", "--out", str(tmp_path / "store"), "--quiet"]
    assert main(args) == 0
    store = Path(capsys.readouterr().out.strip().splitlines()[-1].rsplit(": ", 1)[1])
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["n_rows"] == 4


def test_probe_train_and_eval_on_a_jsonl_file(knowing_dir, tmp_path, capsys):
    config = tmp_path / "mine.toml"
    config.write_text(
        f'dataset = "{HERE / "closed_book.jsonl"}"\nmodel = "{knowing_dir}"\nlimit = 48\nlayer = 1\n'
        'template = "chat"\nheads = ["logistic"]\nmax_new_tokens = 4\n'
        'fields = {question = "input", answers = "target"}\n'
    )
    assert main(["probe", "train", str(config), "--out", str(tmp_path / "probes"), "--threads", "1", "--quiet"]) == 0
    probe = Path(capsys.readouterr().out.splitlines()[0])
    card = json.loads((probe / "card.json").read_text())["card"]
    assert card["data"]["n"] == 48 and 0 < card["data"]["hallucination_rate"] < 1
    data = ["--data", str(HERE / "closed_book.jsonl"), *_fields("closed_book.jsonl"), "--split", "all"]
    assert main(["probe", "eval", str(probe), *data, "--limit", "12", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 12


def test_cutoff_train_and_eval_on_the_papers_json_layout(tiny_dirs, tmp_path, capsys):
    config = tmp_path / "cutoff.toml"
    config.write_text(
        f'datasets = ["{HERE / "long_context.json"}"]\nmodel = "{tiny_dirs["llama"]}"\n'
        'n_train = 8\nn_val = 3\nn_test = 3\nkinds = ["attn_z"]\nk = 2\nself_assess = false\n'
        f'fields = {{question = "input", evidence = "gold_evidence"}}\nout = "{tmp_path / "probe"}"\n'
    )
    assert main(["cutoff", "train", str(config), "--threads", "1"]) == 0
    train = json.loads((tmp_path / "probe" / "train.json").read_text())
    (entry,) = train["data"]
    assert entry["pad_distractors"] is False and entry["n_train"] == 8  # your own text, nothing added
    assert entry["skipped"] == {"train": {}, "validation": {}}
    capsys.readouterr()
    data = ["--data", str(HERE / "long_context.json"), *_fields("long_context.json")]
    assert main(["cutoff", "eval", str(tmp_path / "probe"), *data, "--limit", "60", "--threads", "1"]) == 0
    held = sum(split_of(r) == "test" for r in load_dataset(str(HERE / "long_context.json"), fields=FIELDS_JSON))
    assert f"asked for 60 examples of {HERE / 'long_context.json'} (split test) but it holds {held}" in (
        capsys.readouterr().err
    )  # surprise 6 through the CLI: the real count, not silence
    result = json.loads((tmp_path / "probe" / "eval.json").read_text())
    manifest = result["manifest"]
    assert (
        manifest["answers"]["truncated"]
        and manifest["data"][str(HERE / "long_context.json")]["pad_distractors"] is False
    )
    table = result["tables"][str(HERE / "long_context.json")]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_dirs["llama"]))
    longest = max(len(tok(g, add_special_tokens=False)["input_ids"]) for ex in table["examples"] for g in ex["gold"])
    assert table["n_examples"] == held and table["max_new_tokens"] == longest + 4  # from the gold answers
    assert all(len(ex["answers"]) for ex in table["examples"])


def test_voids_eval_on_a_csv_file(tiny_dirs, tmp_path, capsys):
    args = ["voids", "eval", "--model", str(tiny_dirs["llama"]), "--data", str(HERE / "multiple_choice.csv")]
    args += [*_fields("multiple_choice.csv"), "--limit", "4", "--alphas", "0.5", "--kinds", "paper"]
    args += ["--max-new-tokens", "2", "--threads", "1", "--out", str(tmp_path / "voids")]
    assert main(args) == 0
    assert any((tmp_path / "voids").iterdir())


def test_depth_trace_on_a_parquet_file(tiny_dirs, tmp_path, capsys):
    args = ["depth", "trace", "--model", str(tiny_dirs["llama"]), "--data", str(HERE / "passages.parquet")]
    args += [*_fields("passages.parquet"), "--limit", "6", "--max-tokens", "16", "--ablation-texts", "0"]
    args += ["--threads", "1", "--device", "cpu", "--out", str(tmp_path / "depth.json"), "--figures", "none"]
    assert main(args) == 0
    doc = json.loads((tmp_path / "depth.json").read_text())
    assert doc["manifest"]["data"]["name"] == "passages"
