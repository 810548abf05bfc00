"""`internals patch`: activation patching (causal tracing with the subject replaced) over factual prompts.

internals patch --data qa_wikidata --n 100 --sites resid_post attn_out mlp_out --out runs/patching.json
internals patch --n 20 --sites mlp_out --window 10 --figures none
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import InternalsError


def register(sub) -> None:
    p = sub.add_parser(
        "patch",
        help="activation patching: restore one (layer, position) of a subject-replaced run "
        "from the clean run; recovery heatmaps per site with bootstrap intervals",
    )
    p.add_argument(
        "--model",
        default=None,
        help="local HF checkpoint dir or hub name (default: the embedded SmolLM2-135M-Instruct)",
    )
    p.add_argument(
        "--data",
        default="qa_wikidata",
        help="dataset of 'The <relation> of <subject> is' completions with answers (default qa_wikidata)",
    )
    p.add_argument(
        "--field",
        action="append",
        default=None,
        metavar="OURS=YOURS",
        help="map a field of your data file to ours, e.g. --field question=input (repeatable)",
    )
    p.add_argument(
        "--limit", "--n", dest="n", type=int, default=100, help="clean/corrupted pairs to patch (default 100)"
    )
    p.add_argument(
        "--sites",
        nargs="+",
        default=["resid_post", "attn_out", "mlp_out"],
        help="any of resid_post attn_out mlp_out (default: all three)",
    )
    p.add_argument(
        "--window",
        type=int,
        default=1,
        help="layers restored around each layer for attn_out and mlp_out (default 1; ROME used 10)",
    )
    p.add_argument(
        "--min-gap", type=float, default=0.1, help="keep pairs with p_clean - p_corrupt above this (default 0.1)"
    )
    p.add_argument(
        "--keep-wrong",
        action="store_true",
        help="also use prompts the model gets wrong (target: the first gold answer); for untrained test models",
    )
    p.add_argument(
        "--bootstrap", type=int, default=1000, help="bootstrap resamples of prompts for the intervals (default 1000)"
    )
    p.add_argument("--batch-size", type=int, default=128, help="restorations per forward (default 128)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 ...")
    p.add_argument("--seed", type=int, default=0, help="seed of the pair selection and the bootstrap (default 0)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (1 is fastest on a busy shared machine; default: torch's)",
    )
    p.add_argument(
        "--out",
        default="runs/patching.json",
        help="results JSON (default runs/patching.json); OUT.partial.jsonl lets a stopped run resume",
    )
    p.add_argument("--figures", default="assets", help="directory for PNG/PDF figures; 'none' to skip (default assets)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def checkpoint_path(out: str | Path) -> Path:
    """Where a run writing `out` keeps its finished pairs until it completes."""
    out = Path(out)
    return out.with_name(out.stem + ".partial.jsonl")


def run(args) -> int:
    from ..analyses.patching.trace import PatchConfig

    if args.bootstrap < 1:
        raise InternalsError(f"--bootstrap must be >= 1, got {args.bootstrap}")
    if not 0 <= args.min_gap < 1:
        raise InternalsError(f"--min-gap must be in [0, 1), got {args.min_gap}")
    config = PatchConfig(tuple(args.sites), args.window, args.batch_size)  # checked before the model loads
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    from ..analyses.patching.figures import export_figures
    from ..analyses.patching.results import load_results, save_results
    from ..analyses.patching.runs import load_records, patching_run
    from ..data import load_dataset
    from ..data.files import parse_field_options
    from ..models import load_model

    data = load_dataset(args.data, fields=parse_field_options(args.field))
    load_records(data)  # no parseable prompt: refused before the model loads
    lm = load_model(args.model, device=args.device)
    ckpt = checkpoint_path(args.out)
    doc = patching_run(
        lm,
        data,
        n=args.n,
        config=config,
        seed=args.seed,
        min_gap=args.min_gap,
        correct_only=not args.keep_wrong,
        n_boot=args.bootstrap,
        checkpoint=ckpt,
        progress=not args.no_progress,
    )
    path = save_results(args.out, doc["manifest"], doc["results"])
    ckpt.unlink(missing_ok=True)
    res = doc["results"]
    summary = {"n_pairs": res["n_pairs"], "p_clean": res["p_clean_mean"], "p_corrupt": res["p_corrupt_mean"]}
    for site, s in res["summary"].items():
        summary[f"peak_{site}"], summary[f"peak_subject_{site}"] = s["peak"], s["peak_subject"]
    print(json.dumps({**summary, "results": str(path)}))
    if res["n_pairs"] < args.n:
        print(
            f"note: only {res['n_pairs']} of the {args.n} pairs asked for exist in {args.data} for this model",
            file=sys.stderr,
        )
    if args.figures != "none":
        for written in export_figures(load_results(path), args.figures):
            print(f"wrote {written}")
    return 0
