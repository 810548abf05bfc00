"""Any BIG-bench task by name (`bigbench:<task>`), with its prefix, choices and scores kept; the
curated names stay aliases; multiple-choice records are not asked closed-book with hidden options."""

from __future__ import annotations

import json

import pytest

from internals import InternalsError
from internals.cli import main
from internals.data import list_datasets, load_dataset
from internals.prompts import check_closed_book, render

pytestmark = pytest.mark.usefixtures("data_env")  # the committed slices, a fresh cache


def test_any_task_by_name_keeps_prefix_choices_and_scores(tmp_path, monkeypatch):
    root = tmp_path / "bb"
    (root / "made_up" / "sub_a").mkdir(parents=True)
    task = {
        "name": "sub_a",
        "task_prefix": "Answer the riddle.\n",
        "examples": [
            {"input": "What has keys but no locks?", "target_scores": {"a map": 0, "a piano": 1}},
            {"input": "What runs but never walks?", "target": ["a river", "water"]},
            {"input": "", "target": "skipped"},
        ],
    }
    (root / "made_up" / "sub_a" / "task.json").write_text(json.dumps(task))
    monkeypatch.setenv("INTERNALS_BIGBENCH_DIR", str(root))
    data = load_dataset("bigbench:made_up/sub_a")
    assert len(data) == 2
    mc, qa = data
    assert (
        mc.choices == ("a map", "a piano") and mc.target == 1 and mc.meta["target_scores"] == {"a map": 0, "a piano": 1}
    )
    assert qa.answers == ("a river", "water") and qa.choices is None
    assert all(r.meta["task_prefix"] == "Answer the riddle.\n" for r in data)
    assert render([mc], "{task_prefix}{question}\n{options}", None)[0].endswith(
        "keys but no locks?\nA. a map\nB. a piano"
    )
    names = [d.name for d in list_datasets(sizes=False, all_tasks=True)]
    assert "bigbench:made_up/sub_a" in names
    with pytest.raises(InternalsError, match="it has bigbench:made_up/sub_a"):
        load_dataset("bigbench:made_up")


def test_curated_names_are_aliases():
    assert [r.id for r in load_dataset("bigbench:qa_wikidata")] == [r.id for r in load_dataset("qa_wikidata")]


def test_multiple_choice_is_not_asked_closed_book_with_hidden_options():
    data = load_dataset("hindu_knowledge")
    with pytest.raises(InternalsError, match="multiple choice .*options would be hidden"):
        check_closed_book(data, "raw", data.name)
    check_closed_book(data, "{question}\n{options}\nAnswer:", data.name)
    check_closed_book(load_dataset("qa_wikidata"), "raw", "qa_wikidata")


def test_data_list_all_through_the_cli(capsys):
    assert main(["data", "list", "--all"]) == 0
    out = capsys.readouterr().out
    assert "bigbench:qa_wikidata" in out and "bigbench:hindu_knowledge" in out
