"""Seed replicates of the Curse of Depth pre-training comparison, declared before they ran (issue 20, part 4).

    python benchmarks/depth_seeds.py --threads 1               # seeds 1-4 of the cpu preset (resumes per seed)
    python benchmarks/depth_seeds.py --threads 1 --seeds 1 3   # some of them (e.g. two processes side by side)
    python benchmarks/depth_seeds.py --quick                   # the test preset, 2 seeds, into a temp dir

benchmarks/depth.py trains Pre-LN and LNS once each (seed 0) and found LNS ahead: validation
perplexity 1240.6 -> 1093.7 after 200 steps, variance last/first block 5.30x -> 1.55x, one run per
arm and no interval. This run fixes, before any replicate is trained:

- configuration: the `cpu` preset unchanged (12 layers, d_model 192, 200 steps of 8 x 128 tokens,
  lr 1e-3), both norms, on the passage corpus of benchmarks/depth.py;
- replicates: seeds 1, 2, 3 and 4 (seed 0, the exploratory run, is reported beside them and is not
  in the test); a seed sets the initial weights, the batch order and the corpus's train/validation
  split, the same for both norms (`benchmarks/depth.py --seed N` trains the same two runs);
- measures, per seed and norm: the validation perplexity after the last step, and the residual
  variance after the last block over that after the first (on the validation sequences);
- claim "LNS lowers perplexity": the paired t-test on the per-seed log(ppl_LNS / ppl_PreLN) has
  two-sided p < 0.05 and a negative mean; reported as the geometric-mean ratio with its 95% t
  interval and the number of seeds where LNS is lower;
- claim "LNS lowers variance growth": the same test on log(growth_LNS / growth_PreLN).
A claim whose test fails is written as not holding.

Results -> benchmarks/results/depth_pretrain_seeds.json (per-seed numbers, both tests, verdicts,
manifest); each seed's full curves -> benchmarks/results/depth_pretrain_seeds/seed<N>.json (written
when the seed finishes: a killed run retrains only the seeds without a file).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SEEDS = (1, 2, 3, 4)
PRESET = "cpu"
LEVEL = 0.05
CLAIMS = {"perplexity": "LNS lowers the final validation perplexity", "growth": "LNS lowers variance growth"}


def seed_path(folder: Path, seed: int) -> Path:
    return folder / f"seed{seed}.json"


def train_seed(seed: int, preset: str, folder: Path) -> Path:
    """Both norms at `seed` (skipped when its file exists); returns the file."""
    from internals.analyses.depth.pretrain import PRESETS
    from internals.analyses.depth.results import save_results
    from internals.analyses.depth.runs import pretrain_run
    from internals.paths import cache_dir

    path = seed_path(folder, seed)
    if path.exists():
        print(f"seed {seed}: done already ({path})")
        return path
    doc = pretrain_run(replace(PRESETS[preset], seed=seed), cache=cache_dir("depth"))
    doc["manifest"]["config"]["preset"] = preset
    return save_results(path, "depth.pretrain", doc["manifest"], doc["results"])


def measures(doc: dict) -> dict:
    runs = doc["results"]["runs"]
    return {
        f"{key}_{norm.replace('-', '')}": value
        for norm, r in runs.items()
        for key, value in (("ppl", r["val_ppl"][-1]), ("growth", r["variance"][-1] / r["variance"][1]))
    }


def summarise(seeds, folder: Path, exploratory: Path | None) -> dict:
    """The declared tests over `seeds` (every seed's file must exist)."""
    from internals.analyses.depth.results import load_results
    from internals.stats import paired_log_ratio

    docs = {s: load_results(seed_path(folder, s)) for s in seeds}
    per_seed = {str(s): measures(d) for s, d in docs.items()}
    tests = {}
    for key in ("ppl", "growth"):
        t = paired_log_ratio(
            [per_seed[str(s)][f"{key}_lns"] for s in seeds], [per_seed[str(s)][f"{key}_preln"] for s in seeds]
        )
        claim = "perplexity" if key == "ppl" else "growth"
        holds = t["p_value"] < LEVEL and t["ratio"] < 1
        tests[claim] = {**t, "claim": CLAIMS[claim], "verdict": "holds" if holds else "does not hold"}
    first = next(iter(docs.values()))["manifest"]
    out = {
        "declared": {
            "preset": first["config"]["preset"],
            "seeds": list(seeds),
            "level": LEVEL,
            "test": "paired t-test on per-seed log ratios LNS / Pre-LN, two-sided; geometric-mean ratio, 95% t interval",
            "claims": CLAIMS,
        },
        "config": {
            k: first["config"][k] for k in ("n_layers", "d_model", "n_heads", "seq_len", "batch_size", "steps", "lr")
        },
        "per_seed": per_seed,
        "tests": tests,
        "mean": {k: sum(v[k] for v in per_seed.values()) / len(per_seed) for k in next(iter(per_seed.values()))},
    }
    if exploratory is not None and exploratory.exists():
        out["exploratory_seed0"] = measures(load_results(exploratory))
    from internals.store import package_versions

    out["manifest"] = {
        "data": first["data"].get("corpus", {}).get("sources"),
        "versions": package_versions(),
        "threads": first["config"].get("threads"),
        "seconds": {str(s): sum(r["seconds"] for r in d["results"]["runs"].values()) for s, d in docs.items()},
    }
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="train only these of the declared seeds")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a busy machine)")
    p.add_argument(
        "--quick", action="store_true", help="the test preset, seeds 1 2, into a temp dir (writes no results)"
    )
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        folder, preset, declared, out = Path(tempfile.mkdtemp(prefix="depth_seeds_")), "test", (1, 2), None
    else:
        folder, preset, declared = RESULTS / "depth_pretrain_seeds", PRESET, SEEDS
        out = RESULTS / "depth_pretrain_seeds.json"
    todo = args.seeds or declared
    if not set(todo) <= set(declared):
        p.error(f"--seeds must be among the declared seeds {list(declared)}")
    for seed in todo:
        train_seed(seed, preset, folder)
    missing = [s for s in declared if not seed_path(folder, s).exists()]
    if missing:
        print(f"seeds {missing} still to train: the tests need all of {list(declared)}")
        return 0
    summary = summarise(declared, folder, None if args.quick else RESULTS / "depth_pretrain.json")
    for t in summary["tests"].values():
        print(
            f"{t['claim']}: LNS / Pre-LN {t['ratio']:.3f} [{t['lo']:.3f}, {t['hi']:.3f}] over {t['n']} seeds, "
            f"lower on {t['lower']}, paired t p = {t['p_value']:.3g}: {t['verdict']}"
        )
    if out is not None:
        out.write_text(json.dumps(summary, indent=1) + "\n")
        print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
