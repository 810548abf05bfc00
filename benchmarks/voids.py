"""Void in Language Models targets on SmolLM2-135M-Instruct (CPU sized).

    python benchmarks/voids.py              # full run (resumes an interrupted evaluation)
    python benchmarks/voids.py --reuse      # only re-summarise and redraw from the saved results
    python benchmarks/voids.py --best-ci    # rerun only the best trade-off, check it, add its interval
    python benchmarks/voids.py --model gemma3-270m   # -> results/voids.gemma3-270m.json, voids_trace.gemma3-270m/,
                                                     #    runs/voids/bench.gemma3-270m/, assets/gemma3-270m/

Stages (numbers saved with a manifest before any figure is drawn):
1. trace: norm traces of --trace-n strategyqa questions as chat prompts (a base model: the Q/A template) (PP + up to
   --trace-tokens greedy RG tokens),
   LAC void shares and per-block activation rates per phase over the alpha sweep;
2. eval: zero-shot accuracy of the full model vs `paper`, `drop` and `skip` (see
   internals.analyses.voids.skip) over the sweep, both protocols (generate + parse, option
   log-likelihood), on general_knowledge (all 70), hindu_knowledge (multiple choice) and
   strategyqa (yes/no), 50 questions each beyond general_knowledge (CPU sized). `drop` (in both
   phases, and in RG only) runs at alpha 0.05 there and at the rest of DROP_ALPHAS in a second
   evaluation (runs/voids/bench/eval_drop), whose rows join the sweep;
3. time: seconds per single-sequence decode step, full vs skip (blocks not run) vs drop;
4. figures -> assets/voids_*.png|pdf; summary -> benchmarks/results/voids.json; the norm trace
   itself (1 MB) -> benchmarks/results/voids_trace, so `internals figures` redraws the trace
   figures on a fresh clone.
Target: at some alpha, >= 30% of (token, block) pairs skipped with accuracy >= the full model
on at least one set (the paper: Qwen2.5-7B MMLU 69.24 -> 71.29 with ~30% of layers used;
Mistral-7B GPQA 13.88 -> 18.36 with ~70%). The last line printed is JSON: alpha,
layers_skipped, accuracy_skip, accuracy_full, dataset (the best trade-off) and sweep (all rows).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from bench_models import add_model_option, assets_dir, model_key, results_path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "runs" / "voids" / "bench"
ALPHAS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.8)
DROP_ALPHAS = (0.01, 0.02, 0.05, 0.1, 0.2)  # `drop` removes whole block outputs: it needs small alphas
TRACE = RESULTS / "voids_trace"


def paths(model: str | None) -> tuple[Path, Path]:
    """(work dir, committed trace dir) of `model`: runs/voids/bench and results/voids_trace for the
    default model, runs/voids/bench.<model> and results/voids_trace.<model> for another."""
    key = model_key(model)
    return (WORK, TRACE) if key is None else (WORK.with_name(f"bench.{key}"), TRACE.with_name(f"voids_trace.{key}"))


SETS = {"general_knowledge": 70, "hindu_knowledge": 50, "strategyqa": 50}
TARGET_SKIPPED = 0.30


def best_tradeoff(rows: list[dict]) -> dict:
    """Among configurations skipping >= 30% of pairs: the highest accuracy gain over the full
    model on the same dataset and protocol (ties: more skipped); without any, the most skipped."""
    full = {(r["dataset"], r["protocol"]): r["accuracy"] for r in rows if r["kind"] == "none"}
    cands = [r for r in rows if r["kind"] != "none"]
    enough = [r for r in cands if r["layers_skipped"] >= TARGET_SKIPPED]
    pool = enough or cands
    key = (
        (lambda r: (r["accuracy"] - full[(r["dataset"], r["protocol"])], r["layers_skipped"]))
        if enough
        else (lambda r: (r["layers_skipped"], r["accuracy"]))
    )
    best = max(pool, key=key)
    acc_full = full[(best["dataset"], best["protocol"])]
    return {
        "alpha": best["alpha"],
        "layers_skipped": round(best["layers_skipped"], 4),
        "accuracy_skip": round(best["accuracy"], 4),
        "accuracy_full": round(acc_full, 4),
        "dataset": best["dataset"],
        "protocol": best["protocol"],
        "kind": best["kind"],
        "label": best["label"],
        "n": best["n"],
        "target_met": bool(best["layers_skipped"] >= TARGET_SKIPPED and best["accuracy"] >= acc_full),
    }


def run_stages(args) -> None:
    from internals.analyses.voids.evaluate import EvalConfig, evaluate_voids
    from internals.analyses.voids.protocol import eval_prompt
    from internals.analyses.voids.report import trace_summary
    from internals.analyses.voids.timing import decode_timing
    from internals.analyses.voids.trace import NormTrace, trace
    from internals.data import load_dataset
    from internals.models import load_model
    from internals.prompts import render_ids, resolve_template
    from internals.store.config import package_versions

    lm = load_model(args.model, device=args.device)
    base = {"model": lm.describe(), "versions": package_versions(), "threads": torch.get_num_threads(), "seed": 0}
    work, trace_dir = paths(args.model)
    work.mkdir(parents=True, exist_ok=True)
    if not (trace_dir / "manifest.json").exists():
        data = load_dataset("strategyqa", limit=args.trace_n)
        template = resolve_template("auto", lm.tokenizer)  # the chat template, or a base model's Q/A template
        prompts = render_ids(data, template, lm.tokenizer)  # a user turn: replies run long enough for RG
        meta = {
            **base,
            "dataset": {"name": data.name, "fingerprint": data.fingerprint, "n": len(data)},
            "template": template,
        }
        trace(lm, prompts, args.trace_tokens, batch_size=8, progress=True, manifest=meta).save(trace_dir)
    tr = NormTrace.load(trace_dir)
    (work / "trace_summary.json").write_text(
        json.dumps({"manifest": tr.manifest, **trace_summary(tr, ALPHAS)}, indent=1)
    )

    cfg = EvalConfig(
        alphas=tuple(args.alphas),
        kinds=tuple(args.kinds),
        drop_phases=("both", "rg"),
        drop_alphas=(0.05,),
        skip_alphas=(0.05, 0.1, 0.2, 0.3),
        max_new_tokens=8,
    )
    datasets = [load_dataset(name, limit=n) for name, n in SETS.items()]
    meta = {"model": base["model"], "versions": base["versions"]}
    evaluate_voids(lm, datasets, cfg, work / "eval", manifest=meta, progress=True)
    if "drop" in cfg.kinds:
        rest = tuple(a for a in DROP_ALPHAS if a not in (cfg.drop_alphas or ()))
        drop = EvalConfig(alphas=rest, kinds=("drop",), drop_phases=("both", "rg"), max_new_tokens=8)
        evaluate_voids(lm, datasets, drop, work / "eval_drop", manifest=meta, progress=True)

    timing_path = work / "timing.json"
    if not timing_path.exists():
        prompts = [
            eval_prompt(lm.tokenizer, r.shuffled_choices())
            for r in load_dataset("strategyqa", limit=args.time_n, seed=1)
        ]
        rows = [t.to_dict() for t in decode_timing(lm, prompts, [0.1, 0.2, 0.3], steps=16, progress=True)]
        timing_path.write_text(
            json.dumps(
                {
                    "manifest": {**base, "dataset": "strategyqa", "limit": args.time_n, "seed": 1, "steps": 16},
                    "rows": rows,
                },
                indent=1,
            )
        )


def summarise(model: str | None) -> dict:
    from internals.analyses.voids.evaluate import paired, skipped_interval

    work, _ = paths(model)
    trace_summary = json.loads((work / "trace_summary.json").read_text())
    eval_summary = json.loads((work / "eval" / "summary.json").read_text())
    drop_path = work / "eval_drop" / "summary.json"  # absent when the run left `drop` out (--kinds)
    drop_summary = (
        json.loads(drop_path.read_text()) if drop_path.exists() else {"rows": [], "manifest": {"config": None}}
    )
    timing = json.loads((work / "timing.json").read_text())
    # the full model's rows come from the main evaluation (the drop evaluation reruns the same full model)
    raw = eval_summary["rows"] + [r for r in drop_summary["rows"] if r["kind"] == "drop"]
    rows = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in raw]
    best = best_tradeoff(raw)
    main_labels = {r["label"] for r in eval_summary["rows"]}
    where = work / ("eval" if best["label"] in main_labels else "eval_drop")
    lines = [json.loads(x) for x in (where / f"{best['dataset']}.jsonl").read_text().splitlines()]
    best["paired"] = paired(lines, best["label"], best["protocol"])
    best["layers_skipped_ci"] = skipped_interval(lines, best["label"], best["protocol"])
    trace_manifest = trace_summary.pop("manifest")
    return {
        **best,
        "sweep": rows,
        "trace": {
            "manifest": {k: trace_manifest.get(k) for k in ("model", "dataset", "template", "max_new_tokens", "sites")},
            **trace_summary,
        },
        "timing": timing,
        "manifest": {**eval_summary["manifest"], "drop_config": drop_summary["manifest"]["config"]},
    }


def figures(result: dict, model: str | None) -> list[Path]:
    from transformers import AutoTokenizer

    from internals.analyses.voids.report import eval_figures, trace_figures
    from internals.analyses.voids.trace import NormTrace
    from internals.models import model_reference

    tr = NormTrace.load(paths(model)[1])
    reference = model_reference(tr.manifest["model"])
    tok = AutoTokenizer.from_pretrained(str(bundled_dir(reference) or reference))
    out = assets_dir(model)
    out.mkdir(parents=True, exist_ok=True)
    return trace_figures(tr, 0.8, ALPHAS, out, tokenizer=tok) + eval_figures(result["sweep"], out)


def bundled_dir(reference: str | None) -> Path | None:
    from internals.models import bundled_model, bundled_model_dir

    return bundled_model_dir(reference) if reference and bundled_model(reference) else None


def print_targets(result: dict) -> None:
    t = result["trace"]["alphas"]
    print(
        f"void share of (token, block) pairs at alpha 0.8: PP {t['0.8']['pp']['void_share']:.3f}, "
        f"RG {t['0.8']['rg']['void_share']:.3f} (METHODS: ~0.82 per prompt token)"
    )
    for alpha, row in t.items():
        print(f"  alpha {alpha:>5}: PP voids {row['pp']['void_share']:.3f}  RG voids {row['rg']['void_share']:.3f}")
    print("accuracy, share of (token, block) pairs used, share of picks equal to the full model's (generate | loglik):")
    for r in result["sweep"]:
        if r["protocol"] == "generate":
            ll = next(
                x
                for x in result["sweep"]
                if x["label"] == r["label"] and x["dataset"] == r["dataset"] and x["protocol"] == "loglik"
            )
            print(
                f"  {r['dataset']:<20} {r['label']:<22} acc {r['accuracy']:.3f} | {ll['accuracy']:.3f}  used {r['used']:.3f} | "
                f"{ll['used']:.3f}  agree {r['agree_full']:.2f} | {ll['agree_full']:.2f}  (n={r['n']})"
            )
    print("decode seconds per step (single sequence):")
    for r in result["timing"]["rows"]:
        print(f"  {r['label']:<24} {r['seconds_per_step']:.4f} s  blocks skipped/dropped {r['blocks_skipped']:.3f}")
    status = "MET" if result["target_met"] else "NOT MET"
    print(
        f"target (>= 30% skipped, accuracy >= full on one set): {status}; best trade-off: {result['label']} on "
        f"{result['dataset']} ({result['protocol']}): {result['accuracy_full']:.3f} -> {result['accuracy_skip']:.3f} "
        f"with {result['layers_skipped']:.1%} of pairs skipped, n={result['n']}; paired against the full model: "
        f"{result['paired']['wins']} questions won, {result['paired']['losses']} lost, exact McNemar p = "
        f"{result['paired']['p_value']:.3g}"
    )


def fill_intervals(model: str | None) -> int:
    """Add `void_share_ci` (bootstrap over prompts) to every alpha and phase of the committed
    results' trace summary, from the committed norm trace (it reproduces each share exactly)."""
    from internals.analyses.voids.report import void_share_interval
    from internals.analyses.voids.trace import NormTrace

    out = results_path("voids", model)
    result = json.loads(out.read_text())
    trace = NormTrace.load(paths(model)[1])
    for alpha, row in result["trace"]["alphas"].items():
        for phase, cell in row.items():
            share = trace.lac(float(alpha), phase).void_share()
            if abs(share - cell["void_share"]) > 1e-9:
                raise SystemExit(
                    f"voids: the committed trace gives void share {share} at alpha {alpha} {phase}, "
                    f"the results file {cell['void_share']}: rerun the benchmark"
                )
            cell["void_share_ci"] = void_share_interval(trace, float(alpha), phase)
    out.write_text(json.dumps(result, indent=1) + "\n")
    t = result["trace"]["alphas"]["0.8"]["pp"]
    print(f"{out.name}: PP void share at alpha 0.8 {t['void_share']:.4f} {t['void_share_ci']}")
    return 0


