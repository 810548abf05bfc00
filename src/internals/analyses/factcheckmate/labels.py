"""Hallucination labels: greedy closed-book answers judged by lenient exact match, cached on disk.

The label rule is the one of FactCheckmate's public code (scripts/metrics.py, after
lm-eval-harness nq_open): both strings are lowercased, articles and punctuation removed, and the
answer counts as correct when it contains a gold alias or a gold alias contains it. Label 1 means
the model hallucinates (no alias matches), 0 that it answers factually. One deliberate deviation:
an answer that normalises to the empty string is wrong (their `"" in reference` counts it right).

Answers are cached under `cache_dir("factcheckmate", "labels", <key>)`, the key hashing the model
fingerprint, the dataset name, the prompt template (and the tokenizer's chat template) and the
generation settings. `answers.jsonl` gains one line per answered record (so an interrupted run
resumes and a larger sample reuses a smaller one); `manifest.json` records what made them.
Labels are recomputed from the stored answers on every load, so they follow the rule's code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...answers import describe, match
from ...errors import InternalsError
from ...paths import cache_dir
from ...prompts import check_closed_book, prompts_sha256, render, resolve_template
from .generate import GenerationSettings, greedy_answers

RULE = "lenient-em/1: lowercase, drop punctuation and articles, containment either way; empty never matches"
MATCHING = "substring"  # internals.answers: FactCheckmate's public rule (RULE above)


@dataclass
class Labels:
    """Per record (dataset order): `ids`, `answers` (cut at the first stop), `correct` [n] bool.

    `y` [n] int: 1 = hallucination (no gold alias matches), 0 = factual.
    """

    ids: list[str]
    answers: list[str]
    correct: np.ndarray
    manifest: dict = field(default_factory=dict)

    @property
    def y(self) -> np.ndarray:
        return (~self.correct).astype(np.int64)

    @property
    def hallucination_rate(self) -> float:
        return float(self.y.mean()) if len(self.y) else float("nan")


def label_dataset(
    lm,
    dataset,
    template: str = "auto",
    settings: GenerationSettings = GenerationSettings(),
    *,
    progress: bool = True,
    chunk: int = 256,
) -> Labels:
    """Answer every record of `dataset` greedily and label it (reusing cached answers).

    template: "auto" (the model's chat template when it has one, else the base model's
        `internals.prompts.BASE_TEMPLATE` "Question: {question}\\nAnswer:"), "chat", "raw" or a
        format string (see `internals.prompts`); the manifest records the one used.
    chunk: records answered between two appends to the cache (what a kill can lose).
    """
    template = resolve_template(template, lm.tokenizer)
    check_closed_book(dataset, template, getattr(dataset, "name", "this dataset"))
    prompts = render(dataset, template, lm.tokenizer)
    root = label_cache(lm, dataset.name, template, settings)
    rows = _read_rows(root / "answers.jsonl")
    shas = [prompts_sha256([p])[:16] for p in prompts]
    todo = [i for i, r in enumerate(dataset) if rows.get(r.id, {}).get("prompt") != shas[i]]
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        gen = greedy_answers(
            lm, [prompts[i] for i in part], settings, progress=progress, desc=f"answers {start + len(part)}/{len(todo)}"
        )
        lines = []
        for k, i in enumerate(part):
            row = {
                "id": dataset[i].id,
                "prompt": shas[i],
                "answer": gen.text[k],
                "raw": gen.raw[k],
                "n_tokens": gen.n_tokens[k],
            }
            rows[row["id"]] = row
            lines.append(json.dumps(row, ensure_ascii=False))
        with open(root / "answers.jsonl", "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    answers = [rows[r.id]["answer"] for r in dataset]
    correct = np.array([match(a, r.answers, MATCHING) for a, r in zip(answers, dataset)], dtype=bool)
    manifest = _manifest(lm, dataset, template, settings, root)
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return Labels([r.id for r in dataset], answers, correct, manifest)


def label_cache(lm, dataset_name: str, template: str, settings: GenerationSettings) -> Path:
    """The cache dir of one (model, dataset, template, generation settings)."""
    identity = {
        "model": lm.fingerprint,
        "dataset": dataset_name,
        "template": template,
        "chat_template": hashlib.sha256(str(getattr(lm.tokenizer, "chat_template", "")).encode()).hexdigest()[:16]
        if template == "chat"
        else None,
        "generation": settings.identity(),
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    root = cache_dir("factcheckmate", "labels", key)
    (root / "identity.json").write_text(json.dumps(identity, indent=2) + "\n")
    return root


def _manifest(lm, dataset, template: str, settings: GenerationSettings, root: Path) -> dict:
    from ...store import package_versions

    return {
        "model": lm.describe(),
        "dataset": {
            "name": dataset.name,
            "split": dataset.split,
            "n": len(dataset),
            "fingerprint": dataset.fingerprint,
            "source": dataset.source,
        },
        "template": template,
        "generation": settings.identity(),
        "rule": RULE,
        "answers": describe("paper", MATCHING),
        "cache": str(root),
        "versions": package_versions(),
    }


def _read_rows(path: Path) -> dict[str, dict]:
    """id -> row of answers.jsonl; a torn last line (a killed write) is ignored."""
    rows: dict[str, dict] = {}
    if not path.exists():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "id" in row:
            rows[row["id"]] = row
    return rows


def check_both_classes(labels: Labels, what: str) -> None:
    """A probe needs factual and hallucinated examples: say so when one class is missing."""
    n_pos = int(labels.y.sum())
    if n_pos == 0 or n_pos == len(labels.y):
        kind = "hallucinated" if n_pos else "factual"
        raise InternalsError(
            f"{what}: every one of {len(labels.y)} answers is {kind}; a probe needs both "
            "classes: use more questions or another dataset"
        )
