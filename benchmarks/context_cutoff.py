"""Dynamic context cutoff targets on SmolLM2-135M-Instruct (CPU sized; settings in probes/cutoff.toml).

    python benchmarks/context_cutoff.py                 # train (features cached), evaluate, figures
    python benchmarks/context_cutoff.py --reuse         # re-summarise (intervals, answer rule check) and redraw
    python benchmarks/context_cutoff.py --config my.toml
    python benchmarks/context_cutoff.py --config probes/cutoff_query.toml   # our attn_z_query option
                                        # -> results/context_cutoff_query.json, assets/cutoff_query_*

A config other than probes/cutoff.toml writes results/context_<config stem>.json, keeps its saved
evaluations under runs/cutoff/bench/<config stem>/ and names its tradeoff figure <config stem>_tradeoff.
Another model: `--model gemma3-270m` runs probes/gemma3-270m/cutoff.toml (its own probes and
sizes) -> results/context_cutoff.gemma3-270m.json, runs/cutoff/bench/cutoff.gemma3-270m/, assets/gemma3-270m/.

1. train: long contexts (gold passage among real distractors, ~1K tokens) from the train and
   validation splits of each dataset; per-head probes for both feature kinds (attn_z, the
   paper code's o_proj slices); position-only baseline -> probes/cutoff/;
2. eval: one incremental pass per test example: probe scores at every chunk, the model's
   self-assessment, answers where any method stops; token reduction and lenient-match accuracy
   of cutoff (attn_z probe at 0.95) vs full context, fixed truncation, self-assessment, oracle;
   F1 of the probes vs position-only on every test prefix; a 95% bootstrap interval (examples
   resampled within each dataset) for every reported rule's token reduction;
3. figures -> assets/cutoff_*.png|pdf; results -> benchmarks/results/context_cutoff.json.

Targets (issue 5): token reduction >= 1.33x with accuracy >= full context; probe F1 above the
position-only F1 on every dataset. The last line printed is JSON: token_reduction,
accuracy_cutoff, accuracy_full, f1_probe, f1_position (means over datasets) and per_dataset.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from bench_models import add_model_option, assets_dir, model_key, results_path

ROOT = Path(__file__).resolve().parent.parent


def work_dir(stem: str) -> Path:
    """Where one config's finished validation and test evaluations are saved (reused on reruns)."""
    return ROOT / "runs" / "cutoff" / "bench" / stem


def run(cfg, lm, only: str | None = None, stem: str = "cutoff") -> dict | None:
    """Train (or reuse the saved training of this config), evaluate validation and test examples of
    every dataset (or of `only`, then return None), pick the threshold on validation, summarise."""
    from dataclasses import replace

    from internals.analyses.cutoff.baselines import PositionBaseline
    from internals.analyses.cutoff.evaluation import evaluate_cutoff
    from internals.analyses.cutoff.pipeline import (
        accuracy_threshold,
        load_cutoff_probes,
        load_examples,
        results_summary,
        rule_at,
    )
    from internals.analyses.cutoff.probes import feature_kind

    report = trained(lm, cfg)
    probes, card = load_cutoff_probes(cfg.out, lm)
    position = PositionBaseline.from_dict(card["position"])
    key = [lm.fingerprint, cfg.to_dict(), report["kinds"][cfg.main]["heads"]]
    budget = report["kinds"][cfg.main]["val_budget"]
    val_cfg = replace(cfg, self_assess=False)  # validation answers pick the threshold; no baselines needed there
    per, val = {}, {}
    work = work_dir(stem)
    work.mkdir(parents=True, exist_ok=True)
    for name in [only] if only else cfg.datasets:  # each finished split is saved and not evaluated again
        val[name] = resumed(
            work / f"val_{name}.json",
            key,
            lambda name=name: evaluate_cutoff(  # called at once by resumed(); the default just binds this split
                lm, probes, position, load_examples(lm, name, "validation", cfg.n_val, cfg), val_cfg, cfg.main, budget
            ),
        )
        per[name] = resumed(
            work / f"{name}.json",
            key,
            lambda name=name: evaluate_cutoff(
                lm, probes, position, load_examples(lm, name, "test", cfg.n_test, cfg), cfg, cfg.main, budget
            ),
        )
    if only:
        return None
    swept = [n for n in cfg.probe_names if feature_kind(n) == feature_kind(cfg.main)]  # every threshold scored
    picks = {n: accuracy_threshold(val, n, cfg.thresholds) for n in swept}
    result = results_summary(
        per,
        cfg,
        lm,
        str(Path(cfg.out).relative_to(ROOT)),
        calibrated=report["kinds"][cfg.main]["calibrated_threshold"],
        main_kind=cfg.main,
        picked=picks[cfg.main],
    )
    result["validation_picked_by_probe"] = {
        n: {**rule_at(per, n, pick["threshold"]), "validation": pick} for n, pick in picks.items()
    }
    result["scaling_ablation"] = ablation(lm, cfg)
    result["train"] = {k: report[k] for k in ("f1_val_position", "data")} | {
        kind: {"heads": r["heads"], "f1_val_ensemble": r["f1_val_ensemble"]} for kind, r in report["kinds"].items()
    }
    return result


