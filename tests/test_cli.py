"""`internals capture` end to end, `internals data list|show`, and bad input: one line, exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _store_helpers import run_cli
from internals import capture, load_model
from internals.cli import main
from internals.data import load_dataset
from internals.prompts import render
from internals.store import Store


def _capture(model, out, *extra):
    return main(
        [
            "capture",
            "--model",
            str(model),
            "--data",
            "qa_wikidata",
            "--limit",
            "10",
            "--sites",
            "resid_post.*",
            "--out",
            str(out),
            "--quiet",
            *extra,
        ]
    )


def test_capture_end_to_end_with_chat_template(tiny_dirs, tmp_path, capsys, slices):
    assert _capture(tiny_dirs["llama"], tmp_path, "--template", "chat", "--reduce", "last") == 0
    lines = capsys.readouterr().out.splitlines()
    store = Store.open(lines[0])
    assert lines[1].startswith(
        "captured 10 rows of qa_wikidata x 3 sites (reduce last) into 1 shards from 1 process(es)"
    )
    data = load_dataset("qa_wikidata", limit=10)
    assert store.rows() == [r.id for r in data] and store.manifest["config"]["dataset"]["limit"] == 10
    lm = load_model(tiny_dirs["llama"], device="cpu")
    prompts = render(data, "chat", lm.tokenizer)
    assert prompts[0][-4:] == lm.tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    ref = capture(lm, prompts, "resid_post.*", "last")
    for site in ref:
        assert np.array_equal(store[site], ref[site].numpy()), site
    assert _capture(tiny_dirs["llama"], tmp_path, "--template", "chat", "--reduce", "last") == 0  # already complete
    assert capsys.readouterr().out.splitlines()[0] == lines[0]
    assert len(Store.open(lines[0])) == 10


def test_capture_a_user_file_with_a_format_template(tiny_dirs, tmp_path, capsys):
    rows = [
        {"question": "Who wrote it?", "context": "Ann wrote the book.", "answers": ["Ann"]},
        {"question": "When?", "context": "It was 1990.", "answers": "1990"},
    ]
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    template = "{context}\nQ: {question}\nA:"
    rc = main(
        [
            "capture",
            "--model",
            str(tiny_dirs["llama"]),
            "--data",
            str(path),
            "--sites",
            "embed",
            "final_norm",
            "--reduce",
            "none",
            "--template",
            template,
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ]
    )
    assert rc == 0
    store = Store.open(capsys.readouterr().out.splitlines()[0])
    lm = load_model(tiny_dirs["llama"], device="cpu")
    ref = capture(
        lm, ["Ann wrote the book.\nQ: Who wrote it?\nA:", "It was 1990.\nQ: When?\nA:"], "embed final_norm", "none"
    )
    assert np.array_equal(store["final_norm"], ref["final_norm"].numpy()) and np.array_equal(
        store.mask, ref.mask.numpy()
    )
    assert store.manifest["config"]["dataset"]["name"] == "mine" and store.manifest["config"]["template"] == template


def _bad_inputs(tmp_path, model):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"question": "ok?"}\n{"question": "no closing brace"\n')
    base = ["--data", "qa_wikidata", "--sites", "resid_post.1", "--out", str(tmp_path / "out")]
    return {
        "unknown model path": (["--model", str(tmp_path / "no-such-model"), *base], "does not exist"),
        "unknown site": (["--model", model, *base, "--sites", "resid_middle.1"], "unknown site 'resid_middle.1'"),
        "layer out of range": (["--model", model, *base, "--sites", "resid_post.3"], "layer 3 out of range"),
        "unknown dataset": (["--model", model, *base, "--data", "no_such_set"], "unknown dataset 'no_such_set'"),
        "empty dataset file": (["--model", model, *base, "--data", str(empty)], "is empty"),
        "malformed JSONL line": (
            ["--model", model, *base, "--data", str(broken)],
            "broken.jsonl, line 2: not valid JSON",
        ),
        "template field": (["--model", model, *base, "--template", "Q: {query}"], r"template field {query}"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "unknown model path",
        "unknown site",
        "layer out of range",
        "unknown dataset",
        "empty dataset file",
        "malformed JSONL line",
        "template field",
    ],
)
def test_bad_input_is_one_line_and_exit_2(tiny_dirs, tmp_path, capsys, slices, case):
    args, message = _bad_inputs(tmp_path, str(tiny_dirs["llama"]))[case]
    assert main(["capture", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()  # above it, maybe transformers' weight-loading bar
    assert err[-1].startswith("internals: error: ") and message in err[-1], err
    assert not any(line.startswith("internals: error") for line in err[:-1])


def test_bad_input_in_a_real_process(tiny_dirs, tmp_path):
    args, message = _bad_inputs(tmp_path, str(tiny_dirs["llama"]))["malformed JSONL line"]
    run = run_cli("capture", *args)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip().splitlines() == [run.stderr.strip()] and message in run.stderr


def test_data_list_and_show(capsys, slices):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["name", "kind", "records", "licence"]
    wikidata = next(line for line in out if line.startswith("qa_wikidata "))
    assert wikidata.split()[1:3] == ["qa", str(len(load_dataset("qa_wikidata")))]
    assert main(["data", "show", "coqa", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("coqa: 52 records (split all)") and out.count('"question"') == 2 and "chars]" in out
    assert main(["data", "show", "no_such_set"]) == 2
    assert capsys.readouterr().err.startswith("internals: error: unknown dataset 'no_such_set'")
