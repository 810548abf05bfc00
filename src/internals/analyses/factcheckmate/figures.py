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
        sweep = dict(json.loads(Path(sweep).read_text()))
    series = {}
    layers = None
    for head, r in sweep.items():
        layers = r["layers"]
        for metric, label in (("balanced_accuracy", "bal. acc."), ("auroc", "AUROC")):
            values = np.array([np.nan if v is None else v for v in r[part][metric]], dtype=float)
            series[f"{_NAMES.get(head, head)} {label}"] = values
    return layer_lines(
        series,
        band=None,
        layers=layers,
        xlabel="layer (resid_post)",
        ylabel=f"{part} score",
        title=title,
        width="double",
    )


_EVIDENCE = (
    ("test", "probe"),
    ("label_shuffle_control", "label-shuffle control"),
    ("random_model_control", "random-model control"),
)


def evidence_figure(card: dict | str | Path, title: str | None = None):
    """A probe card's evidence: test balanced accuracy and AUROC of the probe, the label-shuffle
    control and (when computed) the random-model control, with 95% bootstrap intervals, and the
    majority baseline as a line at 0.5. `card`: a probe dir, its card.json, or the card dict."""
    import plotly.graph_objects as go

    from ...errors import InternalsError
    from ...plots.template import paper_layout

    if not isinstance(card, dict):
        path = Path(card)
        doc = json.loads((path / "card.json" if path.is_dir() else path).read_text())
        card = dict(doc.get("card", doc))
    ev = card.get("evidence")
    if not ev or "skipped" in ev:
        raise InternalsError("this probe card has no evidence: retrain it with `internals probe train --force`")
    fig = go.Figure()
    for key, label in _EVIDENCE:
        if key not in ev:
            continue
        metrics = ("balanced_accuracy", "auroc")
        values = [ev[key][m]["value"] for m in metrics]
        fig.add_bar(
            name=label,
            x=["balanced accuracy", "AUROC"],
            y=values,
            error_y=dict(
                type="data",
                symmetric=False,
                array=[ev[key][m]["high"] - v for m, v in zip(metrics, values)],
                arrayminus=[v - ev[key][m]["low"] for m, v in zip(metrics, values)],
            ),
        )
    fig.add_hline(y=0.5, line_dash="dot", annotation_text="majority baseline", annotation_position="bottom right")
    n = ev["test"]["n"]
    fig.update_layout(
        barmode="group",
        title=title or f"probe evidence (test n={n}, 95% bootstrap intervals)",
        yaxis=dict(range=[0, 1], title="score"),
    )
    return paper_layout(fig, "single")