def trained(lm, cfg) -> dict:
    """The training report of `cfg` on `lm`: read back from cfg.out when the saved run has the same
    training settings and model (so that several `--only` processes, reruns and configs that only
    evaluate differently do not refit), else `train_cutoff_probes`."""
    from internals.analyses.cutoff.config import TRAIN_KEYS
    from internals.analyses.cutoff.pipeline import train_cutoff_probes

    saved = Path(cfg.out) / "train.json"
    if saved.exists():
        report = json.loads(saved.read_text())
        if (
            cfg.same_as(report.get("config", {}), TRAIN_KEYS)
            and report["model"]["fingerprint"] == lm.fingerprint
            and all((Path(cfg.out) / name / "card.json").exists() for name in cfg.probe_names)
        ):
            return report
    return train_cutoff_probes(lm, cfg)


def resumed(path: Path, key, compute):
    """compute(), saved to `path` under `key`; a saved result of the same run is returned instead."""
    if path.exists():
        saved = json.loads(path.read_text())
        if _same_run(saved.get("key"), key):
            return saved["result"]
    result = compute()
    path.write_text(json.dumps({"key": key, "result": result}))
    return result


# The settings an evaluation's numbers depend on (a saved dataset result is reused when they match).
_EVAL_KEYS = (
    "datasets",
    "model",
    "n_test",
    "test_offset",
    "target_tokens",
    "pad_distractors",
    "fields",
    "n_chunks",
    "kinds",
    "k",
    "combine",
    "main",
    "C",
    "standardize",
    "threshold",
    "thresholds",
    "self_assess",
    "answer_from",
    "max_new_tokens",
    "seed",
    "n_train",
    "n_val",
)


def _same_run(saved, key) -> bool:
    """key: [model fingerprint, config dict, main heads]; a key saved before a config key existed
    has that key's default."""
    from internals.analyses.cutoff.config import same_settings

    if not saved:
        return False
    new = json.loads(json.dumps(key))
    return saved[0] == new[0] and saved[2] == new[2] and same_settings(saved[1], new[1], _EVAL_KEYS)


def ablation(lm, cfg) -> dict:
    """`scaling_ablation` of cfg's trained probes, saved beside them (cfg.out/scaling_ablation.json)
    under the training settings and main kind it depends on, so every run on the same probes (a
    confirmation on other test examples, say) reads it back instead of refitting."""
    from internals.analyses.cutoff.config import TRAIN_KEYS

    path = Path(cfg.out) / "scaling_ablation.json"
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("fingerprint") == lm.fingerprint and cfg.same_as(saved.get("config", {}), (*TRAIN_KEYS, "main")):
            return saved["result"]
    result = scaling_ablation(lm, cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"fingerprint": lm.fingerprint, "config": cfg.to_dict(), "result": result}, indent=1))
    return result


def scaling_ablation(lm, cfg) -> dict:
    """The faithful unscaled head probes on the same (cached) features of the main probe's kind:
    validation F1 and how often the ensemble reaches the stopping threshold, beside the
    standardised ones."""
    import numpy as np

    from internals.analyses.cutoff.metrics import f1
    from internals.analyses.cutoff.pipeline import load_examples, read_all
    from internals.analyses.cutoff.probes import HeadEnsemble, feature_kind

    kind = feature_kind(cfg.main)
    tr = read_all(
        lm, [e for n in cfg.datasets for e in load_examples(lm, n, "train", cfg.n_train, cfg)], cfg, progress=False
    )
    va = read_all(
        lm, [e for n in cfg.datasets for e in load_examples(lm, n, "validation", cfg.n_val, cfg)], cfg, progress=False
    )
    out = {}
    for standardize in (False, True):
        probe = HeadEnsemble(k=cfg.k, C=cfg.C, standardize=standardize, random_state=cfg.seed)
        p = probe.fit(tr.X[kind], tr.y, X_val=va.X[kind], y_val=va.y).predict_proba(va.X[kind])[:, 1]
        out["standardized" if standardize else "unscaled (paper's head selection)"] = {
            "f1_val": round(f1(va.y, p >= 0.5), 4),
            "max_p": round(float(p.max()), 4),
            "share_p_at_threshold": round(float(np.mean(p >= cfg.threshold)), 4),
            "heads": probe.heads_.tolist(),
        }
    return out


def print_table(result: dict) -> None:
    for name, t in result["tables"].items():
        print(
            f"\n{name}: {t['n_examples']} test examples, {t['n_prefixes']} prefixes; F1 "
            + ", ".join(f"{k} {v:.3f}" for k, v in t["f1"].items())
        )
        print(f"  {'method':34s} {'reduction':>9s} {'processed':>9s} {'accuracy':>9s} {'chunks':>7s}")
        for m, r in t["methods"].items():
            processed = (
                f"{r['processed_reduction']:9.3f}" if "processed_reduction" in r else f"{'-':>9s}"
            )  # older results
            print(f"  {m:34s} {r['token_reduction']:9.3f} {processed} {r['accuracy']:9.3f} {r['mean_chunks']:7.2f}")


