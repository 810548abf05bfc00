"""The user's own JSONL and CSV files: fields, errors that name the line, round trips."""

from __future__ import annotations

import csv
import json

import pytest

from internals.data import Record, load_dataset
from internals.data.files import write_csv
from internals.errors import InternalsError

pytestmark = pytest.mark.usefixtures("data_env")  # the committed slices, a fresh cache


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_jsonl_fields(tmp_path):
    path = write_jsonl(
        tmp_path / "mine.jsonl",
        [
            {"question": "Capital of France?", "answers": "Paris|City of Light"},
            {
                "question": "Where is it?",
                "context": "It is in Rome.",
                "evidence_start": 9,
                "evidence_end": 13,
                "answers": ["Rome"],
                "id": "q2",
                "topic": "geo",
            },
            {"question": "2+2?", "choices": ["3", "4"], "target": 1, "meta": {"level": "easy"}},
            {"question": "Sky?", "choices": "red|blue", "target": "blue"},
        ],
    )
    dataset = load_dataset(str(path))
    assert dataset.name == "mine" and dataset.source == str(path.resolve())
    assert dataset[0].answers == ("Paris", "City of Light") and dataset[0].id.startswith("mine-")
    assert dataset[1].id == "q2" and dataset[1].evidence_text == "Rome" and dataset[1].meta == {"topic": "geo"}
    assert dataset[2].choices == ("3", "4") and dataset[2].target == 1 and dataset[2].meta == {"level": "easy"}
    assert dataset[3].target == 1


def test_malformed_jsonl_line_is_named(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "ok?"}\n\n{"question": "broken\n', encoding="utf-8")
    with pytest.raises(InternalsError, match=r"bad\.jsonl, line 3: not valid JSON") as err:
        load_dataset(str(path))
    assert "\n" not in str(err.value)


def test_missing_question_is_named(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [{"question": "fine?"}, {"answers": ["x"]}])
    with pytest.raises(InternalsError, match=r"q\.jsonl, line 2: no 'question' field"):
        load_dataset(str(path))
    csv_path = tmp_path / "q.csv"
    csv_path.write_text("question,answers\nfine?,x\n,y\n", encoding="utf-8")
    with pytest.raises(InternalsError, match=r"q\.csv, line 3: no 'question' field"):
        load_dataset(str(csv_path))


@pytest.mark.parametrize(
    "row, message",
    [
        ({"question": "q", "context": "abc", "evidence_start": 1, "evidence_end": 9}, "outside its context"),
        ({"question": "q", "evidence_start": 1}, "evidence_start and evidence_end"),
        ({"question": "q", "choices": ["a"], "target": 3}, "not an index"),
        ({"question": "q", "choices": ["a"], "target": "z"}, "neither an index nor one of the choices"),
        ({"question": "q", "target": 0}, "'target' needs 'choices'"),
        ({"question": "q", "meta": "nope"}, "'meta' must be a JSON object"),
    ],
)
def test_invalid_fields_name_the_line(tmp_path, row, message):
    path = write_jsonl(tmp_path / "f.jsonl", [{"question": "fine"}, row])
    with pytest.raises(InternalsError, match=message) as err:
        load_dataset(str(path))
    assert "f.jsonl, line 2" in str(err.value)


def test_repeated_id_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "ids.jsonl", [{"question": "a", "id": "x"}, {"question": "b", "id": "x"}])
    with pytest.raises(InternalsError, match="line 2: id 'x' repeats line 1"):
        load_dataset(str(path))


def test_csv_with_pipes_and_json_lists(tmp_path):
    path = tmp_path / "mine.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["question", "answers", "choices", "target", "note"])
        writer.writerow(["Which?", '["a|b", "c"]', "yes|no", "0", "hello"])
        writer.writerow(["Multi\nline?", "x | y", "", "", ""])
    dataset = load_dataset(str(path))
    assert dataset[0].answers == ("a|b", "c") and dataset[0].choices == ("yes", "no") and dataset[0].target == 0
    assert dataset[0].meta == {"note": "hello"}
    assert dataset[1].question == "Multi\nline?" and dataset[1].answers == ("x", "y")


def round_trip_records():
    """Real-shaped records: one of every kind, including a context with evidence and nested meta."""
    coqa = next(iter(load_dataset("coqa")))
    return [
        coqa,
        load_dataset("strategyqa")[0],
        load_dataset("qa_wikidata")[0],
        load_dataset("fanoutqa")[0],
        Record("odd", 'A "quoted", comma; and | pipe?', ("a|b", "c"), choices=("x|y", "z"), target=1),
    ]


def test_jsonl_round_trip(tmp_path):
    records = round_trip_records()
    original = load_dataset("coqa", limit=5)
    path = original.to_jsonl(tmp_path / "coqa.jsonl")
    again = load_dataset(str(path))
    assert list(again) == list(original) and again.fingerprint == original.fingerprint
    from internals.data import Dataset

    path = Dataset("mixed", records).to_jsonl(tmp_path / "mixed.jsonl")
    assert list(load_dataset(str(path))) == records


def test_csv_round_trip(tmp_path):
    records = round_trip_records()
    path = write_csv(records, tmp_path / "mixed.csv")
    assert list(load_dataset(str(path))) == records


def test_empty_file_is_an_empty_dataset_error(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(InternalsError, match="dataset empty is empty"):
        load_dataset(str(path))
    header_only = tmp_path / "header.csv"
    header_only.write_text("question,answers\n", encoding="utf-8")
    with pytest.raises(InternalsError, match="dataset header is empty"):
        load_dataset(str(header_only))


def test_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(InternalsError, match="not found"):
        load_dataset(str(tmp_path / "nope.jsonl"))
    with pytest.raises(InternalsError, match="not found"):
        load_dataset(str(tmp_path / "data.parquet"))  # a supported format, but no such file
    with pytest.raises(InternalsError, match="unknown dataset"):
        load_dataset(str(tmp_path / "data.xlsx"))
