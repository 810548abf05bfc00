"""Does a FactCheckmate probe learn the model or the dataset? Transfer across closed-book sets.

    python benchmarks/probe_transfer.py            # SmolLM2, the five registered closed-book sets
    python benchmarks/probe_transfer.py --quick    # a smoke run on 60 questions per set (writes no results)
    python benchmarks/probe_transfer.py --model gemma3-270m   # -> results/probe_transfer.gemma3-270m.json

The rule, fixed before any of these data were scored (issue 20, part 3): on each closed-book
question-answer set (SETS, at most N questions, a seeded sample) the embedded model answers greedily
(the chat template, 16 new tokens, the paper's stop rule and substring match: the labels of
probes/qa_wikidata.toml); the question's input tokens are mean-pooled at every layer (setting I).
For each source set, the card's head (`mlp_scaled`) is fitted on its train split at every layer and
the layer with the best validation balanced accuracy is kept (internals.analyses.factcheckmate.sweep).
That probe is scored
- on its own test split (in distribution), and
- on every question of each other set (it saw none of them);
a leave-one-dataset-out probe per set is fitted the same way on the pooled train/validation splits of
the other sets and scored on every question of the held-out set. Each cell: balanced accuracy and
AUROC with 95% bootstrap intervals (internals.heads.evidence.metric_intervals), n and the
hallucination rate. Controls per source: the label-shuffle control and the random-model control
(the same head on the random-init twin's features at the same layer; the labels stay the real
model's), with whether the probe's interval lies wholly above the control's. (Amended after the
first runs, a fix and not a new rule: the label-shuffle control permutes the labels of every row
the fit sees, train and validation, 20 times, and reports the permutation null's mean and 2.5-97.5
percentiles; the first runs permuted the training labels once and kept the real validation labels,
on which the head early-stops, so their control sat above chance.)

Results -> benchmarks/results/probe_transfer.json with a manifest. Another --model: the same rule
on that model (template "auto" is the base Q/A template "Question: {question}\\nAnswer:" for a model
without a chat template, also on qa_wikidata, where probes/gemma3-270m/qa_wikidata.toml adds "?"; its
own random-init twin), results/probe_transfer.<model>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from bench_models import add_model_option, results_path

ROOT = Path(__file__).resolve().parent.parent
SETS = ("qa_wikidata", "fanoutqa_sub", "truthful_qa", "fanoutqa", "bigbench:auto_categorization")
HEAD = "mlp_scaled"


def main() -> int:
    args = parse_args()
    torch.set_num_threads(args.threads)
    from internals.analyses.factcheckmate.generate import GenerationSettings
    from internals.analyses.factcheckmate.pipeline import prepare
    from internals.data import load_dataset
    from internals.models import load_model, random_twin
    from internals.store import package_versions

    started = time.time()
    lm = load_model(args.model, device="cpu")
    twin = random_twin(lm, args.seed)
    gen = GenerationSettings(max_new_tokens=16)
    prepared = {}
    for name in SETS:
        data = load_dataset(name, limit=args.n, seed=args.seed)
        prepared[name] = prepare(lm, data, "auto", "I", gen, "*", args.seed, 16, progress=not args.quiet)
    sources = {name: _source(prepared[name], twin, args) for name in SETS}
    table = {src: {dst: _cell(sources[src], prepared[dst], dst == src) for dst in SETS} for src in SETS}
    lodo = {held: _leave_one_out(prepared, held, args) for held in SETS}
    result = {
        "rule": __doc__.split("\n\n")[2],
        "head": HEAD,
        "sets": {
            n: {"n": len(p.labels.y), "hallucination_rate": float(np.mean(p.labels.y)), "split": p.split.sizes()}
            for n, p in prepared.items()
        },
        "sources": {n: {k: v for k, v in s.items() if k != "estimator"} for n, s in sources.items()},
        "transfer": table,
        "leave_one_out": lodo,
        "manifest": {
            "model": lm.describe(),
            "labels": {n: p.labels.manifest for n, p in prepared.items()},
            "n_per_set": args.n,
            "seed": args.seed,
            "threads": args.threads,
            "versions": package_versions(),
            "command": " ".join(sys.argv),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "wall_s": round(time.time() - started, 1),
        },
    }
    _print(result)
    if not args.quick:
        out = results_path("probe_transfer", args.model)
        out.write_text(json.dumps(result, indent=1, default=float) + "\n")
        print(f"wrote {out.relative_to(ROOT)}")
    return 0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_option(p)
    p.add_argument("--n", type=int, default=1000, help="questions per set at most (a seeded sample)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="60 questions per set; writes no results")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.n = 60
    return args


def _source(prep, twin, args) -> dict:
    """The source's probe at its validation-best layer, its in-distribution evidence and controls."""
    from internals.analyses.factcheckmate.features import pooled_features
    from internals.analyses.factcheckmate.pipeline import shuffle_evidence
    from internals.analyses.factcheckmate.sweep import fit_head, sweep
    from internals.heads.evidence import control_metrics

    y, split = prep.labels.y, prep.split
    if min(len(np.unique(y[split.train])), len(np.unique(y[split.validation]))) < 2:
        return {"skipped": "train or validation split has one class only", "estimator": None, "layer": None}
    result = sweep(prep.features, y, split, heads=(HEAD,), seed=args.seed, progress=not args.quiet)
    layer = result.results[HEAD]["best_layer"]
    out = {"layer": layer, "estimator": result.estimators[HEAD]}
    if len(np.unique(y[split.test])) < 2:
        return out | {"controls": "test split has one class only"}
    Xt = pooled_features(twin, prep.prompts, "I", prep.labels.answers, str(layer), progress=False).layer(layer)
    control = control_metrics(fit_head(HEAD, Xt, y, split, args.seed), Xt[split.test], y[split.test], args.seed)
    shuffled = shuffle_evidence(prep, out["estimator"], layer, HEAD, args.seed)
    return out | {"random_model_control": control, "label_shuffle_control": shuffled}


