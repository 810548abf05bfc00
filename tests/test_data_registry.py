"""Finding datasets by name, seeded splits, limits, and the errors a user can meet."""

from __future__ import annotations

import pytest

from internals.data import Dataset, list_datasets, load_dataset, split_of
from internals.data.spec import KINDS
from internals.errors import InternalsError

pytestmark = pytest.mark.usefixtures("data_env")  # the committed slices, a fresh cache

SPLITS = ("train", "validation", "test")


def test_list_datasets_names_kinds_and_cached_sizes():
    infos = {i.name: i for i in list_datasets()}
    assert {
        "qa_wikidata",
        "truthful_qa",
        "truthful_qa_mc",
        "known_unknowns",
        "disfl_qa",
        "coqa",
        "contextual_parametric_knowledge_conflicts",
        "strategyqa",
        "winowhy",
        "sports_understanding",
        "general_knowledge",
        "hindu_knowledge",
        "physical_intuition",
        "date_understanding",
        "causal_judgment",
        "logical_deduction_three_objects",
        "fanoutqa",
        "fanoutqa_sub",
    } <= set(infos)
    assert all(i.kind in KINDS and i.description and i.licence for i in infos.values())
    assert infos["coqa"].kind == "context_qa" and infos["strategyqa"].kind == "yesno"
    assert infos["known_unknowns"].size == 40
    assert all(i.size is None for i in list_datasets(sizes=False))


def test_splits_partition_the_dataset():
    full = load_dataset("qa_wikidata")
    parts = {s: load_dataset("qa_wikidata", split=s) for s in SPLITS}
    ids = [{r.id for r in parts[s]} for s in SPLITS]
    assert sum(map(len, ids)) == len(full) and set().union(*ids) == {r.id for r in full}
    assert all(parts[s].split == s for s in SPLITS)
    assert len(parts["train"]) > len(parts["validation"])


def test_split_is_stable_across_calls_and_growth_and_changes_with_seed():
    full = load_dataset("contextual_parametric_knowledge_conflicts")
    assert [split_of(r) for r in full] == [split_of(r) for r in load_dataset(full.name)]
    grown = Dataset("grown", list(full) + list(load_dataset("disfl_qa")))
    assert [split_of(r) for r in grown][: len(full)] == [split_of(r) for r in full]
    assert [split_of(r, seed=1) for r in full] != [split_of(r) for r in full]


def test_split_keeps_a_group_together():
    coqa = load_dataset("coqa")
    by_story = {}
    for record in coqa:
        by_story.setdefault(record.meta["story_id"], set()).add(split_of(record))
    assert all(len(splits) == 1 for splits in by_story.values())


def test_split_fractions_are_about_80_10_10():
    from internals.data import Record

    records = [Record(f"r{i}", "q") for i in range(20000)]
    shares = {s: sum(split_of(r) == s for r in records) / len(records) for s in SPLITS}
    assert abs(shares["train"] - 0.8) < 0.01 and abs(shares["validation"] - 0.1) < 0.01


def test_limit_is_a_deterministic_sample_in_source_order():
    full = load_dataset("winowhy")
    ten = load_dataset("winowhy", limit=10)
    assert len(ten) == 10 and list(ten) == list(load_dataset("winowhy", limit=10))
    positions = [list(full).index(r) for r in ten]
    assert positions == sorted(positions) and positions != list(range(10))  # not just a file-order prefix
    assert {r.id for r in load_dataset("winowhy", limit=5)} <= {r.id for r in ten}
    assert list(load_dataset("winowhy", limit=10, seed=1)) != list(ten)
    assert len(load_dataset("winowhy", limit=10_000)) == len(full)
    train = load_dataset("winowhy", split="train", limit=4)
    assert all(split_of(r) == "train" for r in train)


def test_unknown_dataset_lists_the_known_names():
    with pytest.raises(InternalsError, match="unknown dataset 'nope': use one of qa_wikidata, .*fanoutqa_sub") as err:
        load_dataset("nope")
    assert "\n" not in str(err.value)


def test_empty_results_and_bad_arguments():
    with pytest.raises(InternalsError, match="dataset qa_wikidata is empty"):
        load_dataset("qa_wikidata", limit=0)
    with pytest.raises(InternalsError, match="unknown split"):
        load_dataset("qa_wikidata", split="dev")
    with pytest.raises(InternalsError, match="limit"):
        load_dataset("qa_wikidata", limit=-1)


def test_fingerprint_is_stable_and_content_sensitive():
    a, b = load_dataset("truthful_qa"), load_dataset("truthful_qa")
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 16
    assert a[:5].fingerprint != a.fingerprint
    assert load_dataset("truthful_qa", split="test").fingerprint != a.fingerprint
