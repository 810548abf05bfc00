"""Issue 19's nine surprises, one test each: a new user's long-context QA file (the context-cutoff
paper's layout: a .json list with `input`, `context`, `answers` and the evidence as text) goes
through the cutoff pipeline with nothing added, dropped or cut behind their back."""

from __future__ import annotations

import json

import numpy as np
import pytest
from transformers import AutoTokenizer

from internals.analyses.cutoff import contexts, infer, pipeline, prompting
from internals.analyses.cutoff.config import CutoffConfig
from internals.answers import describe, match
from internals.cli import build_parser, main
from internals.data import Record, load_dataset
from internals.errors import InternalsError

PASSAGE = "Passage {i}: the old harbour of town {i} was dredged in {y}, and ferries to island {i} began then."


def _rows(n: int, evidence: bool = True) -> list[dict]:
    rows = []
    for i in range(n):
        y = 1800 + i
        text = PASSAGE.format(i=i, y=y)
        row = {"input": f"When was the harbour of town {i} dredged?", "context": text, "answers": [str(y)]}
        if evidence:
            row["gold_evidence"] = f"dredged in {y}"
        rows.append(row)
    return rows


def _file(tmp_path, rows, name="paper.json"):
    p = tmp_path / name
    p.write_text(json.dumps(rows))
    return str(p)


FIELDS = {"question": "input", "evidence": "gold_evidence"}


