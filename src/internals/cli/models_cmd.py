"""`internals models`: the bundled models (`--list`), or one model's facts (converting a bundled one on first use)."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser(
        "models",
        help="list the bundled models (--list) or show one model's facts (default: the embedded SmolLM2)",
    )
    p.add_argument(
        "--model",
        default=None,
        help="a bundled model name (SmolLM2-135M-Instruct, gemma3-270m), a local HF checkpoint dir or a hub id "
        "(default: the embedded SmolLM2-135M-Instruct)",
    )
    p.add_argument(
        "--list",
        action="store_true",
        help="list the bundled models: name, weights, whether installed and converted (loads nothing)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from ..capture.arch import architecture
    from ..models import load_model

    if args.list:
        print(json.dumps(bundled_status(), indent=2))
        return 0
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


def bundled_status() -> list[dict]:
    """One entry per bundled model: name, aliases, weights, the pip line, installed, converted (in the cache)."""
    import importlib.util

    from ..models import BUNDLED_MODELS, FINGERPRINT_FILE
    from ..paths import cache_dir

    out = []
    for b in BUNDLED_MODELS:
        converted = cache_dir("models") / b.name
        out.append(
            {
                "name": b.name,
                "aliases": list(b.aliases),
                "weights": b.weights,
                "install": b.install,
                "installed": importlib.util.find_spec(b.package) is not None,
                "converted": str(converted) if (converted / FINGERPRINT_FILE).exists() else None,
            }
        )
    return out
