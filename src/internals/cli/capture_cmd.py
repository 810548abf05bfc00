"""`internals capture`: run a model over a dataset and stream the reduced hidden states into a store.

Example:
    internals capture --model path/to/checkpoint --data qa_wikidata --split train --limit 600 \\
        --sites "resid_post.*" --reduce mean --template chat --out stores

Run it again after an interruption and it resumes; under `torchrun --nproc_per_node N` (or
`accelerate launch`) the rows are split over the N processes.
"""

from __future__ import annotations

import os

from ..capture.backends import BACKENDS
from ..capture.reducers import REDUCERS
from ..capture.sites import GRAMMAR
from .options import add_threads, apply_threads


def register(sub) -> None:
    p = sub.add_parser(
        "capture",
        help="capture hidden states over a dataset into a resumable activation store",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--model",
        default=None,
        help="local HF checkpoint dir or hub name (default: the embedded SmolLM2-135M-Instruct)",
    )
    p.add_argument(
        "--data",
        required=True,
        help="a dataset name (see `internals data list`), a .jsonl/.json/.csv/.parquet file, or a saved HF dataset dir",
    )
    p.add_argument(
        "--field",
        action="append",
        default=None,
        metavar="OURS=YOURS",
        help="map a field of your data file to ours, e.g. --field question=input (repeatable; see `internals data schema`)",
    )
    p.add_argument("--split", default="all", help="all | train | validation | test (default: all)")
    p.add_argument("--limit", type=int, default=None, help="at most this many records of the split (a seeded sample)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the --limit sample (default: 0)")
    add_threads(p)
    p.add_argument("--sites", required=True, nargs="+", help=f"sites to read: {GRAMMAR}")
    p.add_argument(
        "--reduce", default="mean", choices=REDUCERS, help="how tokens are pooled inside the hook (default: mean)"
    )
    p.add_argument(
        "--span", default="all", help="which tokens the reducer sees: all | input | drop_last:N (default: all)"
    )
    p.add_argument(
        "--template",
        default="raw",
        help="raw (the question), chat (the chat template, user turn + generation prompt), auto (chat when "
        'the model has a chat template, else "Question: {question}\\nAnswer:", for a base model; the manifest '
        'records which), or a format string over record fields such as "Q: {question}\\nA:" (default: raw)',
    )
    p.add_argument("--max-tokens", type=int, default=None, help="truncate each prompt to this many tokens")
    p.add_argument("--batch-size", type=int, default=8, help="prompts per forward (default: 8)")
    p.add_argument(
        "--shard-rows",
        type=int,
        default=256,
        help="rows per shard file; a killed run loses at most one shard's work (default: 256)",
    )
    p.add_argument(
        "--edits",
        default=None,
        metavar="FILE",
        help="capture under the edits saved in FILE (EditSet.save / to_json: steering, ablation, patching); "
        "recorded in the manifest",
    )
    p.add_argument("--backend", default="hooks", choices=BACKENDS, help="capture engine (default: hooks)")
    p.add_argument(
        "--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto; under torchrun: this rank's GPU)"
    )
    p.add_argument("--out", required=True, help="the store goes to OUT/<config hash>/ (printed)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or store notes on stderr")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..capture.edits import load as load_edits
    from ..data import load_dataset
    from ..models import load_model
    from ..store import capture_to_store

    apply_threads(args)
    edits = load_edits(args.edits) if args.edits else None
    from ..data.files import parse_field_options

    data = load_dataset(
        args.data, split=args.split, limit=args.limit, seed=args.seed, fields=parse_field_options(args.field)
    )
    lm = load_model(args.model, device=_device(args.device))
    store = capture_to_store(
        lm,
        data,
        " ".join(args.sites),
        args.reduce,
        args.out,
        template=args.template,
        span=args.span,
        batch_size=args.batch_size,
        shard_rows=args.shard_rows,
        backend=args.backend,
        progress=not args.quiet,
        max_tokens=args.max_tokens,
        limit=args.limit,
        seed=args.seed,
        edits=edits,
    )
    if int(os.environ.get("RANK", "0")) == 0:
        m = store.manifest
        print(store.path)
        print(
            f"captured {m['rows']} rows of {data.name} x {len(store.sites)} sites (reduce {store.reduce}) "
            f"into {m['n_shards']} shards from {m['world_size']} process(es), {m['wall_s']:.1f} s: {store.path}"
        )
    return 0


def _device(device: str) -> str:
    """Under torchrun with CUDA, `auto` means this rank's own GPU."""
    import torch

    if device == "auto" and int(os.environ.get("WORLD_SIZE", "1")) > 1 and torch.cuda.is_available():
        return f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    return device
