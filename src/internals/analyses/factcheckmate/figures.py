"""The per-layer sweep figure, drawn from a saved sweep.json (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

_NAMES = {"mlp": "MLP", "mlp_scaled": "MLP-std (ours)", "logistic": "LogReg"}


def sweep_figure(sweep: dict | str | Path, part: str = "test", title: str | None = None):
    """Balanced accuracy and AUROC per layer for each head (lines), from `sweep.json` or its dict.

    part: "test" or "validation". Returns a plotly Figure (`internals.plots.layer_lines`).
    """
    from ...plots import layer_lines

    if not isinstance(sweep, dict):
        sweep = json.loads(Path(sweep).read_text())
    series = {}
    layers = None
    for head, r in sweep.items():
        layers = r["layers"]
        for metric, label in (("balanced_accuracy", "bal. acc."), ("auroc", "AUROC")):
            values = np.array([np.nan if v is None else v for v in r[part][metric]], dtype=float)
            series[f"{_NAMES.get(head, head)} {label}"] = values
    return layer_lines(series, band=None, layers=layers, xlabel="layer (resid_post)",
                       ylabel=f"{part} score", title=title, width="double")
