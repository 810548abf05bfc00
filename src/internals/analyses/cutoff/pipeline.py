"""The cutoff run end to end: build examples, read them (features cached on disk), train, evaluate.

`train_cutoff_probes` and `evaluate_cutoff` are what `internals cutoff train/eval` and benchmarks/context_cutoff.py call.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ...answers import describe, match
from ...errors import InternalsError
from ...paths import cache_dir
from . import infer, prompting
from .baselines import PositionBaseline
from .config import CutoffConfig
from .contexts import Example, build_examples, examples_fingerprint, report_skipped, skipped
from .metrics import MATCHING, f1, reduction_interval
from .probes import HeadEnsemble, feature_kind, probe_name, save_cutoff_probe


def load_examples(lm, name: str, split: str, n: int, cfg: CutoffConfig, info: dict | None = None) -> list[Example]:
    """`n` long-context examples from one split of dataset `name` (the test split skips the seeded
    sample's first `cfg.test_offset`); padded with distractors when `cfg.pads(name)`.

    Records that cannot seed an example are counted by reason and printed (one line per reason on
    stderr); `info`, when given, receives what the manifest records: pad_distractors, skipped.
    """
    from ...data import load_dataset

    records = load_dataset(name, split=split, seed=cfg.seed, fields=cfg.fields_for(name))
    counts = skipped(records)
    report_skipped(name, split, counts)
    pad = cfg.pads(name)
    if info is not None:
        info |= {"pad_distractors": pad, "skipped": counts, "dropped_on_reading": records.dropped}
    return build_examples(
        records,
        lm.tokenizer,
        n=n,
        target_tokens=cfg.target_tokens,
        seed=cfg.seed,
        dataset=name,
        start=cfg.test_offset if split == "test" else 0,
        pad=pad,
    )


@dataclass
class Table:
    """Prefix rows of several examples: X kind -> [rows, layers, heads, width]; y, group, chunk [rows]."""

    X: dict[str, np.ndarray]
    y: np.ndarray
    group: np.ndarray
    chunk: np.ndarray

    @classmethod
    def of(cls, readings: list[infer.Reading]) -> Table:
        n = [len(r.boundaries) for r in readings]
        return cls(
            {k: np.concatenate([r.features[k] for r in readings]) for k in readings[0].features},
            np.concatenate([r.labels for r in readings]).astype(int),
            np.repeat(np.arange(len(readings)), n),
            np.concatenate([np.arange(c) for c in n]),
        )


SHARD_EXAMPLES = 16  # examples per feature shard: a killed `read_all` resumes at the first shard not on disk


def read_all(
    lm,
    examples: list[Example],
    cfg: CutoffConfig,
    desc: str = "read",
    progress: bool = True,
    shard_size: int = SHARD_EXAMPLES,
) -> Table:
    """Features of every prefix of every example, cached under the user cache dir by content.

    The features are written one shard of `shard_size` examples at a time (each file complete or
    absent, as capture stores are), so a killed run read again resumes within the split at the
    first shard not written, and gives the same table as an uninterrupted run.
    """
    from safetensors.numpy import load_file

    template = prompting.turn_template(cfg.template, lm.tokenizer)
    # the template joins the key only when it is not the chat template (chat-template caches keep their names)
    ident = [lm.fingerprint, examples_fingerprint(examples), list(cfg.kinds), cfg.n_chunks]
    key = hashlib.sha256(json.dumps(ident + ([] if template == "chat" else [template])).encode()).hexdigest()[:20]
    whole = cache_dir("cutoff", "features") / f"{key}.safetensors"  # one file per split, before shards
    if whole.exists():
        t = load_file(str(whole))
        return Table({k: t[f"X.{k}"] for k in cfg.kinds}, t["y"], t["group"], t["chunk"])
    folder = cache_dir("cutoff", "features") / f"{key}-shards{shard_size}"
    folder.mkdir(parents=True, exist_ok=True)
    tables = []
    with tqdm(total=len(examples), desc=desc, unit="example", disable=not progress) as bar:
        for first in range(0, len(examples), shard_size):
            path = folder / f"{first // shard_size:05d}.safetensors"
            if path.exists():
                t = load_file(str(path))
                table = Table({k: t[f"X.{k}"] for k in cfg.kinds}, t["y"], t["group"], t["chunk"])
            else:
                part = examples[first : first + shard_size]
                table = Table.of([infer.read(lm, ex, cfg.kinds, cfg.n_chunks, template=template) for ex in part])
                table.group = table.group + first
                _save_table(table, path)
            tables.append(table)
            bar.update(min(shard_size, len(examples) - first))
    return Table(
        {k: np.concatenate([t.X[k] for t in tables]) for k in cfg.kinds},
        *(np.concatenate([getattr(t, a) for t in tables]) for a in ("y", "group", "chunk")),
    )


def _save_table(table: Table, path: Path) -> None:
    """Write one shard atomically: a killed write leaves no file, so the shard is read again."""
    import os

    from safetensors.numpy import save_file

    tmp = path.with_suffix(".tmp")
    save_file(
        {**{f"X.{k}": v for k, v in table.X.items()}, "y": table.y, "group": table.group, "chunk": table.chunk},
        str(tmp),
    )
    os.replace(tmp, path)


def _versions() -> dict:
    import sklearn
    import torch
    import transformers

    import internals

    return {
        "internals": getattr(internals, "__version__", "0.1.0"),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "scikit-learn": sklearn.__version__,
    }


def train_cutoff_probes(lm, cfg: CutoffConfig, progress: bool = True) -> dict:
    """Fit the head probes of each feature kind on the train split (heads ranked on validation),
    one HeadEnsemble per (kind, combine) on those heads, and the position-only baseline; save them
    under `cfg.out`/<probe name>/ ("attn_z", "attn_z+logistic", ...); return the training report
    (its "kinds" keyed by probe name)."""
    train_ex, val_ex, data = [], [], []
    for name in cfg.datasets:
        tr_info: dict = {}
        va_info: dict = {}
        tr = load_examples(lm, name, "train", cfg.n_train, cfg, tr_info)
        va = load_examples(lm, name, "validation", cfg.n_val, cfg, va_info)
        train_ex += tr
        val_ex += va
        data.append(
            {
                "name": name,
                "n_train": len(tr),
                "n_val": len(va),
                "train": examples_fingerprint(tr),
                "validation": examples_fingerprint(va),
                "pad_distractors": tr_info["pad_distractors"],
                "skipped": {"train": tr_info["skipped"], "validation": va_info["skipped"]},
                "dropped_on_reading": tr_info["dropped_on_reading"],
            }
        )
    tr_read, va_read = (
        read_all(lm, train_ex, cfg, "read train", progress),
        read_all(lm, val_ex, cfg, "read validation", progress),
    )
    position = PositionBaseline(cfg.n_chunks).fit(tr_read.chunk, tr_read.y)
    template = prompting.turn_template(cfg.template, lm.tokenizer)
    report = {
        "config": cfg.to_dict(),
        "template": template,
        "model": lm.describe(),
        "data": data,
        "versions": _versions(),
        "position": position.to_dict(),
        "f1_val_position": f1(va_read.y, position.predict(va_read.chunk)),
        "kinds": {},
    }
    for kind in cfg.kinds:
        heads = HeadEnsemble(k=cfg.k, C=cfg.C, standardize=cfg.standardize, random_state=cfg.seed)
        heads.fit(tr_read.X[kind], tr_read.y, X_val=va_read.X[kind], y_val=va_read.y, progress=progress)
        for combine in cfg.combine:
            name = probe_name(kind, combine)
            probe = copy.copy(heads).set_params(combine=combine).fit_final(tr_read.X[kind], tr_read.y)
            card = {
                "kind": kind,
                "name": name,
                "n_chunks": cfg.n_chunks,
                "threshold": cfg.threshold,
                "position": position.to_dict(),
                "config": cfg.to_dict(),
                "template": template,
                "data": data,
                "versions": _versions(),
                "f1_val_ensemble": f1(va_read.y, probe.predict(va_read.X[kind])),
            }
            save_cutoff_probe(probe, Path(cfg.out) / name, lm, card)
            report["kinds"][name] = _probe_report(probe, card, va_read, va_read.X[kind], cfg)
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    (Path(cfg.out) / "train.json").write_text(json.dumps(report, indent=1))
    return report


def _probe_report(probe: HeadEnsemble, card: dict, va: Table, X_val: np.ndarray, cfg: CutoffConfig) -> dict:
    """A probe's entry in train.json: head F1 map, chosen heads, validation sweep and thresholds."""
    sweep = val_sweep(va, probe.predict_proba(X_val)[:, 1], cfg.thresholds, cfg.n_chunks)
    return {
        "head_f1": probe.head_f1_.round(4).tolist(),
        "heads": probe.heads_.tolist(),
        "f1_val_ensemble": card["f1_val_ensemble"],
        "val_sweep": sweep,
        "val_budget": sweep[f"{cfg.threshold:g}"]["share_read"],
        "calibrated_threshold": calibrated_threshold(sweep, cfg.target_precision),
    }


def val_sweep(table: Table, p: np.ndarray, thresholds, n_chunks: int) -> dict[str, dict]:
    """Per threshold, on validation examples: the share of chunks read when stopping at the first
    p >= t, and the stop precision (share of examples stopped at a sufficient prefix; reading to
    the end counts as sufficient)."""
    out = {}
    for t in thresholds:
        read, good = [], []
        for g in np.unique(table.group):
            rows, labels = p[table.group == g], table.y[table.group == g]
            hit = np.flatnonzero(rows >= t)
            k = hit[0] if hit.size else len(rows) - 1
            read.append(k + 1)
            good.append(bool(labels[k]))
        out[f"{t:g}"] = {
            "share_read": round(float(np.mean(read)) / n_chunks, 4),
            "stop_precision": round(float(np.mean(good)), 4),
        }
    return out


def calibrated_threshold(sweep: dict[str, dict], target_precision: float) -> float:
    """The lowest threshold whose validation stop precision reaches `target_precision` (the paper's
    config: 0.9); the highest threshold when none does."""
    ok = [float(t) for t, r in sweep.items() if r["stop_precision"] >= target_precision]
    return min(ok) if ok else max(float(t) for t in sweep)


def load_cutoff_probes(path: str | Path, lm=None, kinds=None) -> tuple[dict[str, HeadEnsemble], dict]:
    """The probes saved by `train_cutoff_probes` under `path` (one subfolder per probe name) and the first card."""
    from .probes import load_cutoff_probe

    path = Path(path)
    if (path / "card.json").exists():
        probe, card = load_cutoff_probe(path, lm)
        return {card.get("name", card["kind"]): probe}, card
    found = sorted(p.parent for p in path.glob("*/card.json"))
    if kinds:  # probe names ("attn_z", "attn_z+logistic") or feature kinds (all of that kind's probes)
        found = [p for p in found if p.name in kinds or feature_kind(p.name) in kinds]
    if not found:
        raise InternalsError(f"no cutoff probe under {path}: train one with `internals cutoff train CONFIG`")
    probes, cards = {}, []
    for p in found:
        probe, card = load_cutoff_probe(p, lm)
        probes[card.get("name", card["kind"])] = probe
        cards.append(card)
    return probes, cards[0]


HEADLINE = ("token_reduction", "accuracy_cutoff", "accuracy_full", "f1_probe", "f1_position")


def accuracy_threshold(val_tables: dict[str, dict], main_kind: str, thresholds) -> dict:
    """The threshold picked on validation answers (ours): of the main probe's thresholds whose mean
    accuracy over the datasets is at least the full context's, the one with the largest mean token
    reduction; the highest threshold when none is. `val_tables`: `evaluate_cutoff` on validation examples."""

    def mean(t: float, key: str, method: str | None = None) -> float:
        return float(np.mean([r["methods"][method or f"probe:{main_kind}@{t:g}"][key] for r in val_tables.values()]))

    full = mean(0, "accuracy", "full")
    rows = {
        float(t): {"token_reduction": round(mean(t, "token_reduction"), 4), "accuracy": round(mean(t, "accuracy"), 4)}
        for t in thresholds
    }
    ok = [t for t, r in rows.items() if r["accuracy"] >= full]
    pick = max(ok, key=lambda t: (rows[t]["token_reduction"], t)) if ok else max(rows)
    return {"threshold": pick, "accuracy_full": round(full, 4), "sweep": {f"{t:g}": r for t, r in rows.items()}}


def rule_at(per_dataset: dict[str, dict], main_kind: str, threshold: float) -> dict | None:
    """The main probe's stop rule at another threshold, read off the per-dataset tables."""
    name = f"probe:{main_kind}@{threshold:g}"
    rows = {d: r["methods"][name] for d, r in per_dataset.items() if name in r["methods"]}
    if not rows:
        return None
    return {
        "threshold": threshold,
        "method": name,
        "per_dataset": rows,
        **{k: round(float(np.mean([r[k] for r in rows.values()])), 4) for k in ("token_reduction", "accuracy")},
        "token_reduction_ci": _interval(per_dataset, name),
        "vs_full": paired_vs_full(per_dataset, name),
    }


def _interval(per_dataset: dict[str, dict], method: str) -> dict | None:
    """`reduction_interval` of `method` when the tables carry per-example detail (n_chunks: how
    many chunks the stops index, one more than the largest `full` stop)."""
    if not all(r.get("examples") for r in per_dataset.values()):
        return None
    n_chunks = max(e["stops"]["full"] for r in per_dataset.values() for e in r["examples"]) + 1
    return reduction_interval(per_dataset, method, n_chunks)


def with_answer_rule(result: dict) -> dict:
    """`result` with its manifest's `answers` naming the current answer rule. A result saved before
    answers recorded whether the token limit cut them (no `truncated` per example) cannot be
    re-scored exactly; the rule changes a verdict only for an answer that is right by lying inside
    a gold alias, so those answers are listed (`verdicts_that_depend_on_truncation`: none means
    every number stands under the current rule; any listed would have to be a cut answer to flip)."""
    manifest = result["manifest"]
    if "answers" in manifest:
        return result
    examples = [e for r in result["tables"].values() for e in r["examples"]]
    depend = [
        {"id": e["id"], "chunk": int(c), "answer": a, "gold": e["gold"]}
        for e in examples
        for c, a in e["answers"].items()
        if match(a, e["gold"], MATCHING) != match(a, e["gold"], MATCHING, truncated=True)
    ]
    manifest["answers"] = describe("first_line", MATCHING, truncated=True) | {
        "truncation_recorded": False,
        "answers_checked": sum(len(e["answers"]) for e in examples),
        "verdicts_that_depend_on_truncation": depend,
    }
    return result


def with_intervals(result: dict) -> dict:
    """`result` (a `results_summary`, possibly saved before intervals existed) with the token
    reduction intervals of its headline and of its rules at picked thresholds filled in from its
    own per-example tables; the numbers already in it are unchanged."""
    tables = result["tables"]
    result["token_reduction_ci"] = _interval(tables, next(iter(tables.values()))["main"])
    for key in ("calibrated", "validation_picked"):
        if result.get(key):
            result[key]["token_reduction_ci"] = _interval(tables, result[key]["method"])
    for rule in result.get("validation_picked_by_probe", {}).values():
        rule["token_reduction_ci"] = _interval(tables, rule["method"])
    return result


def paired_vs_full(per_dataset: dict[str, dict], method: str) -> dict:
    """`method`'s answers against the full context's on the same examples, pooled over datasets:
    wins (right only when stopping early), losses, exact McNemar p (`internals.stats.mcnemar`)."""
    from ...stats import mcnemar

    right = {
        m: [
            match(
                ex["answers"][str(ex["stops"][m])],
                ex["gold"],
                MATCHING,
                truncated=ex["stops"][m] in ex.get("truncated", ()),
            )
            for r in per_dataset.values()
            for ex in r["examples"]
        ]
        for m in (method, "full")
    }
    return mcnemar(right[method], right["full"]) | {"n": len(right["full"])}


def results_summary(
    per_dataset: dict[str, dict],
    cfg: CutoffConfig,
    lm,
    probe_dir: str | None = None,
    calibrated: float | None = None,
    main_kind: str = "attn_z",
    picked: dict | None = None,
) -> dict:
    """Headline numbers (means over datasets, main probe `main_kind` at `cfg.threshold`), the
    per-dataset tables, the rule at the thresholds picked on validation when given (`calibrated`:
    by stop precision; `picked`: an `accuracy_threshold` result, by answers), and the manifest."""
    out: dict[str, Any] = {k: round(float(np.mean([r[k] for r in per_dataset.values()])), 4) for k in HEADLINE}
    out["per_dataset"] = {name: {k: r[k] for k in HEADLINE} for name, r in per_dataset.items()}
    out["token_reduction_ci"] = _interval(per_dataset, next(iter(per_dataset.values()))["main"])
    out["vs_full"] = paired_vs_full(per_dataset, next(iter(per_dataset.values()))["main"])
    if calibrated is not None:  # the stop rule with the threshold picked on validation stop precision
        out["calibrated"] = rule_at(per_dataset, main_kind, calibrated)
    if picked is not None:  # ... and the one picked on validation answers
        rule = rule_at(per_dataset, main_kind, picked["threshold"])
        out["validation_picked"] = rule and {**rule, "validation": picked}
    out["tables"] = per_dataset
    out["manifest"] = {
        "model": lm.describe(),
        "config": cfg.to_dict(),
        # the user turn the evaluation used (`evaluate_cutoff` records it, resolved, per dataset)
        "template": next((r["template"] for r in per_dataset.values() if "template" in r), cfg.template),
        "probe": probe_dir,
        "versions": _versions(),
        "answers": describe("first_line", MATCHING, truncated=True),
        "max_new_tokens": {name: r.get("max_new_tokens") for name, r in per_dataset.items()},
        "data": {name: r["data"] for name, r in per_dataset.items() if "data" in r},
        "datasets": list(per_dataset),
        "seed": cfg.seed,
    }
    return out
