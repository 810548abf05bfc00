"""BIG-bench tasks as records: one parser per file format, one `DatasetSpec` per task.

Files come from `internals.data.bigbench_files` (downloaded once, or ``$INTERNALS_BIGBENCH_DIR``).
Record counts on the full BIG-bench 1.0.0 files, as printed by this code (exact duplicates
dropped; context tasks keep only examples whose answer is found in the passage):

    qa_wikidata                                20321  (20442 examples, 121 exact repeats)
    truthful_qa                                  299
    truthful_qa_mc                               299
    known_unknowns                                46
    contextual_parametric_knowledge_conflicts  17528
    disfl_qa                                    5893  (8000 examples, 2107 unanswerable)
    coqa                                       10852  (10930 questions in 700 stories, 78 without rationale)
    strategyqa                                  2289  (2290 examples, 1 exact repeat)
    winowhy                                     2862  (2865 examples, 3 exact repeats)
    sports_understanding                         986  (1000 examples, 14 exact repeats)
    general_knowledge                             70
    hindu_knowledge                              175
    physical_intuition                            81
    date_understanding                           369
    causal_judgment                              190
    logical_deduction_three_objects              300
    logical_deduction_five_objects               500
    logical_deduction_seven_objects              700
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import InternalsError
from .bigbench_files import is_cached, task_file, task_path
from .records import Record, content_id, unique
from .spans import find_span
from .spec import DatasetSpec

BIGBENCH = "Apache-2.0 (BIG-bench)"


def read_task(path: Path) -> dict[str, Any]:
    """The parsed JSON of a BIG-bench task file, checked to be one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InternalsError(f"{path} is not readable JSON ({exc}): delete it to fetch it again") from exc
    if not isinstance(data, dict) or not isinstance(data.get("examples", data.get("data")), list):
        raise InternalsError(f"{path} is not a BIG-bench task file: delete it to fetch it again")
    return data


def _aliases(values: Any) -> tuple[str, ...]:
    """Non-empty, stripped, de-duplicated strings, in order."""
    items = values if isinstance(values, list) else [values]
    out: list[str] = []
    for item in items:
        text = str(item).strip()
        if text and text not in out:
            out.append(text)
    return tuple(out)


def _prompt_meta(task: dict[str, Any]) -> dict[str, str]:
    """The task-level prompt pieces BIG-bench wraps every example with, when the task has any."""
    meta = {}
    if task.get("task_prefix", "").strip():
        meta["task_prefix"] = task["task_prefix"]
    if task.get("example_output_prefix", "").strip():
        meta["output_prefix"] = task["example_output_prefix"]
    return meta


def parse_qa_wikidata(path: Path, name: str = "qa_wikidata") -> list[Record]:
    """Sentences to complete ("The genre of X is") with their target aliases."""
    records = []
    for ex in read_task(path)["examples"]:
        question, answers = ex["input"].strip(), _aliases(ex["target"])
        records.append(Record(content_id(name, question, answers), question, answers, meta={"task": name}))
    return unique(records)


def parse_truthful_qa(path: Path, name: str = "truthful_qa") -> list[Record]:
    """questions.json: each question with its true answers as aliases (the best answer first)."""
    data = read_task(path)
    records = []
    for ex in data["examples"]:
        question = ex["Question"].strip()
        answers = _aliases([ex["Best answer"], *ex["True answers"]])
        meta = {
            "task": name,
            "category": ex["Category"],
            "best_answer": ex["Best answer"],
            "false_answers": list(ex["False answers"]),
        }
        if data.get("prefix"):
            meta["task_prefix"] = data["prefix"]
        records.append(Record(content_id(name, question), question, answers, meta=meta))
    return unique(records)


def parse_choice_task(path: Path, name: str) -> list[Record]:
    """Any task scored by ``target_scores``: choices in file order, ``target`` = argmax score.

    ``answers`` holds every top-scoring choice (two tasks have an example with a tie; the
    first is the target). The question text is grouped on, so examples that share it
    (logical_deduction asks several questions about one paragraph) share a split.
    """
    task = read_task(path)
    return unique([_choice_record(ex, name, task) for ex in task["examples"]])


def _choice_record(ex: dict[str, Any], name: str, task: dict[str, Any]) -> Record:
    scores: dict[str, float] = ex["target_scores"]
    choices = tuple(str(c).strip() for c in scores)
    best = max(scores.values())
    target = next(i for i, v in enumerate(scores.values()) if v == best)
    answers = tuple(c for c, v in zip(choices, scores.values(), strict=True) if v == best)
    question = ex["input"].strip()
    meta: dict[str, Any] = {"task": name, "group": content_id("q", question), **_prompt_meta(task)}
    if isinstance(ex.get("target"), str):
        meta["explanation"] = ex["target"]
    if ex.get("comment"):
        meta["comment"] = ex["comment"]
    return Record(
        content_id(name, question, choices, target), question, answers, choices=choices, target=target, meta=meta
    )


