"""Patching results: per-pair restorations grouped into ROME's token categories, bootstrap means,
and the saved JSON document.

    {"analysis": "patching", "manifest": {...}, "results": {"sites", "n_layers", "categories",
     "summary": {site: {"recovery": {"mean", "lo", "hi"}, "p": {...}, "n", "peak"}}, "pairs": [...]}}

A pair's recovery at (category, layer) is the mean over the category's positions of
(p_patched - p_corrupt) / (p_clean - p_corrupt); prompts are the bootstrap's unit.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from ...errors import InternalsError
from ...stats import bootstrap_mean
from .pairs import Pair
from .trace import recovery

ANALYSIS = "patching"
CATEGORIES = ("first subject token", "middle subject tokens", "last subject token", "further tokens", "last token")
"""The token-position categories of a patching summary, in figure order (after ROME's causal tracing)."""
SUBJECT = (0, 1, 2)  # the subject's categories: restoring the last token late restores everything, trivially
_DIGITS = 6


def category_positions(start: int, stop: int, n_tokens: int) -> list[list[int]]:
    """Absolute positions of each of CATEGORIES for a subject at [start, stop) of n_tokens (a
    one-token subject is both the first and the last subject token, as in ROME)."""
    return [[start], list(range(start + 1, stop - 1)), [stop - 1], list(range(stop, n_tokens - 1)), [n_tokens - 1]]


def by_category(values, start: int, stop: int, n_tokens: int) -> np.ndarray:
    """values [layers, positions start..n_tokens-1] -> [categories, layers], NaN for an empty category."""
    v = np.asarray(values, dtype=float)
    out = np.full((len(CATEGORIES), v.shape[0]), np.nan)
    for c, positions in enumerate(category_positions(start, stop, n_tokens)):
        if positions:
            out[c] = v[:, [p - start for p in positions]].mean(1)
    return out


def summarise_patching(pairs: list[Pair], traces: list[dict], sites, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """site -> {"recovery" / "p": {"mean", "lo", "hi"} `[categories][layers]`, "n" `[categories]`, "peak"}."""
    out = {}
    for site in sites:
        rec, prob = [], []
        for pair, t in zip(pairs, traces):
            p = by_category(t["p"][site], pair.start, pair.stop, pair.n_tokens)
            prob.append(p)
            rec.append(recovery(p, t["p_clean"], t["p_corrupt"]))
        r = bootstrap_mean(np.stack(rec), n_boot=n_boot, seed=seed)
        q = bootstrap_mean(np.stack(prob), n_boot=n_boot, seed=seed)
        out[site] = {
            "recovery": {k: r[k].tolist() for k in ("mean", "lo", "hi")},
            "p": {k: q[k].tolist() for k in ("mean", "lo", "hi")},
            "n": r["n"][:, 0].astype(int).tolist(),
            "peak": _peak(r, range(len(CATEGORIES))),
            "peak_subject": _peak(r, SUBJECT),
        }
    return out


def _peak(r: dict, categories) -> dict:
    """The cell of highest mean recovery among `categories`, with its interval."""
    mean = np.full_like(r["mean"], np.nan)
    mean[list(categories)] = r["mean"][list(categories)]
    c, layer = np.unravel_index(np.nanargmax(mean), mean.shape)
    return {
        "category": CATEGORIES[c],
        "layer": int(layer),
        "mean": float(r["mean"][c, layer]),
        "lo": float(r["lo"][c, layer]),
        "hi": float(r["hi"][c, layer]),
    }


def _clean(x):
    """Floats to 6 significant digits, NaN and inf as null (the files stay small and valid JSON)."""
    if isinstance(x, float):
        if not math.isfinite(x):
            return None
        return x if x == 0 else float(f"{x:.{_DIGITS}g}")
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


_NUMBERS = re.compile(
    r"\[\s*((?:-?[0-9][0-9.eE+-]*|null)(?:,\s*(?:-?[0-9][0-9.eE+-]*|null))*)\s*\]"
)  # a list of numbers


def save_results(path: str | Path, manifest: dict, results: dict) -> Path:
    """Write {"analysis": "patching", "manifest", "results"} atomically as JSON (a list of numbers on one line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    text = json.dumps({"analysis": ANALYSIS, "manifest": manifest, "results": _clean(results)}, indent=1)
    tmp.write_text(_NUMBERS.sub(lambda m: "[" + " ".join(m.group(1).split()) + "]", text))
    tmp.replace(path)
    return path


def load_results(path: str | Path) -> dict:
    """A document written by `save_results`; InternalsError if the file is not one."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InternalsError(f"cannot read patching results {path}: {err}") from None
    if not isinstance(doc, dict) or doc.get("analysis") != ANALYSIS:
        raise InternalsError(f"{path} is not a patching results file (written by `internals patch`)")
    return doc