def _ci(rule: dict) -> str:
    """' [lo, hi]' of a rule's token reduction interval (bootstrap over examples), '' when it has none."""
    ci = rule.get("token_reduction_ci")
    return f" [{ci['lo']:.3f}, {ci['hi']:.3f}]" if ci else ""


def _paired(p: dict) -> str:
    return f"{p['wins']} won, {p['losses']} lost of {p['n']}, McNemar p = {p['p_value']:.3g}"


def main() -> int:
    from internals.analyses.cutoff.config import CutoffConfig
    from internals.analyses.cutoff.figures import write_figures
    from internals.models import load_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_option(parser)
    parser.add_argument(
        "--config",
        default=None,
        help="probe config (default probes/cutoff.toml; another --model: probes/<model>/cutoff.toml)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="only re-summarise and redraw from the saved results (fills in token reduction intervals and "
        "checks a result older than the truncated-answer rule against it)",
    )
    parser.add_argument(
        "--only",
        metavar="DATASET",
        help="evaluate one dataset and exit (its saved results are "
        "reused by a later full run: start one process per dataset to use more cores)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)  # the machine's 2 cores are shared: one thread wastes less on waiting
    key = model_key(args.model)
    config = Path(args.config or ROOT / "probes" / (f"{key}/cutoff.toml" if key else "cutoff.toml"))
    cfg = CutoffConfig.from_toml(config)
    if model_key(cfg.model) != key and args.model is not None:
        parser.error(f"{config} is for model {cfg.model or 'default'}, not {args.model}: give that model's config")
    model = cfg.model
    stem = config.stem
    results = results_path(f"context_{stem}", model)
    if model_key(model) is not None:
        stem = f"{stem}.{model_key(model)}"  # the saved evaluations of another model's config
    if args.reuse:  # the saved numbers as they are, with intervals filled in from their per-example tables
        from internals.analyses.cutoff.pipeline import with_answer_rule, with_intervals

        result = with_answer_rule(with_intervals(json.loads(results.read_text())))
        results.write_text(json.dumps(result, indent=1))
    else:
        cfg.out = str(ROOT / cfg.out) if not Path(cfg.out).is_absolute() else cfg.out
        lm = load_model(cfg.model, device=cfg.device)
        result = run(cfg, lm, args.only, stem)
        if result is None:
            print(f"evaluated {args.only}: {work_dir(stem).relative_to(ROOT)}/{args.only}.json")
            return 0
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(result, indent=1))
    print_table(result)
    print(
        f"\n{result['manifest']['config']['main']} head probes on validation prefixes, scaled or not:",
        json.dumps(result.get("scaling_ablation")),
    )
    figure_dir, prefix = assets_dir(model), config.stem
    for path in write_figures(results, ROOT / result["manifest"]["probe"] / "train.json", figure_dir, prefix=prefix):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    cal, picked = result.get("calibrated"), result.get("validation_picked")
    if cal:
        print(
            f"\nthreshold picked on validation (stop precision >= target): {cal['threshold']:g}: "
            f"token reduction {cal['token_reduction']:.3f}{_ci(cal)}, accuracy {cal['accuracy']:.3f}"
        )
    if picked:
        print(
            f"threshold picked on validation answers (largest reduction at >= full accuracy): {picked['threshold']:g}: "
            f"token reduction {picked['token_reduction']:.3f}{_ci(picked)}, accuracy {picked['accuracy']:.3f} "
            f"(validation sweep: {json.dumps(picked['validation']['sweep'])})"
        )
    for name, rule in result.get("validation_picked_by_probe", {}).items():
        print(
            f"  {name}: picked {rule['threshold']:g}: token reduction {rule['token_reduction']:.3f}, accuracy {rule['accuracy']:.3f}"
            + (f" ({_paired(rule['vs_full'])})" if "vs_full" in rule else "")
        )
    if "vs_full" in result:
        print(
            f"{next(iter(result['tables'].values()))['main']} against the full context, same test examples: "
            f"{_paired(result['vs_full'])}; token reduction {result['token_reduction']:.3f}{_ci(result)} "
            "(95% bootstrap interval over examples)"
        )
    headline = {
        k: result[k] for k in ("token_reduction", "accuracy_cutoff", "accuracy_full", "f1_probe", "f1_position")
    }
    per = result["per_dataset"]
    met = {
        "reduction_and_accuracy": bool(
            result["token_reduction"] >= 1.33 and result["accuracy_cutoff"] >= result["accuracy_full"]
        ),
        "probe_beats_position_everywhere": all(r["f1_probe"] > r["f1_position"] for r in per.values()),
    }
    if picked:
        met["reduction_and_accuracy_at_validation_picked_threshold"] = bool(
            picked["token_reduction"] >= 1.33 and picked["accuracy"] >= result["accuracy_full"]
        )
    print(json.dumps(headline | {"per_dataset": per, "targets_met": met}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
