"""`internals models`: the embedded default model and what a model path must be."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("models", help="show the embedded default model (converting it on first use) or inspect a model")
    p.add_argument(
        "--model",
        default=None,
        help="a local HF checkpoint dir or hub name (default: the embedded SmolLM2-135M-Instruct)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from ..capture.arch import architecture
    from ..models import load_model

    lm = load_model(args.model, device="cpu")
    arch = architecture(lm.model)
    info = lm.describe() | {
        "d_model": arch.d_model,
        "n_heads": arch.n_heads,
        "d_head": arch.d_head,
        "layers_path": arch.layers_path,
    }
    print(json.dumps(info, indent=2))
    return 0
