"""The `--model` option every benchmark takes, and where its results go.

The default model (SmolLM2-135M-Instruct) keeps the historic file names (`results/<stem>.json`,
`assets/<figure>.png`); another model's results go beside them with the model's name in the file
name (`results/<stem>.<model>.json`, e.g. `depth_trace.gemma3-270m.json`) and its figures under
`assets/<model>/`, so both models' files have the same keys and the pages render both columns.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
ASSETS = ROOT / "assets"


def add_model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=None,
        help="a bundled model name (SmolLM2-135M-Instruct, gemma3-270m) or a checkpoint dir "
        "(default: the embedded SmolLM2-135M-Instruct)",
    )


def model_key(model: str | None) -> str | None:
    """None for the default model, else the name used in result file names (a bundled model's name,
    or a checkpoint dir's last part)."""
    from internals.models import DEFAULT_MODEL, bundled_model

    if model is None:
        return None
    bundled = bundled_model(model)
    if bundled is not None:
        return None if bundled.name == DEFAULT_MODEL else bundled.name
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(model).name) or "model"


def results_path(stem: str, model: str | None) -> Path:
    """benchmarks/results/<stem>.json for the default model, <stem>.<model>.json for another."""
    key = model_key(model)
    return RESULTS / (f"{stem}.json" if key is None else f"{stem}.{key}.json")


def assets_dir(model: str | None) -> Path:
    """assets/ for the default model, assets/<model>/ for another."""
    key = model_key(model)
    return ASSETS if key is None else ASSETS / key