def best_lines_dir(model: str | None) -> Path:
    """Where the best configuration's per-question lines are committed: results/voids_best[.<model>]."""
    key = model_key(model)
    return RESULTS / ("voids_best" if key is None else f"voids_best.{key}")


def fill_best_interval(model: str | None, threads: int) -> int:
    """Rerun only the committed best trade-off (its kind and alpha, and the full model) on the same
    seeded questions, check it reproduces the committed accuracies, share skipped and McNemar counts
    exactly, commit its per-question lines beside the results and add `layers_skipped_ci` (bootstrap
    over questions) to them. A result that does not reproduce writes nothing."""
    from internals.analyses.voids.evaluate import EvalConfig, evaluate_voids, paired, skipped_interval
    from internals.data import load_dataset
    from internals.models import load_model

    out = results_path("voids", model)
    result = json.loads(out.read_text())
    if result["kind"] not in ("paper", "skip"):
        raise SystemExit(f"voids: --best-ci reruns the paper or skip kind, not {result['kind']!r}")
    cfg = EvalConfig(
        alphas=(result["alpha"],),
        kinds=(result["kind"],),
        skip_alphas=(result["alpha"],) if result["kind"] == "skip" else None,
        max_new_tokens=result["manifest"]["config"]["max_new_tokens"],
    )
    for key in ("prompt_share", "shuffle", "seed"):
        if result["manifest"]["config"][key] != getattr(cfg, key):
            raise SystemExit(f"voids: the committed run's {key} differs from the rerun's: rerun the benchmark")
    lm = load_model(model, device="cpu")
    data = load_dataset(result["dataset"], limit=SETS[result["dataset"]])
    work = paths(model)[0].with_name(paths(model)[0].name + ".best")
    meta = {"model": lm.describe(), "threads": threads, "reproduces": out.name}
    rows = evaluate_voids(lm, [data], cfg, work, manifest=meta, progress=True)
    row = next(r for r in rows if r["label"] == result["label"] and r["protocol"] == result["protocol"])
    full = next(r for r in rows if r["kind"] == "none" and r["protocol"] == result["protocol"])
    lines = [json.loads(x) for x in (work / f"{data.name}.jsonl").read_text().splitlines() if x.strip()]
    again = {
        "accuracy_skip": round(row["accuracy"], 4),
        "accuracy_full": round(full["accuracy"], 4),
        "layers_skipped": round(row["layers_skipped"], 4),
        "n": row["n"],
        "paired": paired(lines, result["label"], result["protocol"]),
    }
    differs = {k: (result[k], v) for k, v in again.items() if result[k] != v}
    if differs:
        raise SystemExit(f"voids: the rerun does not reproduce the committed best configuration: {differs}")
    keep = best_lines_dir(model)
    keep.mkdir(parents=True, exist_ok=True)
    (keep / f"{data.name}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    result["layers_skipped_ci"] = skipped_interval(lines, result["label"], result["protocol"])
    out.write_text(json.dumps(result, indent=1) + "\n")
    lo, hi = result["layers_skipped_ci"]
    print(f"{out.name}: reproduced; {result['layers_skipped']:.4f} of pairs skipped [{lo:.4f}, {hi:.4f}]")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_option(p)
    p.add_argument("--reuse", action="store_true", help="only summarise and redraw from saved results")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared CPU)")
    p.add_argument("--trace-n", type=int, default=100)
    p.add_argument("--trace-tokens", type=int, default=24)
    p.add_argument("--time-n", type=int, default=8)
    p.add_argument("--alphas", type=float, nargs="+", default=list(ALPHAS), help="the evaluation's alpha sweep")
    p.add_argument(
        "--kinds",
        nargs="+",
        default=["paper", "drop", "skip"],
        choices=["paper", "drop", "skip"],
        help="skipping kinds evaluated (default all three; `drop` adds a second evaluation at DROP_ALPHAS)",
    )
    p.add_argument("--no-figures", action="store_true")
    p.add_argument(
        "--intervals",
        action="store_true",
        help="only fill in the committed results' void share intervals from the committed trace, then exit",
    )
    p.add_argument(
        "--best-ci",
        action="store_true",
        help="only rerun the committed best configuration, check it reproduces, add its skipped-share interval",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.intervals:
        return fill_intervals(args.model)
    if args.best_ci:
        return fill_best_interval(args.model, args.threads)
    if not args.reuse:
        run_stages(args)
    result = summarise(args.model)
    results_path("voids", args.model).write_text(json.dumps(result, indent=1) + "\n")
    if not args.no_figures:
        for path in figures(result, args.model):
            print(f"wrote {path}")
    print_targets(result)
    keys = ("alpha", "layers_skipped", "accuracy_skip", "accuracy_full", "dataset", "protocol", "kind", "target_met")
    print(json.dumps({**{k: result[k] for k in keys}, "sweep": result["sweep"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