def _scores(estimator, X, y, seed) -> dict:
    from internals.heads.evidence import metric_intervals, positive_scores

    base = {"n": int(len(y)), "hallucination_rate": float(np.mean(y))}
    if len(np.unique(y)) < 2:
        return base | {"skipped": "one class only among these questions"}
    return base | metric_intervals(y, positive_scores(estimator, X), seed=seed)


def _cell(source: dict, target, same: bool) -> dict:
    if source.get("estimator") is None:
        return {"skipped": source.get("skipped", "no probe")}
    layer, y = source["layer"], target.labels.y
    rows = target.split.test if same else np.arange(len(y))
    X = target.features.layer(layer)[rows]
    return _scores(source["estimator"], X, y[rows], 0) | {"rows": "test split" if same else "all", "layer": layer}


def _leave_one_out(prepared: dict, held: str, args) -> dict:
    """A probe fitted on the other sets' pooled train splits (layer on their pooled validation splits)."""
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    from internals.analyses.factcheckmate.sweep import Split, fit_head
    from internals.heads.evidence import positive_scores

    others = [n for n in SETS if n != held]
    layers = prepared[held].features.layers
    offsets = np.cumsum([0] + [len(prepared[n].labels.y) for n in others])
    y = np.concatenate([prepared[n].labels.y for n in others])
    split = Split(
        *(
            np.concatenate([getattr(prepared[n].split, part) + o for n, o in zip(others, offsets)])
            for part in ("train", "validation", "test")
        )
    )
    best, best_key, best_est = None, None, None
    for layer in layers:
        X = np.concatenate([prepared[n].features.layer(layer) for n in others])
        est = fit_head(HEAD, X, y, split, args.seed)
        p, yv = positive_scores(est, X[split.validation]), y[split.validation]
        key = (balanced_accuracy_score(yv, p >= 0.5), roc_auc_score(yv, p))
        if best_key is None or key > best_key:
            best, best_key, best_est = layer, key, est
    target = prepared[held]
    return _scores(best_est, target.features.layer(best), target.labels.y, 0) | {
        "layer": best,
        "trained_on": others,
        "rows": "all",
    }


def _fmt(cell: dict) -> str:
    if "skipped" in cell:
        return "-"
    ba = cell["balanced_accuracy"]
    return f"{ba['value']:.2f} [{ba['low']:.2f}, {ba['high']:.2f}]"


def _print(result: dict) -> None:
    names = list(result["sets"])
    print("\nbalanced accuracy [95% CI], rows = trained on, columns = tested on (diagonal: own test split)")
    print("| trained on \\ tested on | " + " | ".join(names) + " |")
    for src in names:
        print(f"| {src} | " + " | ".join(_fmt(result["transfer"][src][dst]) for dst in names) + " |")
    print("| leave-one-out | " + " | ".join(_fmt(result["leave_one_out"][n]) for n in names) + " |")


if __name__ == "__main__":
    sys.exit(main())
