"""FactCheckmate mitigation confirmed on fresh questions, with its rule declared in advance.

    python benchmarks/mitigation_confirm.py --model gemma3-270m
        # probes/gemma3-270m/mitigation_confirm.toml -> results/mitigation_confirm.gemma3-270m.json

The config (its comment says why and what is declared) names the probe config and the committed
FactCheckmate results whose steering rule is confirmed. Steps:
1. rebuild the steering vector from the probe's own training split (labels and pooled states of
   the chosen block, cached as `benchmarks/factcheckmate.py` caches them) and check its sha256
   against the committed rule's: a rule that cannot be rebuilt is refused, not approximated;
2. answer the fresh questions (the `n_fresh` that follow the probe's `limit` in the seeded order)
   and label them with the probe config's template and answer rule;
3. run the committed detector on their pooled states; steer the flagged ones with the declared
   rule; score with the same matcher; exact McNemar test of steered against unsteered answers on
   the same flagged questions, Wilson intervals for both factual rates.
The last line printed is the verdict as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from bench_models import add_model_option, model_key, results_path

ROOT = Path(__file__).resolve().parent.parent


def fresh_questions(config, n_fresh: int):
    """The probe's questions (its `limit` of the seeded order) and the next `n_fresh` of that order."""
    from internals.data import Dataset, load_dataset

    base = load_dataset(config.dataset, limit=config.limit, seed=config.seed)
    more = load_dataset(config.dataset, limit=config.limit + n_fresh, seed=config.seed)
    seen = {r.id for r in base}
    fresh = Dataset(base.name, [r for r in more if r.id not in seen], base.split, base.source)
    if len(fresh) < n_fresh:
        print(f"mitigation_confirm: only {len(fresh)} fresh questions beyond the probe's {len(base)}", file=sys.stderr)
    return base, fresh


def confirm(lm, config, rule: dict, n_fresh: int, level: float, progress: bool) -> dict:
    from internals.analyses.factcheckmate.features import pooled_features
    from internals.analyses.factcheckmate.generate import greedy_answers
    from internals.analyses.factcheckmate.labels import MATCHING, label_dataset
    from internals.analyses.factcheckmate.pipeline import prepare
    from internals.analyses.factcheckmate.steer import Detector, steering, steering_edit, steering_vector
    from internals.answers import match
    from internals.errors import InternalsError
    from internals.heads import load_probe
    from internals.prompts import render
    from internals.stats import mcnemar, wilson_interval

    probe = load_probe(Path(config.out) / config.name, model=lm)
    detector = Detector(probe.estimator, int(rule["layer"]))
    at, alpha = int(rule["steer_layer"]), float(rule["best_alpha"])
    base, fresh = fresh_questions(config, n_fresh)

    # 1. the declared steering vector, rebuilt from the probe's training split
    prep = prepare(
        lm,
        base,
        config.template,
        config.setting,
        config.generation,
        str(at),
        config.seed,
        config.capture_batch_size,
        progress=progress,
    )
    train = prep.split.train
    vector = steering_vector(prep.features.layer(at)[train], prep.labels.y[train])
    edit = steering_edit(at, vector, alpha).describe()
    norm, declared_norm = float(np.linalg.norm(vector)), float(rule["vector_norm"][str(at)])
    if edit == rule["edit"]:
        rebuilt = "exact (same sha256)"
    elif {k: v for k, v in edit.items() if k != "value_sha256"} == {
        k: v for k, v in rule["edit"].items() if k != "value_sha256"
    } and abs(norm - declared_norm) <= 1e-4 * declared_norm:  # another CPU's float rounding, same vector
        rebuilt = f"within float tolerance (norm {norm:.6f} vs {declared_norm:.6f}; sha256 differs)"
    else:
        raise InternalsError(
            f"the rebuilt steering edit {edit} (norm {norm:.4f}) is not the declared one {rule['edit']} "
            f"(norm {declared_norm:.4f}): the probe's labels or features differ from the run that chose the rule"
        )

    # 2. fresh questions answered and labelled as the probe's were
    labels = label_dataset(lm, fresh, config.template, config.generation, progress=progress)
    prompts = render(fresh, labels.manifest.get("template", config.template), lm.tokenizer)
    feats = pooled_features(
        lm,
        prompts,
        config.setting,
        labels.answers,
        str(detector.layer),
        batch_size=config.capture_batch_size,
        progress=progress,
    )
    scores = detector.scores(feats.layer(detector.layer))
    flagged = np.flatnonzero(scores >= detector.threshold)

    # 3. the flagged ones steered with the declared rule
    with steering(lm.model, at, vector, alpha):
        steered = greedy_answers(
            lm, [prompts[i] for i in flagged], config.generation, progress=progress, desc=f"steer {at} alpha={alpha}"
        ).text
    after = np.array([match(a, fresh[i].answers, MATCHING) for a, i in zip(steered, flagged)], dtype=bool)
    before = labels.correct[flagged]
    test = mcnemar(after, before)
    holds = bool(test["p_value"] < level and test["wins"] > test["losses"])
    n = len(flagged)
    unflagged = np.setdiff1d(np.arange(len(fresh)), flagged)
    return {
        "n_fresh": len(fresh),
        "n_flagged": int(n),
        "hallucination_rate": float(labels.y.mean()),
        "detector": {
            "flagged_hallucinated": int(labels.y[flagged].sum()),
            "unflagged_hallucinated": int(labels.y[unflagged].sum()),
            "n_unflagged": int(len(unflagged)),
        },
        "factual_before": int(before.sum()),
        "factual_after": int(after.sum()),
        "rate_before": float(before.mean()) if n else None,
        "rate_before_ci": list(wilson_interval(int(before.sum()), n)),
        "rate_after": float(after.mean()) if n else None,
        "rate_after_ci": list(wilson_interval(int(after.sum()), n)),
        **test,
        "level": level,
        "holds": holds,
        "verdict": "holds" if holds else "does not hold",
        "rule": {"detector_layer": detector.layer, "threshold": detector.threshold, "edit": edit, "rebuilt": rebuilt},
        "template": labels.manifest.get("template", config.template),
        "answers": labels.manifest.get("answers"),
        "examples": [
            {"id": fresh[i].id, "before": labels.answers[i], "after": a, "gold": list(fresh[i].answers)}
            for i, a in zip(flagged[:20], steered[:20])
        ],
    }


