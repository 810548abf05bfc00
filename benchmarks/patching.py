"""Activation patching on the embedded SmolLM2-135M-Instruct: >= 100 qa_wikidata facts it gets right.

    python benchmarks/patching.py --threads 2          # full run (resumes from patching.partial.jsonl)
    python benchmarks/patching.py --reuse              # only re-summarise and redraw the saved results
    python benchmarks/patching.py --threads 2 --window 10 --sites attn_out mlp_out   # ROME's 10-layer window
    python benchmarks/patching.py --model gemma3-270m  # -> results/patching.gemma3-270m.json (resumes from
                                                       #    patching.gemma3-270m.partial.jsonl), assets/gemma3-270m/

Clean prompts "The <relation> of <subject> is" whose greedy next token is the first token of a gold
answer; corrupted prompts the same relation with another subject of as many tokens (internals.
analyses.patching.pairs). Every (layer, position from the subject on) of resid_post, attn_out and
mlp_out is restored from the clean run, one at a time, batched; recovery = (p_patched - p_corrupt) /
(p_clean - p_corrupt) of the clean answer's first token at the last position, averaged per ROME token
category with a bootstrap 95% interval over prompts.
Writes benchmarks/results/patching.json (manifest, per-pair restorations, summary, wall time) and
assets/patching_<site>.png|pdf (with --window w: patching_window<w>.json, assets/patching_window<w>_<site>);
prints the peak cell of each site (overall and on the subject's tokens) and, last, one line of JSON.
Another --model (the prompts are raw text for every model, no template): the same run on that model,
results/patching[_window<w>].<model>.json with its own partial file, figures under assets/<model>/.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bench_models import add_model_option, assets_dir, results_path

ROOT = Path(__file__).resolve().parent.parent


def out_path(window: int, model: str | None = None) -> Path:
    """benchmarks/results/patching.json, or patching_window<w>.json for ROME's windowed restorations
    (another model: patching[_window<w>].<model>.json)."""
    return results_path("patching" if window == 1 else f"patching_window{window}", model)


def run(args) -> None:
    from internals import load_model
    from internals.analyses.patching import PatchConfig, patching_run, save_results

    lm = load_model(args.model, device=args.device)
    config = PatchConfig(tuple(args.sites), args.window, args.batch_size)
    start = time.perf_counter()
    out = out_path(args.window, args.model)
    partial = out.with_name(out.stem + ".partial.jsonl")  # per model: <stem>[.<model>].partial.jsonl
    doc = patching_run(
        lm,
        "qa_wikidata",
        n=args.n,
        config=config,
        seed=args.seed,
        min_gap=args.min_gap,
        n_boot=args.bootstrap,
        checkpoint=partial,
        progress=not args.no_progress,
    )
    wall = time.perf_counter() - start
    doc["manifest"].update(
        command=" ".join(["python", "benchmarks/patching.py", *sys.argv[1:]]),
        device_name=f"{platform.machine()} cpu, {torch.get_num_threads()} torch thread(s)"
        if lm.device.type == "cpu"
        else torch.cuda.get_device_name(lm.device),
        wall_seconds=round(wall, 1),
    )
    save_results(out, doc["manifest"], doc["results"])
    partial.unlink(missing_ok=True)


def summarise(args) -> dict:
    from internals.analyses.patching import load_results
    from internals.analyses.patching.figures import export_figures

    doc = load_results(out_path(args.window, args.model))
    m, res = doc["manifest"], doc["results"]
    d = m["data"]
    print(
        f"== {res['n_pairs']} pairs from {d['name']} ({d['n_parsed']} parsed records, {d['n_evaluated']} evaluated, "
        f"{d['n_correct']} answered right); mean p_clean {res['p_clean_mean']:.3f}, p_corrupt {res['p_corrupt_mean']:.3f}; "
        f"wall {m.get('wall_seconds', float('nan')):.0f} s ({m.get('device_name')})"
    )
    headline = {"n_pairs": res["n_pairs"], "wall_seconds": m.get("wall_seconds")}
    for site, s in res["summary"].items():
        mean = np.asarray(s["recovery"]["mean"], dtype=float)
        print(f"-- {site}: mean recovery by category (n prompts), best layer and value")
        for c, name in enumerate(res["categories"]):
            if s["n"][c]:
                layer = int(np.nanargmax(mean[c]))
                print(
                    f"   {name:22s} (n={s['n'][c]:3d}) layer {layer:2d}: {mean[c, layer]:.3f} "
                    f"[{s['recovery']['lo'][c][layer]:.3f}, {s['recovery']['hi'][c][layer]:.3f}]"
                )
        for key in ("peak", "peak_subject"):
            pk = s[key]
            print(
                f"   {key}: {pk['mean']:.3f} [{pk['lo']:.3f}, {pk['hi']:.3f}] at {pk['category']}, layer {pk['layer']}"
            )
            headline[f"{key}_{site}"] = pk
    if not args.no_figures:
        for path in export_figures(doc, assets_dir(args.model)):
            print(f"wrote {path.relative_to(ROOT)}")
    return headline


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_option(p)
    p.add_argument("--n", type=int, default=100, help="pairs (default 100)")
    p.add_argument("--sites", nargs="+", default=["resid_post", "attn_out", "mlp_out"])
    p.add_argument("--window", type=int, default=1, help="layers restored around each layer for attn_out / mlp_out")
    p.add_argument("--min-gap", type=float, default=0.1, help="keep pairs with p_clean - p_corrupt above this")
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--reuse", action="store_true", help="keep the saved results; only summarise and draw")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not (args.reuse and out_path(args.window, args.model).exists()):
        run(args)
    print(json.dumps(summarise(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