def parse_any(path: Path, name: str) -> list[Record]:
    """Any BIG-bench JSON task (`bigbench:<task>`): examples with ``target_scores`` become multiple
    choice records (choices in file order, target = argmax, the scores kept in meta); the others
    question-answer records whose aliases are ``target``. The task's ``task_prefix`` and example
    prefixes are kept in every record's meta (for some tasks the prefix is the question: a template
    such as "{task_prefix}{question}" shows it). Examples without an input are skipped."""
    task = read_task(path)
    records = []
    for ex in task.get("examples", []):
        question = str(ex.get("input", "")).strip()
        if not question:
            continue
        if isinstance(ex.get("target_scores"), dict) and ex["target_scores"]:
            record = _choice_record(ex, name, task)
            record.meta["target_scores"] = {str(k): v for k, v in ex["target_scores"].items()}
        else:
            answers = _aliases(ex.get("target", []))
            meta: dict[str, Any] = {"task": name, **_prompt_meta(task)}
            if ex.get("comment"):
                meta["comment"] = ex["comment"]
            record = Record(content_id(name, question, answers), question, answers, meta=meta)
        records.append(record)
    return unique(records)


_CPKC = re.compile(r"\s*Question:\s*(?P<q>.*?)\s*\nContext:\s*(?P<c>.*?)\s*", re.S)


def parse_knowledge_conflicts(path: Path, name: str = "contextual_parametric_knowledge_conflicts") -> list[Record]:
    """ "Question: ... Context: ..." inputs: the gold answer is the one the (edited) passage states.

    ``meta["parametric_answer"]`` is the other scored option: the real-world answer the
    passage was edited away from.
    """
    records = []
    for ex in read_task(path)["examples"]:
        match = _CPKC.fullmatch(ex["input"])
        if match is None:
            raise InternalsError(
                f"{path}: an input lacks the 'Question: ... Context: ...' layout; delete the file to fetch it again"
            )
        question, context, answer = match["q"], match["c"], ex["target"].strip()
        span = find_span(answer, context)
        if span is None:
            continue
        others = [c for c in ex.get("target_scores", {}) if c.strip() != answer]
        meta: dict[str, Any] = {"task": name, "group": content_id("ctx", context)}
        if others:
            meta["parametric_answer"] = others[0]
        records.append(
            Record(
                content_id(name, question, context, answer),
                question,
                (answer,),
                context=context,
                evidence=span,
                meta=meta,
            )
        )
    return unique(records)


def parse_disfl_qa(path: Path, name: str = "disfl_qa") -> list[Record]:
    """Disfluent questions over (tokenised) SQuAD passages; unanswerable ones ("unknown") are dropped.

    Passages are tokenised ("40 , 000") and answers are not ("40,000"): the span is found
    ignoring whitespace, and the passage's spelling is added as a second alias.
    """
    records = []
    for ex in read_task(path)["examples"]:
        question, _, context = ex["input"].partition("\ncontext:")
        question, context, answer = question.strip(), context.strip(), ex["target"].strip()
        # "unknown" marks SQuAD 2.0's unanswerable questions; the word itself occurs in some passages
        span = None if answer.lower() == "unknown" else find_span(answer, context)
        if span is None:
            continue
        answers = _aliases([answer, context[span[0] : span[1]]])
        records.append(
            Record(
                content_id(name, question, context, answer),
                question,
                answers,
                context=context,
                evidence=span,
                meta={"task": name, "group": content_id("ctx", context)},
            )
        )
    return unique(records)


def parse_coqa(path: Path, name: str = "coqa") -> list[Record]:
    """coqa.test.json: one record per question, the story as context, the rationale as evidence.

    Answers are free-form ("Walt Disney.") with the other annotators' answers as more
    aliases. Questions are conversational ("who created him?"): ``meta["history"]`` holds
    the earlier turns as [question, answer] pairs. Turns whose rationale is missing
    (span -1, answer "unknown") are dropped. The story is the split unit.
    """
    records = []
    for story in read_task(path)["data"]:
        text = story["story"]
        extra = story.get("additional_answers", {})
        history: list[list[str]] = []
        for q, a in zip(story["questions"], story["answers"], strict=True):
            question, turn = q["input_text"].strip(), q["turn_id"]
            if a["span_start"] >= 0:
                start, end = a["span_start"], a["span_end"]
                raw = text[start:end]
                start += len(raw) - len(raw.lstrip())
                end -= len(raw) - len(raw.rstrip())
                more = [b["input_text"] for answers in extra.values() for b in answers if b["turn_id"] == turn]
                answers = tuple(x for x in _aliases([a["input_text"], *more]) if x.lower() != "unknown")
                meta = {
                    "task": name,
                    "story_id": story["id"],
                    "turn": turn,
                    "source": story["source"],
                    "history": [list(h) for h in history],
                    "group": story["id"],
                }
                records.append(
                    Record(
                        f"{name}-{story['id']}-{turn}",
                        question,
                        answers,
                        context=text,
                        evidence=(start, end),
                        meta=meta,
                    )
                )
            history.append([question, a["input_text"]])
    return unique(records)


def _spec(
    name: str, kind: str, rel: str, parser: Callable[[Path, str], list[Record]], description: str, licence: str
) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        kind=kind,
        description=description,
        licence=licence,
        load=lambda: parser(task_file(rel), name),
        source=lambda: f"BIG-bench {rel} ({task_path(rel)})",
        cached=partial(is_cached, rel),
    )


