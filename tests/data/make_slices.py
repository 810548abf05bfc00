"""Rebuild the committed test slices from the full task files (run once by hand, not by pytest).

    python tests/data/make_slices.py [BIGBENCH_DIR] [FANOUTQA_FILE]

Defaults: the extracted BIG-bench files in the user cache and the installed fanoutqa wheel's
dev set. Each slice keeps the original file's layout and header (so the real parsers run on
it) and a deterministic choice of examples: evenly spaced ones plus a few edge cases that
the tests rely on (ties, duplicates, unanswerable questions).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from internals.data.bigbench_files import TASK_FILES, task_file
from internals.data.fanoutqa import data_path

HERE = Path(__file__).parent
N = 40

Pick = Callable[[dict[str, Any]], bool]


def spaced(n_total: int, n: int = N) -> list[int]:
    """``n`` indices spread evenly over ``range(n_total)``, first and last included."""
    if n_total <= n:
        return list(range(n_total))
    return sorted({round(i * (n_total - 1) / (n - 1)) for i in range(n)})


def first_duplicate_pair(examples: list[dict[str, Any]]) -> list[int]:
    """Indices of the first example that repeats an earlier one exactly, and of that earlier one."""
    seen: dict[str, int] = {}
    for i, ex in enumerate(examples):
        key = json.dumps(ex, sort_keys=True)
        if key in seen:
            return [seen[key], i]
        seen[key] = i
    return []


def has_tie(ex: dict[str, Any]) -> bool:
    scores = list(ex.get("target_scores", {}).values())
    return bool(scores) and scores.count(max(scores)) > 1


EXTRA: dict[str, Pick] = {
    "general_knowledge/task.json": has_tie,
    "hindu_knowledge/task.json": has_tie,
    "contextual_parametric_knowledge_conflicts/task.json": lambda ex: len(ex["target_scores"]) == 1,
    "disfl_qa/task.json": lambda ex: ex["target"] == "unknown" and "unknown" in ex["input"].split("\ncontext:")[1],
}


def slice_examples(rel: str, examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keep = set(spaced(len(examples)))
    if rel in EXTRA:
        keep |= {next(i for i, ex in enumerate(examples) if EXTRA[rel](ex))}
    if rel == "qa_wikidata/task.json":
        keep |= set(first_duplicate_pair(examples))
    return [examples[i] for i in sorted(keep)]


def slice_coqa(data: dict[str, Any]) -> dict[str, Any]:
    """One story per openly licensed source (Wikipedia, Gutenberg, CNN): the first with an unanswerable turn."""
    stories = []
    for source in ("wikipedia", "gutenberg", "cnn"):
        stories.append(
            next(s for s in data["data"] if s["source"] == source and any(a["span_start"] < 0 for a in s["answers"]))
        )
    return {**data, "data": stories}


def slice_fanoutqa(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """20 evenly spaced questions, plus the first with a nested decomposition and the first
    with a yes/no and with a decimal sub-answer."""
    keep = set(spaced(len(questions), 20))
    keep.add(next(i for i, q in enumerate(questions) if any(d["decomposition"] for d in q["decomposition"])))
    for kind in (bool, float):
        keep.add(next(i for i, q in enumerate(questions) if any(type(d["answer"]) is kind for d in q["decomposition"])))
    return [questions[i] for i in sorted(keep)]


def write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(bigbench_dir: str | None = None, fanoutqa_file: str | None = None) -> None:
    counts: Counter[str] = Counter()
    for rel in TASK_FILES:
        src = Path(bigbench_dir) / rel if bigbench_dir else task_file(rel)
        data = json.loads(src.read_text(encoding="utf-8"))
        if "data" in data:
            out = slice_coqa(data)
            counts[rel] = len(out["data"])
        else:
            out = {**data, "examples": slice_examples(rel, data["examples"])}
            counts[rel] = len(out["examples"])
        write(HERE / "bigbench" / rel, out)
    src = Path(fanoutqa_file) if fanoutqa_file else data_path()
    questions = slice_fanoutqa(json.loads(src.read_text(encoding="utf-8")))
    write(HERE / "fanoutqa" / "fanout-final-dev.json", questions)
    counts["fanoutqa"] = len(questions)
    for rel, n in counts.items():
        print(f"{rel}: {n}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
