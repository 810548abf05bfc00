"""Your own data in every format researchers have, with your field names: .jsonl, .json (a list or
an object holding one), .csv, .parquet and a saved HF dataset; evidence as text or offsets,
checked; nothing added or dropped silently."""

from __future__ import annotations

import json

import pytest

from internals import InternalsError
from internals.cli import main
from internals.data import load_dataset

CTX = "The Eiffel Tower was built by Gustave Eiffel's company for the 1889 World's Fair in Paris."
ROWS = [
    {
        "input": "Who built the Eiffel Tower?",
        "context": CTX,
        "answers": ["Gustave Eiffel"],
        "gold": "Gustave Eiffel's company",
    },
    {
        "input": "For which event was it built?",
        "context": CTX,
        "answers": ["the 1889 World's Fair"],
        "gold": "1889 World's Fair",
    },
]
FIELDS = {"question": "input", "evidence": "gold"}


def _write(tmp_path, fmt: str):
    if fmt == "jsonl":
        p = tmp_path / "d.jsonl"
        p.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    elif fmt == "json_list":
        p = tmp_path / "d.json"
        p.write_text(json.dumps(ROWS))
    elif fmt == "json_object":  # the context-cutoff paper's layout: records under one key
        p = tmp_path / "d.json"
        p.write_text(json.dumps({"version": "1", "data": ROWS}))
    elif fmt == "csv":
        import csv

        p = tmp_path / "d.csv"
        with p.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(ROWS[0]))
            w.writeheader()
            for r in ROWS:
                w.writerow({**r, "answers": "|".join(r["answers"])})
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        p = tmp_path / "d.parquet"
        pq.write_table(pa.Table.from_pylist(ROWS), p)
    else:
        from datasets import Dataset

        p = tmp_path / "hf"
        Dataset.from_list(ROWS).save_to_disk(str(p))
    return p


@pytest.mark.parametrize("fmt", ["jsonl", "json_list", "json_object", "csv", "parquet", "hf"])
def test_every_format_with_mapped_fields_and_evidence_text(tmp_path, fmt):
    data = load_dataset(str(_write(tmp_path, fmt)), fields=FIELDS)
    assert [r.question for r in data] == [r["input"] for r in ROWS]
    assert data[0].answers == ("Gustave Eiffel",)
    for r, row in zip(data, ROWS):
        start, end = r.evidence
        assert r.context[start:end] == row["gold"]


def test_missing_field_names_the_option(tmp_path):
    p = _write(tmp_path, "jsonl")
    with pytest.raises(InternalsError, match=r"--field question=<your field>"):
        load_dataset(str(p))
    with pytest.raises(InternalsError, match="unknown field 'questoin'"):
        load_dataset(str(p), fields={"questoin": "input"})


def test_evidence_text_and_offsets_are_checked(tmp_path):
    def load(row):
        p = tmp_path / "e.jsonl"
        p.write_text(json.dumps({"question": "q?", "context": "a b a c", **row}) + "\n")
        return load_dataset(str(p))

    assert load({"evidence": "b"})[0].evidence == (2, 3)
    with pytest.raises(InternalsError, match="not found in the context"):
        load({"evidence": "zz"})
    with pytest.raises(InternalsError, match="occurs more than once"):
        load({"evidence": "a"})
    assert load({"evidence": "a", "evidence_start": 4, "evidence_end": 5})[0].evidence == (4, 5)
    with pytest.raises(InternalsError, match="not the evidence text"):
        load({"evidence": "c", "evidence_start": 0, "evidence_end": 1})
    with pytest.raises(InternalsError, match="outside its context"):
        load({"evidence_start": 3, "evidence_end": 99})


def test_limit_larger_than_the_split_says_the_real_count(tmp_path, capsys):
    data = load_dataset(str(_write(tmp_path, "jsonl")), limit=60, fields=FIELDS)
    assert len(data) == 2
    assert "asked for 60 records" in capsys.readouterr().err


def test_cli_maps_fields_and_prints_the_schema(tmp_path, capsys):
    p = _write(tmp_path, "json_object")
    assert main(["data", "show", str(p), "--field", "question=input", "--field", "evidence=gold", "--limit", "1"]) == 0
    assert "Who built the Eiffel Tower?" in capsys.readouterr().out
    assert main(["data", "schema"]) == 0
    assert "evidence" in capsys.readouterr().out
    assert main(["data", "show", str(p), "--field", "question"]) == 2
    assert "write ours=yours" in capsys.readouterr().err
