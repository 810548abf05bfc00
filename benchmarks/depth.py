"""Curse of Depth targets: SmolLM2-135M vs its random-init twin, and Pre-LN vs LNS pre-training.

    python benchmarks/depth.py                   # full run (trace 1,000 prompts; pretrain preset by device)
    python benchmarks/depth.py --reuse           # only redraw and re-summarise the saved results

Stages (each saves its results JSON with a manifest before any figure is drawn):
1. `internals depth trace` on the embedded SmolLM2-135M-Instruct and a random-initialised model of
   the same config over --n BIG-bench passages (first --max-tokens tokens), and a layer ablation
   of SmolLM2 on held-out passages -> benchmarks/results/depth_trace.json;
2. `internals depth pretrain` Pre-LN and LNS, same seed, data order and steps
   -> benchmarks/results/depth_pretrain.json;
3. figures from both files -> assets/depth_*.png|pdf; the summary -> benchmarks/results/depth.json
   and, as the last line printed, JSON with ppl_preln, ppl_lns, steps, params, device,
   variance_last_over_first_{preln,lns,smollm2} (variance after the last block over variance after
   the first block).
The paper (Table 1, Pre-LN -> LNS perplexity): 130M 26.73 -> 25.76, 250M 21.92 -> 20.35,
350M 19.58 -> 18.20, 1B 17.02 -> 15.71.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from bench_models import add_model_option, assets_dir, model_key, results_path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PAPER = {"130M": (26.73, 25.76), "250M": (21.92, 20.35), "350M": (19.58, 18.20), "1B": (17.02, 15.71)}


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(0)
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} torch thread(s))"


def run(args) -> None:
    from internals.analyses.depth.pretrain import PRESETS
    from internals.analyses.depth.results import save_results
    from internals.analyses.depth.runs import pretrain_run, trace_run
    from internals.paths import cache_dir

    trace_path, pretrain_path = results_path("depth_trace", args.model), RESULTS / "depth_pretrain.json"
    if not (args.reuse and trace_path.exists()):
        doc = trace_run(
            args.model,
            "corpus",
            n=args.n,
            max_tokens=args.max_tokens,
            twin=True,
            ablation_texts=args.ablation_texts,
            ablation_tokens=args.ablation_tokens,
            batch_size=args.batch_size,
            device=args.device,
            seed=args.seed,
        )
        save_results(trace_path, "depth.trace", doc["manifest"], doc["results"])
    if not (args.reuse and pretrain_path.exists()) and model_key(args.model) is None:
        # the pre-training comparison trains its own small model: it does not depend on --model
        preset = args.preset or ("gpu" if torch.cuda.is_available() and args.device != "cpu" else "cpu")
        cfg = replace(
            PRESETS[preset], device=args.device, seed=args.seed, **({"steps": args.steps} if args.steps else {})
        )
        doc = pretrain_run(cfg, cache=cache_dir("depth"))
        doc["manifest"]["config"]["preset"] = preset
        doc["manifest"]["device_name"] = device_name(doc["results"]["runs"]["pre-ln"]["device"])
        save_results(pretrain_path, "depth.pretrain", doc["manifest"], doc["results"])


def summarise(args) -> dict:
    from internals.analyses.depth.figures import export_figures
    from internals.analyses.depth.results import load_results
    from internals.analyses.depth.trace import Ablation, DepthTrace

    trace_doc = load_results(results_path("depth_trace", args.model))
    pre_doc = load_results(RESULTS / "depth_pretrain.json")
    traces = {k: DepthTrace.from_dict(v) for k, v in trace_doc["results"]["traces"].items()}
    print(
        f"== trace: {trace_doc['manifest']['data']['n_prompts']} BIG-bench passages, first "
        f"{trace_doc['manifest']['config']['max_tokens']} tokens; variance per layer (0 = embedding)"
    )
    names = list(traces)
    print("layer " + " ".join(f"{n[:34]:>36}" for n in names))
    for layer in range(len(traces[names[0]].variance)):
        print(f"{layer:5d} " + " ".join(f"{traces[n].variance[layer]:36.4g}" for n in names))
    for n, t in traces.items():
        print(
            f"{n}: variance last/first block {t.growth():.3g}; mean block influence {t.influence.mean():.3g}; "
            f"angular d(l, l+1) mean {np.nanmean(t.angular_by_gap()[:, 0]):.3g}; without each prompt's first token: "
            f"variance last/first block {t.variance_rest[-1] / t.variance_rest[1]:.3g}"
        )
    if trace_doc["results"].get("ablation"):
        a = Ablation.from_dict(trace_doc["results"]["ablation"])
        print(
            f"== ablation of {a.model['name']} on {a.n_texts} held-out passages ({a.n_tokens} tokens): "
            f"baseline loss {a.baseline:.4f} nats"
        )
        print("  block  Δloss: " + ", ".join(f"{b}:{d:+.3f}" for b, d in zip(a.blocks, a.delta)))
    runs = pre_doc["results"]["runs"]
    cfg = pre_doc["manifest"]["config"]
    print(
        f"== pretrain ({cfg.get('preset')}): {cfg['n_layers']} layers, d {cfg['d_model']}, {cfg['steps']} steps of "
        f"{cfg['batch_size']}x{cfg['seq_len']} tokens, lr {cfg['lr']}"
    )
    print("step " + " ".join(f"{n:>10}" for n in runs))
    first = next(iter(runs.values()))
    for i, step in enumerate(first["steps"]):
        print(f"{step:4d} " + " ".join(f"{r['val_ppl'][i]:10.2f}" for r in runs.values()))
    for n, r in runs.items():
        print(
            f"{n}: final validation ppl {r['val_ppl'][-1]:.2f}, variance last/first block "
            f"{r['variance'][-1] / r['variance'][1]:.3g}, {r['seconds']:.0f} s"
        )
    print("paper (Pre-LN -> LNS): " + ", ".join(f"{k} {a} -> {b}" for k, (a, b) in PAPER.items()))
    if not args.no_figures:
        docs = (trace_doc, pre_doc) if model_key(args.model) is None else (trace_doc,)
        for doc in docs:
            for path in export_figures(doc, assets_dir(args.model)):
                print(f"wrote {path.relative_to(ROOT)}")
    real_name = next(n for n in traces if "random" not in n)
    real, twin = traces[real_name], next(t for n, t in traces.items() if "random" in n)
    traced = {
        "model": real_name,
        "variance_last_over_first_model": real.growth(),
        "variance_last_over_first_model_random_init": twin.growth(),
        "variance_last_over_first_model_without_first_token": real.variance_rest[-1] / real.variance_rest[1],
    }
    if model_key(args.model) is not None:
        return traced  # the pre-training comparison is the default model's file only
    smollm2 = real
    return {
        **traced,
        "ppl_preln": runs["pre-ln"]["val_ppl"][-1],
        "ppl_lns": runs["lns"]["val_ppl"][-1],
        "steps": cfg["steps"],
        "params": first["params"],
        "device": pre_doc["manifest"].get("device_name", first["device"]),
        "variance_last_over_first_preln": runs["pre-ln"]["variance"][-1] / runs["pre-ln"]["variance"][1],
        "variance_last_over_first_lns": runs["lns"]["variance"][-1] / runs["lns"]["variance"][1],
        "variance_last_over_first_smollm2": smollm2.growth(),
        "variance_last_over_first_smollm2_random_init": twin.growth(),
        "variance_last_over_first_smollm2_without_first_token": smollm2.variance_rest[-1] / smollm2.variance_rest[1],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_option(p)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--ablation-texts", type=int, default=32)
    p.add_argument("--ablation-tokens", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--preset", choices=("test", "cpu", "gpu"), default=None)
    p.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a busy machine)")
    p.add_argument("--reuse", action="store_true", help="keep saved stage results; only summarise and draw")
    p.add_argument("--no-figures", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    run(args)
    summary = summarise(args)
    results_path("depth", args.model).write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