def main() -> int:
    from internals.analyses.factcheckmate.pipeline import ProbeConfig
    from internals.models import load_model
    from internals.store import package_versions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_option(parser)
    parser.add_argument("--config", default=None, help="default probes[/<model>]/mitigation_confirm.toml")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    key = model_key(args.model)
    path = Path(args.config or ROOT / "probes" / (f"{key}/" if key else "") / "mitigation_confirm.toml")
    if not path.is_file():
        parser.error(f"{path} not found: give a confirmation config (see probes/gemma3-270m/mitigation_confirm.toml)")
    declared = tomllib.loads(path.read_text())["confirm"]
    config = ProbeConfig.from_toml(ROOT / declared["probe"])
    config.out = str(ROOT / config.out)
    rule = json.loads((ROOT / declared["source"]).read_text())["mitigation"]
    started, cpu0 = time.time(), time.process_time()
    lm = load_model(config.model or args.model, device="cpu")
    result = confirm(lm, config, rule, int(declared["n_fresh"]), float(declared["level"]), not args.quiet)
    result["manifest"] = {
        "model": lm.describe(),
        "config": str(path.relative_to(ROOT)),
        "declared": declared,
        "probe_config": config.__dict__,
        "dataset": config.dataset,
        "seed": config.seed,
        "versions": package_versions(),
        "threads": args.threads,
        "command": " ".join(sys.argv),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_s": round(time.time() - started, 1),
        "cpu_s": round(time.process_time() - cpu0, 1),
    }
    out = results_path("mitigation_confirm", args.model)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    r = result
    print(
        f"{r['n_flagged']} of {r['n_fresh']} fresh questions flagged; factual {r['factual_before']} -> "
        f"{r['factual_after']} ({r['wins']} won, {r['losses']} lost, McNemar p = {r['p_value']:.3g}): {r['verdict']}"
    )
    print(out.relative_to(ROOT))
    print(
        json.dumps({k: r[k] for k in ("n_flagged", "rate_before", "rate_after", "wins", "losses", "p_value", "holds")})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
