"""`internals depth trace | pretrain | figures`: the Curse of Depth analyses.

internals depth trace --model MODEL --data corpus --n 1000 --max-tokens 64 --twin
internals depth pretrain --norm both --preset cpu
internals depth figures --results runs/depth/trace.json --out assets
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InternalsError


def register(sub) -> None:
    p = sub.add_parser(
        "depth", help="Curse of Depth: variance per layer, angular distance, ablation; Pre-LN vs LNS pre-training"
    )
    dsub = p.add_subparsers(dest="depth_command", required=True)

    t = dsub.add_parser(
        "trace", help="variance per layer (with bands), angular distance, block influence, layer ablation"
    )
    t.add_argument(
        "--model",
        default=None,
        help="local HF checkpoint dir or hub name (default: the embedded SmolLM2-135M-Instruct)",
    )
    t.add_argument(
        "--data",
        default="corpus",
        help="corpus (BIG-bench passages), a dataset name, your .jsonl/.json/.csv/.parquet file or saved HF "
        "dataset dir (each record's context, else question), or a .txt file (one prompt a line)",
    )
    t.add_argument(
        "--field",
        action="append",
        default=None,
        metavar="OURS=YOURS",
        help="map a field of your data file to ours, e.g. --field context=passage (repeatable)",
    )
    t.add_argument("--limit", "--n", dest="n", type=int, default=1000, help="number of prompts to trace (default 1000)")
    t.add_argument("--max-tokens", type=int, default=64, help="truncate each prompt to this many tokens (default 64)")
    t.add_argument("--twin", action="store_true", help="also trace a random-initialised model of the same config")
    t.add_argument(
        "--ablation-texts", type=int, default=32, help="held-out texts for the layer ablation; 0 skips it (default 32)"
    )
    t.add_argument("--ablation-tokens", type=int, default=128, help="tokens per ablation text (default 128)")
    t.add_argument("--batch-size", type=int, default=16, help="prompts per forward (default 16)")
    t.add_argument(
        "--chunk-size", type=int, default=64, help="prompts captured at once before folding into the statistics"
    )
    _common(t, "runs/depth/trace.json")
    t.set_defaults(func=run_trace)

    q = dsub.add_parser("pretrain", help="train the same small Llama-style model from scratch with Pre-LN and with LNS")
    q.add_argument(
        "--norm", choices=("pre-ln", "lns", "both"), default="both", help="which model(s) to train (default both)"
    )
    q.add_argument(
        "--preset",
        choices=("test", "cpu", "gpu"),
        default=None,
        help="model and run size (default: gpu when CUDA is available, else cpu)",
    )
    for flag, kind, what in (
        ("--steps", int, "optimizer steps"),
        ("--layers", int, "decoder blocks"),
        ("--d-model", int, "hidden size"),
        ("--heads", int, "attention heads"),
        ("--seq-len", int, "tokens per sequence"),
        ("--batch-size", int, "sequences per step"),
        ("--lr", float, "peak learning rate"),
        ("--eval-every", int, "steps between validations"),
    ):
        q.add_argument(flag, type=kind, default=None, help=f"{what} (default: the preset's)")
    q.add_argument("--save-models", default=None, help="directory to save the trained checkpoints in")
    _common(q, "runs/depth/pretrain.json")
    q.set_defaults(func=run_pretrain)

    f = dsub.add_parser("figures", help="draw the figures of saved depth results (no model is run)")
    f.add_argument("--results", nargs="+", required=True, help="JSON files written by depth trace / pretrain")
    f.add_argument("--out", default="assets", help="output directory (default assets)")
    f.add_argument("--formats", nargs="+", default=["png", "pdf"], help="figure formats (default png pdf)")
    f.set_defaults(func=run_figures)


def _common(p, default_out: str) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 ...")
    p.add_argument("--seed", type=int, default=0, help="seed of data sampling and initialisation (default 0)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (1 is fastest on a busy shared machine; default: torch's)",
    )
    p.add_argument("--out", default=default_out, help=f"results JSON (default {default_out})")
    p.add_argument("--figures", default="assets", help="directory for PNG/PDF figures; 'none' to skip (default assets)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _threads(args) -> None:
    if args.threads is not None:
        import torch

        if args.threads < 1:
            raise InternalsError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)


def _finish(args, analysis: str, doc: dict, summary: dict) -> int:
    from ..analyses.depth.figures import export_figures
    from ..analyses.depth.results import load_results, save_results

    path = save_results(args.out, analysis, doc["manifest"], doc["results"])
    print(json.dumps({**summary, "results": str(path)}))
    if args.figures != "none":
        for written in export_figures(load_results(path), args.figures):
            print(f"wrote {written}")
    return 0


def run_trace(args) -> int:
    from ..analyses.depth.runs import trace_run
    from ..analyses.depth.trace import DepthTrace
    from ..data.files import parse_field_options

    _threads(args)
    for name in ("n", "max_tokens", "batch_size", "chunk_size", "ablation_tokens"):
        if getattr(args, name) < 1:
            raise InternalsError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    doc = trace_run(
        args.model,
        args.data,
        n=args.n,
        max_tokens=args.max_tokens,
        twin=args.twin,
        ablation_texts=max(0, args.ablation_texts),
        ablation_tokens=args.ablation_tokens,
        batch_size=args.batch_size,
        chunk_size=args.chunk_size,
        device=args.device,
        seed=args.seed,
        progress=not args.no_progress,
        fields=parse_field_options(args.field),
    )
    traces = {k: DepthTrace.from_dict(v) for k, v in doc["results"]["traces"].items()}
    summary = {f"variance_last_over_first[{k}]": t.growth() for k, t in traces.items()}
    return _finish(args, "depth.trace", doc, summary)


def run_pretrain(args) -> int:
    from dataclasses import replace

    import torch

    from ..analyses.depth.pretrain import NORMS, PRESETS
    from ..analyses.depth.runs import pretrain_run

    _threads(args)
    preset = args.preset or ("gpu" if torch.cuda.is_available() and args.device in ("auto", "cuda") else "cpu")
    overrides = {
        "steps": args.steps,
        "n_layers": args.layers,
        "d_model": args.d_model,
        "n_heads": args.heads,
        "seq_len": args.seq_len,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "eval_every": args.eval_every,
    }
    for key, value in overrides.items():
        if value is not None and value <= 0:
            raise InternalsError(f"--{key.replace('_', '-')} must be positive, got {value}")
    cfg = replace(
        PRESETS[preset], device=args.device, seed=args.seed, **{k: v for k, v in overrides.items() if v is not None}
    )
    norms = NORMS if args.norm == "both" else (args.norm,)
    from ..paths import cache_dir

    doc = pretrain_run(
        cfg,
        norms,
        progress=not args.no_progress,
        cache=cache_dir("depth"),
        save_models=Path(args.save_models) if args.save_models else None,
    )
    runs = doc["results"]["runs"]
    summary = {"preset": preset, "params": next(iter(runs.values()))["params"], "steps": cfg.steps}
    for norm, r in runs.items():
        summary[f"ppl_{norm}"] = r["val_ppl"][-1]
        summary[f"variance_last_over_first_{norm}"] = r["variance"][-1] / r["variance"][1]
    return _finish(args, "depth.pretrain", doc, summary)


def run_figures(args) -> int:
    from ..analyses.depth.figures import export_figures
    from ..analyses.depth.results import load_results

    for path in args.results:
        for written in export_figures(load_results(path), args.out, formats=tuple(args.formats)):
            print(f"wrote {written}")
    return 0
