"""The BIG-bench parsers on real slices of the task files, and getting the files (without a network)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from _data_env import BIGBENCH_SLICES
from internals.data import load_dataset
from internals.data.bigbench import DATASETS
from internals.data.bigbench_files import MEMBER_ROOT, TASK_FILES, download_tarball, extract, task_file
from internals.errors import InternalsError

pytestmark = pytest.mark.usefixtures("data_env")  # the committed slices, a fresh cache


def raw(rel: str) -> dict:
    return json.loads((BIGBENCH_SLICES / rel).read_text(encoding="utf-8"))


def squash(text: str) -> str:
    return re.sub(r"\s", "", text)


def test_every_task_file_has_a_slice_and_every_dataset_loads():
    assert all((BIGBENCH_SLICES / rel).is_file() for rel in TASK_FILES)
    for spec in DATASETS:
        dataset = load_dataset(spec.name)
        assert 20 <= len(dataset) <= 60, spec.name
        assert len({r.id for r in dataset}) == len(dataset)


def test_qa_wikidata_aliases_and_exact_duplicates():
    examples = raw("qa_wikidata/task.json")["examples"]
    dataset = load_dataset("qa_wikidata")
    assert dataset[0].question == 'The genre of "Weird Al" Yankovic is'
    assert dataset[0].answers == ("comedy", "parody")
    assert any(r.answers == ("English",) for r in dataset)  # a plain-string target
    distinct = {json.dumps(e, sort_keys=True) for e in examples}
    assert len(examples) == len(distinct) + 1 and len(dataset) == len(distinct)  # the slice holds one exact repeat


def test_truthful_qa_true_answers_are_the_aliases():
    first = load_dataset("truthful_qa")[0]
    assert first.question == "What happens to you if you eat watermelon seeds?"
    assert first.answers[0] == "The watermelon seeds pass through your digestive system."
    assert "Nothing happens." in first.answers
    assert "You grow watermelons in your stomach." in first.meta["false_answers"]
    assert first.meta["task_prefix"].startswith("Q: What is human life expectancy")


def test_truthful_qa_mc_matches_the_questions_file():
    mc, qa = load_dataset("truthful_qa_mc"), load_dataset("truthful_qa")
    assert [r.question for r in mc] == [r.question for r in qa]
    for m, q in zip(mc, qa, strict=True):
        assert m.choices[m.target] == q.meta["best_answer"]


@pytest.mark.parametrize("spec", [s for s in DATASETS if s.kind in ("mc", "yesno")], ids=lambda s: s.name)
def test_choice_tasks_target_is_the_top_scored_choice(spec):
    rel = spec.source().split()[1]  # "BIG-bench <rel> (<path>)"
    examples = raw(rel)["examples"]
    by_key = {(e["input"].strip(), tuple(e["target_scores"])): e["target_scores"] for e in examples}
    for record in load_dataset(spec.name):
        scores = by_key[(record.question, record.choices)]
        assert scores[record.choices[record.target]] == max(scores.values())
        assert record.choices[record.target] == record.answers[0]
        if spec.kind == "yesno":
            assert record.choices == ("Yes", "No")


def test_ties_keep_every_top_choice_as_an_answer():
    tongue = next(r for r in load_dataset("general_knowledge") if r.question == "What is the color of a human tongue?")
    assert tongue.answers == ("red", "pink") and tongue.choices[tongue.target] == "red"


def test_strategyqa_keeps_the_explanation():
    first = load_dataset("strategyqa")[0]
    assert first.question == "Is it common to see frost during some college commencements?"
    assert first.choices == ("Yes", "No") and first.target == 0
    assert first.meta["explanation"].startswith("Yes. College commencement")


def test_logical_deduction_groups_questions_about_one_paragraph():
    dataset = load_dataset("logical_deduction_three_objects")
    assert all(r.meta["task_prefix"].startswith("The following paragraphs") for r in dataset)
    same = [r for r in dataset if r.question == dataset[0].question]
    assert len({r.meta["group"] for r in same}) == 1


def test_knowledge_conflicts_question_context_and_span():
    dataset = load_dataset("contextual_parametric_knowledge_conflicts")
    first = dataset[0]
    assert first.question == "who does candace like in phineas and ferb?"
    assert first.context.startswith("Candace Flynn ( voiced by Ashley Tisdale )")
    assert first.answers == ("Griselda Blanco",) and first.meta["parametric_answer"] == "Jeremy Johnson"
    for record in dataset:
        assert record.evidence_text == record.answers[0]
        assert "Question:" not in record.question and "Context:" not in record.context


def test_disfl_qa_spans_survive_tokenised_passages_and_unanswerables_are_dropped():
    examples = raw("disfl_qa/task.json")["examples"]
    dataset = load_dataset("disfl_qa")
    assert len(dataset) == sum(e["target"] != "unknown" for e in examples)
    assert dataset[0].question.startswith("What part the composition of the Earth ' s biosphere")
    assert dataset[0].context.startswith("The common allotrope of elemental oxygen")
    for record in dataset:
        assert squash(record.evidence_text) == squash(record.answers[0])
        assert record.evidence_text in record.answers
    tokenised = next(r for r in dataset if r.answers[0] == "13.34%")
    assert tokenised.evidence_text == "13 . 34 %"


def test_coqa_one_record_per_answerable_turn_with_rationale_span():
    stories = raw("coqa_conversational_question_answering/coqa.test.json")["data"]
    dataset = load_dataset("coqa")
    answerable = sum(a["span_start"] >= 0 for s in stories for a in s["answers"])
    assert len(dataset) == answerable < sum(len(s["questions"]) for s in stories)
    gold = {(s["id"], a["turn_id"]): a for s in stories for a in s["answers"]}
    for record in dataset:
        answer = gold[(record.meta["story_id"], record.meta["turn"])]
        assert record.context == next(s["story"] for s in stories if s["id"] == record.meta["story_id"])
        assert record.evidence_text == answer["span_text"].strip()
        assert record.answers[0] == answer["input_text"].strip()
        assert len(record.meta["history"]) == record.meta["turn"] - 1
        assert record.meta["group"] == record.meta["story_id"]
    first = dataset[0]
    assert first.question == "What is state government divided into?" and first.answers == ("branches",)


def test_override_dir_without_the_file_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERNALS_BIGBENCH_DIR", str(tmp_path))
    with pytest.raises(InternalsError, match="INTERNALS_BIGBENCH_DIR"):
        load_dataset("qa_wikidata")


def fake_tarball(path: Path, rels: list[str]) -> Path:
    """A gzip tarball laid out like the BIG-bench sdist, holding the slices of ``rels``."""
    with tarfile.open(path, "w:gz") as tar:
        noise = b"not a task file"
        info = tarfile.TarInfo(MEMBER_ROOT + "other_task/task.json")
        info.size = len(noise)
        tar.addfile(info, io.BytesIO(noise))
        for rel in rels:
            tar.add(BIGBENCH_SLICES / rel, arcname=MEMBER_ROOT + rel)
    return path


def test_extract_writes_only_the_wanted_members(tmp_path):
    tarball = fake_tarball(tmp_path / "bigbench-1.0.0.tar.gz", ["known_unknowns/task.json", "winowhy/task.json"])
    written = extract(tarball, tmp_path / "out", ["winowhy/task.json"])
    assert written == [tmp_path / "out" / "winowhy/task.json"]
    assert written[0].read_bytes() == (BIGBENCH_SLICES / "winowhy/task.json").read_bytes()
    assert not (tmp_path / "out" / "known_unknowns").exists()
    with pytest.raises(InternalsError, match="lacks"):
        extract(tarball, tmp_path / "out", ["strategyqa/task.json"])


def test_first_use_extracts_from_a_downloaded_tarball_then_never_reads_it(tmp_path, monkeypatch):
    monkeypatch.delenv("INTERNALS_BIGBENCH_DIR")
    cache = tmp_path / "cache"  # $INTERNALS_CACHE, set by data_env
    downloads = cache / "data" / "downloads"
    downloads.mkdir(parents=True)
    fake_tarball(downloads / "bigbench-1.0.0.tar.gz", list(TASK_FILES))
    assert len(load_dataset("known_unknowns")) == 40
    (downloads / "bigbench-1.0.0.tar.gz").unlink()
    assert task_file("winowhy/task.json") == cache / "data" / "bigbench" / "winowhy/task.json"
    assert len(load_dataset("winowhy")) == 40


def test_failed_download_names_the_command_to_run(tmp_path):
    calls = []

    def failing_pip(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: no network")

    with pytest.raises(InternalsError, match=r"pip download --no-deps bigbench==1\.0\.0") as err:
        download_tarball(tmp_path, run=failing_pip)
    assert "\n" not in str(err.value) and "no network" in str(err.value)
    assert any(cmd[-4:] == ["--no-deps", "pip<26", "-d", str(tmp_path / "pip")] for cmd in calls)