class _LM:
    """Just what building examples needs: a tokenizer."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer


@pytest.fixture(scope="module")
def tok(tokenizer_dir):
    return AutoTokenizer.from_pretrained(str(tokenizer_dir))


def test_surprise_1_a_json_list_is_read(tmp_path):
    data = load_dataset(_file(tmp_path, _rows(3)), fields=FIELDS)
    assert [r.question for r in data] == [r["input"] for r in _rows(3)]


def test_surprise_2_fields_are_mapped_and_a_missing_one_names_its_option(tmp_path, capsys):
    path = _file(tmp_path, _rows(3))
    with pytest.raises(InternalsError, match=r"--field question=<your field>"):
        load_dataset(path)
    assert main(["data", "show", path, "--field", "question=input", "--limit", "1"]) == 0
    assert "When was the harbour" in capsys.readouterr().out


def test_surprise_3_no_evidence_names_the_fields_to_add(tmp_path, tok):
    path = _file(tmp_path, _rows(4, evidence=False))
    cfg = CutoffConfig(datasets=(path,), fields={"question": "input"})
    with pytest.raises(InternalsError) as err:
        pipeline.load_examples(_LM(tok), path, "all", 2, cfg)
    message = str(err.value)
    assert "'evidence'" in message and "evidence_start" in message and "--field" in message
    assert "disfl_qa" not in message and "coqa" not in message  # not pointed at the built-in sets


def test_surprise_4_evidence_as_text_is_found_and_checked(tmp_path):
    record = load_dataset(_file(tmp_path, _rows(1)), fields=FIELDS)[0]
    assert record.evidence_text == "dredged in 1800"
    bad = [{**_rows(1)[0], "evidence_start": 0, "evidence_end": 7}]
    with pytest.raises(InternalsError, match="not the evidence text"):
        load_dataset(_file(tmp_path, bad, "bad.json"), fields=FIELDS)


def test_surprise_5_no_distractor_padding_for_your_files_unless_asked(tmp_path, tok):
    path = _file(tmp_path, _rows(12))
    cfg = CutoffConfig(datasets=(path,), fields=FIELDS, target_tokens=200)
    assert not cfg.pads(path) and cfg.pads("disfl_qa")  # on for built-in sets, as the paper does
    info: dict = {}
    examples = pipeline.load_examples(_LM(tok), path, "all", 12, cfg, info)
    own = {r.id: r.context for r in load_dataset(path, fields=FIELDS)}
    assert all(ex.context == own[ex.id] for ex in examples) and info["pad_distractors"] is False
    padded_cfg = CutoffConfig(datasets=(path,), fields=FIELDS, target_tokens=200, pad_distractors=True)
    padded = pipeline.load_examples(_LM(tok), path, "all", 12, padded_cfg, info)
    assert info["pad_distractors"] is True and all(len(ex.context) > len(own[ex.id]) for ex in padded)
    # the CLI switch reaches the config, and the manifest keeps it (see test_walkthrough for a full run)
    args = build_parser().parse_args(["cutoff", "eval", "p", "--data", path, "--pad-distractors"])
    assert args.pad_distractors is True


def test_surprise_5b_skipped_records_are_counted_with_their_reason(tmp_path, tok, capsys):
    no_gold = {**_rows(1)[0], "input": "A question without gold answers?", "answers": []}
    rows = _rows(6) + [{"input": "No passage here?", "answers": ["x"]}, no_gold, _rows(1)[0]]  # and a repeat
    path = _file(tmp_path, rows)
    info: dict = {}
    cfg = CutoffConfig(datasets=(path,), fields=FIELDS)
    examples = pipeline.load_examples(_LM(tok), path, "all", 6, cfg, info)
    assert len(examples) == 6
    assert info["skipped"] == {"no context": 1, "no gold answers": 1}
    assert info["dropped_on_reading"] == {"a row that repeats an earlier row exactly": 1}
    err = capsys.readouterr().err
    assert "skipped 1 record(s) with no context" in err and "skipped 1 record(s) with no gold answers" in err
    assert "dropped 1 row(s): a row that repeats an earlier row exactly" in err


def test_surprise_6_more_items_than_the_split_holds_warns_with_the_real_count(tok, capsys):
    records = [Record(f"r{i}", **_record_fields(i)) for i in range(52)]
    examples = contexts.build_examples(records, tok, n=60, pad=False, dataset="mine")
    assert len(examples) == 52
    assert "asked for 60 examples of mine (split all) but it holds 52 usable records: using 52" in (
        capsys.readouterr().err
    )
    contexts.build_examples(records, tok, n=50, pad=False, dataset="mine")
    assert "warning" not in capsys.readouterr().err


def _record_fields(i: int) -> dict:
    row = _rows(i + 1)[i]
    start = row["context"].index(row["gold_evidence"])
    return {
        "question": row["input"],
        "answers": tuple(row["answers"]),
        "context": row["context"],
        "evidence": (start, start + len(row["gold_evidence"])),
    }


# Every command that runs a model, and the options each must have (surprise 7: cutoff had no --threads).
MODEL_COMMANDS = (
    ("capture",),
    ("probe", "train"),
    ("probe", "eval"),
    ("cutoff", "train"),
    ("cutoff", "eval"),
    ("voids", "trace"),
    ("voids", "eval"),
    ("voids", "time"),
    ("depth", "trace"),
    ("patch",),
    ("report",),
)
RUN_OPTIONS = ("--threads", "--device", "--seed", "--limit", "--model")


def _options_of(command: tuple[str, ...]) -> set[str]:
    import argparse

    parser = build_parser()
    for name in command:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return {o for a in parser._actions for o in a.option_strings}


def test_surprise_7_every_command_that_runs_a_model_has_the_same_options():
    for command in MODEL_COMMANDS:
        missing = [o for o in RUN_OPTIONS if o not in _options_of(command)]
        assert not missing, f"internals {' '.join(command)} lacks {missing}"


def test_surprise_8_a_cut_answer_is_not_a_gold_prefix_and_the_length_follows_the_gold(tok):
    gold = ["the United States of America"]
    assert match("the United States", gold, "whole_word")  # a short answer the model chose to give
    assert not match(prompting.Answer("the United States", truncated=True), gold, "whole_word", truncated=True)
    assert match("the United States of America and", gold, "whole_word", truncated=True)  # holds the whole gold
    for rule in ("substring", "whole_word", "exact"):
        assert not match("the United", gold, rule, truncated=True)
    assert describe("first_line", "whole_word", truncated=True)["truncated"].startswith("an answer cut")
    long = contexts.Example(
        "a",
        "d",
        "q?",
        (
            "one two three four five six seven eight nine ten eleven twelve "
            "thirteen fourteen fifteen sixteen seventeen eighteen",
        ),
        "ctx",
        (0, 3),
    )
    n = infer.answer_length(tok, [long])
    assert n > 16 and n == len(tok(long.answers[0], add_special_tokens=False)["input_ids"]) + infer.ANSWER_MARGIN
    assert infer.answer_length(tok, [contexts.Example("b", "d", "q?", ("word " * 200,), "ctx", (0, 3))]) == (
        infer.ANSWER_CAP
    )
    assert CutoffConfig().max_new_tokens is None  # the default follows the gold answers


def test_surprise_8_greedy_says_when_the_limit_cut_the_answer(tiny_llama):
    lay = prompting.layout(tiny_llama.tokenizer, "When?")
    cut = prompting.greedy(tiny_llama, prompting.new_cache(tiny_llama), lay.header + lay.answer, 1)
    assert isinstance(cut, str) and cut.truncated in (True, False)
    # a random model rarely stops on its first token: one token is almost always cut
    many = [
        prompting.greedy(tiny_llama, prompting.new_cache(tiny_llama), lay.header + [t] + lay.answer, 1)
        for t in range(100, 110)
    ]
    assert sum(a.truncated for a in many) >= 8


def test_surprise_9_a_killed_cutoff_train_resumes_within_the_split(tiny_llama, tok, tmp_path, monkeypatch):
    records = [Record(f"r{i}", **_record_fields(i)) for i in range(7)]
    examples = contexts.build_examples(records, tok, n=7, pad=False, dataset="toy")
    cfg = CutoffConfig(n_chunks=4, kinds=("attn_z",))
    real, calls = infer.read, []

    def counted(*args, **kwargs):
        if kill_after is not None and len(calls) == kill_after:
            raise KeyboardInterrupt  # the run is killed while reading the third shard
        calls.append(args[1].id)
        return real(*args, **kwargs)

    monkeypatch.setattr(infer, "read", counted)
    monkeypatch.setenv("INTERNALS_CACHE", str(tmp_path / "killed"))
    kill_after = 5
    with pytest.raises(KeyboardInterrupt):
        pipeline.read_all(tiny_llama, examples, cfg, progress=False, shard_size=2)
    assert len(list((tmp_path / "killed").rglob("*.safetensors"))) == 2  # two whole shards, nothing partial
    calls.clear()
    kill_after = None
    resumed = pipeline.read_all(tiny_llama, examples, cfg, progress=False, shard_size=2)
    assert calls == [ex.id for ex in examples[4:]]  # continued at the third shard, within the split
    monkeypatch.setenv("INTERNALS_CACHE", str(tmp_path / "whole"))
    whole = pipeline.read_all(tiny_llama, examples, cfg, progress=False, shard_size=2)
    reference = pipeline.Table.of([real(tiny_llama, ex, cfg.kinds, cfg.n_chunks) for ex in examples])
    for table in (resumed, whole):
        np.testing.assert_array_equal(table.X["attn_z"], reference.X["attn_z"])
        for name in ("y", "group", "chunk"):
            np.testing.assert_array_equal(getattr(table, name), getattr(reference, name))