def _choice(name: str, rel: str, description: str, kind: str = "mc", licence: str = BIGBENCH) -> DatasetSpec:
    return _spec(name, kind, rel, parse_choice_task, description, licence)


PREFIX = "bigbench:"


def task_name(rel: str) -> str:
    """`bigbench:<task>` (or `bigbench:<task>/<subtask>`) for a task file path in the sdist."""
    return PREFIX + rel.removesuffix("/task.json").removesuffix(".json")


def any_task(name: str) -> DatasetSpec:
    """The spec of `bigbench:<task>`: a curated name keeps its own parser (`bigbench:qa_wikidata`
    is `qa_wikidata`); every other JSON task of the sdist is read by `parse_any`."""
    from .bigbench_files import task_index

    short = name.removeprefix(PREFIX)
    curated = {s.name: s for s in DATASETS}
    if short in curated:
        return curated[short]
    index = task_index()
    rel = next((r for r in (f"{short}/task.json", f"{short}.json") if r in index), None)
    if rel is None:
        near = sorted(task_name(r) for r in index if r.split("/")[0] == short.split("/")[0])[:6]
        hint = f": it has {', '.join(near)}" if near else ": `internals data list --all` lists every task"
        raise InternalsError(f"no BIG-bench task {short!r}{hint}")
    info = index[rel]
    return _spec(
        name,
        "mc" if info["choices"] else "qa",
        rel,
        parse_any,
        f"BIG-bench {short} ({info['examples']} examples)",
        BIGBENCH,
    )


DATASETS: tuple[DatasetSpec, ...] = (
    _spec(
        "qa_wikidata",
        "qa",
        "qa_wikidata/task.json",
        parse_qa_wikidata,
        "Closed-book Wikidata facts: complete a sentence, target aliases",
        BIGBENCH,
    ),
    _spec(
        "truthful_qa",
        "qa",
        "truthful_qa/questions.json",
        parse_truthful_qa,
        "TruthfulQA questions with their true answers as aliases",
        "Apache-2.0 (TruthfulQA)",
    ),
    _choice(
        "truthful_qa_mc",
        "truthful_qa/task_mc.json",
        "TruthfulQA multiple choice (the file lists the right answer first)",
        licence="Apache-2.0 (TruthfulQA)",
    ),
    _choice("known_unknowns", "known_unknowns/task.json", "Questions whose answer may be 'Unknown': abstention"),
    _spec(
        "contextual_parametric_knowledge_conflicts",
        "context_qa",
        "contextual_parametric_knowledge_conflicts/task.json",
        parse_knowledge_conflicts,
        "Natural Questions with passages edited to contradict world knowledge",
        "Apache-2.0 (BIG-bench); passages from Natural Questions, CC BY-SA 3.0",
    ),
    _spec(
        "disfl_qa",
        "context_qa",
        "disfl_qa/task.json",
        parse_disfl_qa,
        "Disfluent questions over SQuAD 2.0 passages (answerable ones)",
        "CC BY 4.0 (Disfl-QA); passages from SQuAD 2.0, CC BY-SA 4.0",
    ),
    _spec(
        "coqa",
        "context_qa",
        "coqa_conversational_question_answering/coqa.test.json",
        parse_coqa,
        "CoQA conversational questions over stories, rationale spans",
        "CoQA: per story source (Wikipedia, Gutenberg CC BY-SA 4.0; CNN Apache-2.0; MCTest MSR-LA; RACE own)",
    ),
    _choice(
        "strategyqa",
        "strategyqa/task.json",
        "Yes/no questions needing implicit multi-step reasoning",
        kind="yesno",
        licence="Apache-2.0 (BIG-bench); StrategyQA MIT",
    ),
    _choice("winowhy", "winowhy/task.json", "Is the reason given for a Winograd schema answer correct?"),
    _choice("sports_understanding", "sports_understanding/task.json", "Is a sports sentence plausible?"),
    _choice("general_knowledge", "general_knowledge/task.json", "Basic general-knowledge questions"),
    _choice("hindu_knowledge", "hindu_knowledge/task.json", "Questions about Hindu mythology"),
    _choice("physical_intuition", "physical_intuition/task.json", "Physical mechanisms and behaviour"),
    _choice(
        "date_understanding",
        "date_understanding/task.json",
        "Infer a date from context (the file mostly lists the right answer first)",
    ),
    _choice(
        "causal_judgment", "causal_judgment/task.json", "How would a typical person judge causation?", kind="yesno"
    ),
    _choice(
        "logical_deduction_three_objects",
        "logical_deduction/three_objects/task.json",
        "Order three objects from constraints",
    ),
    _choice(
        "logical_deduction_five_objects",
        "logical_deduction/five_objects/task.json",
        "Order five objects from constraints",
    ),
    _choice(
        "logical_deduction_seven_objects",
        "logical_deduction/seven_objects/task.json",
        "Order seven objects from constraints",
    ),
)
"""Every BIG-bench dataset, in the order `list_datasets` shows them."""
