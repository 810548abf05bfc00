"""Record validation and helpers, and the Dataset sequence."""

from __future__ import annotations

import json

import pytest

from internals.data import Dataset, Record, load_dataset
from internals.data.spans import find_span
from internals.errors import InternalsError

pytestmark = pytest.mark.usefixtures("data_env")  # the committed slices, a fresh cache


def test_record_is_frozen_and_hashable():
    record = Record("a", "q?", ("x",), meta={"k": [1]})
    with pytest.raises(AttributeError):
        record.question = "other"  # type: ignore[misc]
    assert hash(record) == hash(Record("a", "q?", ("x",), meta={"k": [2]}))


def test_record_rejects_bad_evidence_and_target():
    with pytest.raises(InternalsError, match="outside its context"):
        Record("a", "q", context="abc", evidence=(2, 5))
    with pytest.raises(InternalsError, match="outside its context"):
        Record("a", "q", evidence=(0, 0))
    with pytest.raises(InternalsError, match="not an index"):
        Record("a", "q", choices=("x",), target=1)


def test_shuffled_choices_moves_the_target_with_the_answer():
    for record in load_dataset("truthful_qa_mc"):
        shuffled = record.shuffled_choices(seed=3)
        assert sorted(shuffled.choices) == sorted(record.choices)
        assert shuffled.choices[shuffled.target] == record.choices[record.target]
        assert shuffled == record.shuffled_choices(seed=3)
    targets = {r.shuffled_choices().target for r in load_dataset("truthful_qa_mc")}
    assert len(targets) > 1  # the file always lists the right answer first; shuffled, it is not


def test_find_span_exact_then_whitespace_tolerant():
    assert find_span("Rome", "From Rome to Rome") == (5, 9)
    context = "about 75 , 000 people"
    start, end = find_span("about 75,000", context)
    assert context[start:end] == "about 75 , 000"
    assert find_span("Paris", context) is None and find_span(" ", context) is None


def test_dataset_sequence_and_jsonl(tmp_path):
    dataset = load_dataset("known_unknowns")
    assert len(dataset) == 40 and dataset[0] is list(dataset)[0]
    head = dataset[:3]
    assert isinstance(head, Dataset) and len(head) == 3 and head.name == "known_unknowns"
    assert "known_unknowns" in repr(dataset) and dataset.source.startswith("BIG-bench known_unknowns/task.json")
    lines = dataset.to_jsonl(tmp_path / "out" / "ku.jsonl").read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[0])
    assert len(lines) == 40 and row["question"] == dataset[0].question
    assert row["choices"] == list(dataset[0].choices) and row["target"] == dataset[0].target
