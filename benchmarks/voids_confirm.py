"""A confirmation run for the voids claim, declared before its data were scored (issue 20, part 4).

    python benchmarks/voids_confirm.py            # 200 fresh questions on each of four sets (resumes)
    python benchmarks/voids_confirm.py --quick    # 6 questions per set into a temp dir (writes no results)
    python benchmarks/voids_confirm.py --model gemma3-270m   # -> results/voids_confirm.gemma3-270m.json,
                                                             #    runs/voids/confirm.gemma3-270m/

benchmarks/voids.py found one configuration that met the target (>= 30% of (token, block) pairs
skipped with accuracy >= the full model): the paper's LAC skipping at alpha 0.8 in both phases,
scored by option log-likelihood, on 50 hindu_knowledge questions (0.38 vs 0.28, McNemar p = 0.33:
"met nominally"). This run fixes that configuration and the rule before scoring anything new:

- configuration: kind `paper`, alpha 0.8, phases both, protocol loglik (CLAIM below);
- data: four multiple-choice or yes/no sets with at least 250 questions, 200 questions each, a
  seeded sample (seed 1) of the questions benchmarks/voids.py did not use (its seeded 50 excluded);
- rule: the claim "at least as accurate as the full model" holds on a set when the skipping
  configuration's accuracy is not significantly lower (two-sided exact McNemar p >= 0.05 or more
  wins than losses) AND its point accuracy is >= the full model's; "better" needs p < 0.05 with
  more wins. The share of pairs skipped is reported beside it (target >= 0.30).

Results -> benchmarks/results/voids_confirm.json (accuracies with Wilson 95% intervals, wins,
losses, McNemar p, share skipped with its bootstrap interval over questions, the verdict per set)
with a manifest; per-question lines in runs/voids/confirm/ (a killed run resumes there). Another
--model: the same declared configuration and rule (chosen on SmolLM2, not on that model's voids.py
run) on the same questions, each prompt in that model's template ("auto": the chat template, or the
base Q/A turn for a model without one), results/voids_confirm.<model>.json, per-question lines in
runs/voids/confirm.<model>/.
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

from bench_models import add_model_option, model_key, results_path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "runs" / "voids" / "confirm"
QUICK = Path("/tmp/voids_confirm_quick")
SETS = ("strategyqa", "truthful_qa_mc", "sports_understanding", "date_understanding")
USED = 50  # benchmarks/voids.py's seeded sample size on these sets (strategyqa; the others were unused)
N = 200
CLAIM = {"kind": "paper", "alpha": 0.8, "phases": "both", "protocol": "loglik"}


def work_dir(base: Path, model: str | None) -> Path:
    """`base` for the default model, `base`.<model> beside it for another (a run never resumes another
    model's lines)."""
    key = model_key(model)
    return base if key is None else base.with_name(f"{base.name}.{key}")


def fresh_sample(name: str, n: int):
    """n questions of `name` that benchmarks/voids.py did not use, a seeded sample."""
    from internals.data import Dataset, load_dataset

    used = {r.id for r in load_dataset(name, limit=USED)}
    full = load_dataset(name)
    keep = [r for r in full if r.id not in used]
    rng = np.random.default_rng(1)
    pick = sorted(rng.choice(len(keep), size=min(n, len(keep)), replace=False).tolist())
    return Dataset(full.name, [keep[i] for i in pick], full.split, full.source)


def verdict(wins: int, losses: int, p: float, acc_skip: float, acc_full: float) -> str:
    if p < 0.05 and wins > losses:
        return "better"
    if acc_skip >= acc_full and (p >= 0.05 or wins > losses):
        return "at least as accurate"
    return "not as accurate"


def main() -> int:
    args = parse_args()
    torch.set_num_threads(args.threads)
    from internals.analyses.voids.evaluate import EvalConfig, evaluate_voids, paired, skipped_interval
    from internals.models import load_model
    from internals.stats import wilson_interval
    from internals.store import package_versions

    started = time.time()
    lm = load_model(args.model, device="cpu")
    cfg = EvalConfig(alphas=(CLAIM["alpha"],), kinds=("paper",), max_new_tokens=args.max_new_tokens)
    datasets = [fresh_sample(name, args.n) for name in SETS]
    meta = {"model": lm.describe(), "versions": package_versions(), "declared": CLAIM}
    work = Path(args.work)
    rows = evaluate_voids(lm, datasets, cfg, work, manifest=meta, progress=not args.quiet)
    out = {}
    for data in datasets:
        lines = [json.loads(x) for x in (work / f"{data.name}.jsonl").read_text().splitlines() if x.strip()]
        mine = [r for r in rows if r["dataset"] == data.name and r["protocol"] == CLAIM["protocol"]]
        full = next(r for r in mine if r["kind"] == "none")
        skip = next(r for r in mine if r["kind"] == CLAIM["kind"])
        test = paired(lines, skip["label"], CLAIM["protocol"])
        n = full["n"]
        k_full, k_skip = round(full["accuracy"] * n), round(skip["accuracy"] * n)
        out[data.name] = {
            "n": n,
            "accuracy_full": full["accuracy"],
            "accuracy_full_ci": list(wilson_interval(k_full, n)),
            "accuracy_skip": skip["accuracy"],
            "accuracy_skip_ci": list(wilson_interval(k_skip, n)),
            "layers_skipped": skip["layers_skipped"],
            "layers_skipped_ci": skipped_interval(lines, skip["label"], CLAIM["protocol"]),
            "wins": test["wins"],
            "losses": test["losses"],
            "mcnemar_p": test["p_value"],
            "verdict": verdict(test["wins"], test["losses"], test["p_value"], skip["accuracy"], full["accuracy"]),
        }
    held = sum(v["verdict"] != "not as accurate" for v in out.values())
    result = {
        "declared": CLAIM | {"rule": __doc__.split("\n\n")[2], "n_per_set": args.n, "sets": list(SETS)},
        "sets": out,
        "holds_on": held,
        "of": len(out),
        "manifest": meta
        | {
            "threads": args.threads,
            "max_new_tokens": args.max_new_tokens,
            "command": " ".join(sys.argv),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "wall_s": round(time.time() - started, 1),
        },
    }
    for name, v in out.items():
        print(
            f"{name}: n={v['n']} full {v['accuracy_full']:.3f} {v['accuracy_full_ci']}, skip {v['accuracy_skip']:.3f} "
            f"{v['accuracy_skip_ci']}, skipped {v['layers_skipped']:.2f}, wins {v['wins']} losses {v['losses']} "
            f"p={v['mcnemar_p']:.3g}: {v['verdict']}"
        )
    print(f"the claim holds on {held} of {len(out)} sets")
    if not args.quick:
        out = results_path("voids_confirm", args.model)
        out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {out.relative_to(ROOT)}")
    return 0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_option(p)
    p.add_argument("--n", type=int, default=N)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-new-tokens", type=int, default=8, help="reply length (the generate protocol; as voids.py)")
    p.add_argument(
        "--work", default=None, help="per-question lines (default runs/voids/confirm; another --model: confirm.<model>)"
    )
    p.add_argument("--quick", action="store_true", help="6 questions per set in a temp dir; writes no results")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.n, args.work = 6, str(work_dir(QUICK, args.model))
    elif args.work is None:
        args.work = str(work_dir(WORK, args.model))
    return args


if __name__ == "__main__":
    sys.exit(main())
