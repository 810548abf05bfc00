"""Saved depth results: one JSON file per command, numbers plus a manifest, figures made from it.

    {"analysis": "depth.trace" | "depth.pretrain", "manifest": {...}, "results": {...}}

The manifest records the models (`LoadedModel.describe()`), the data (corpus or dataset and
how many prompts), the configuration, the seed, package versions and the time. Figures are
always drawn from a saved file (`internals depth figures --results FILE`), so they can be
regenerated without running a model.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from ...errors import InternalsError

ANALYSES = ("depth.trace", "depth.pretrain")
_DIGITS = 6


def manifest(*, models: dict, data: dict, config: dict, seed: int | None) -> dict:
    from ...store import package_versions

    return {
        "models": models,
        "data": data,
        "config": config,
        "seed": seed,
        "versions": package_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _round(x):
    """Floats to 6 significant digits (the files stay small; no result needs more)."""
    if isinstance(x, float):
        return x if not math.isfinite(x) or x == 0 else float(f"{x:.{_DIGITS}g}")
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_round(v) for v in x]
    return x


def save_results(path: str | Path, analysis: str, manifest: dict, results: dict) -> Path:
    """Write results atomically as JSON (NaN written as null)."""
    if analysis not in ANALYSES:
        raise ValueError(analysis)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"analysis": analysis, "manifest": manifest, "results": _round(results)}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_nan_to_none(doc), indent=1))
    tmp.replace(path)
    return path


def load_results(path: str | Path) -> dict:
    """Read a file written by `save_results`; InternalsError if it is not one."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InternalsError(f"cannot read depth results {path}: {err}") from None
    if not isinstance(doc, dict) or doc.get("analysis") not in ANALYSES:
        raise InternalsError(f"{path} is not a depth results file (written by `internals depth trace` or `pretrain`)")
    return doc


def _nan_to_none(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_nan_to_none(v) for v in x]
    return x
