"""FanOutQA on a real slice of the dev set: multi-hop answers and single-hop sub-questions."""

from __future__ import annotations

import json

import pytest

from _data_env import FANOUTQA_SLICE
from internals.data import load_dataset, split_of
from internals.data.fanoutqa import required_parts, scalar_aliases
from internals.errors import InternalsError

pytestmark = pytest.mark.usefixtures("data_env")  # the committed slices, a fresh cache

QUESTIONS = json.loads(FANOUTQA_SLICE.read_text(encoding="utf-8"))


def leaves(node):
    for child in node["decomposition"]:
        yield from leaves(child) if child["decomposition"] else [child]


def test_multi_hop_questions_keep_every_required_part():
    dataset = load_dataset("fanoutqa")
    assert len(dataset) == len(QUESTIONS)
    first = dataset[0]
    assert first.id == "7dcbbbdc7f1120cd"
    assert first.question == "What is the batting hand of each of the first five picks in the 1998 MLB draft?"
    assert first.answers == (
        "Pat Burrell - Right\nMark Mulder - Left\nCorey Patterson - Left\nJeff Austin - Right\nJD Drew - Left",
    )
    assert first.meta["required"][:4] == ["Pat Burrell", "Right", "Mark Mulder", "Left"]
    assert first.meta["answer"] == QUESTIONS[0]["answer"]


def test_sub_questions_are_the_single_valued_leaves():
    dataset = load_dataset("fanoutqa_sub")
    expected = {leaf["id"] for q in QUESTIONS for leaf in leaves(q) if scalar_aliases(leaf["answer"])}
    assert {r.id for r in dataset} == expected
    skipped = [leaf for q in QUESTIONS for leaf in leaves(q) if isinstance(leaf["answer"], (list, dict))]
    assert skipped and not {leaf["id"] for leaf in skipped} & {r.id for r in dataset}
    burrell = next(r for r in dataset if r.question == "What is the batting hand of Pat Burrell?")
    assert burrell.answers == ("Right",) and burrell.meta["evidence_title"] == "Pat Burrell"
    macau = next(r for r in dataset if r.question == "What is the population of Macau?")  # nested decomposition
    assert macau.answers == ("680000", "680,000")


def test_sub_questions_share_their_parents_split():
    parents = {r.id: split_of(r) for r in load_dataset("fanoutqa")}
    for sub in load_dataset("fanoutqa_sub"):
        assert split_of(sub) == parents[sub.meta["parent_id"]]


@pytest.mark.parametrize(
    "answer, aliases",
    [
        ("Spain", ("Spain",)),
        ("  ", ()),
        (None, ()),
        (True, ("yes",)),
        (False, ("no",)),
        (4, ("4",)),
        (1604898, ("1604898", "1,604,898")),
        (61.6, ("61.6",)),
        (5.0, ("5.0", "5")),
        (["a", "b"], ()),
        ({"a": 1}, ()),
    ],
)
def test_scalar_aliases(answer, aliases):
    assert scalar_aliases(answer) == aliases


def test_required_parts_flatten_lists_and_dicts():
    assert required_parts({"Macau": 680000, "Maldives": [True, "x"]}) == ["Macau", "680000", "Maldives", "yes", "x"]


def test_missing_file_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("INTERNALS_FANOUTQA_FILE", str(tmp_path / "absent.json"))
    with pytest.raises(InternalsError, match="pip install --no-deps fanoutqa==1.1.1"):
        load_dataset("fanoutqa")
