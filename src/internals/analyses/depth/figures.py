"""Depth figures, drawn from saved results (`results.py`) with `internals.plots`.

From a trace file: `depth_variance` (log-scale variance per layer, one colour per model: median
over prompts of the within-prompt variance with its 25-75th percentile band, the variance over all
tokens dashed, and over all tokens but each prompt's first dotted), `depth_angular_<model>` (heatmap of the last-token angular distance between
layer l and l+n), `depth_influence` (1 - cos per block, one bar chart per model stacked) and
`depth_ablation` (change in next-token loss when block l is skipped). From a pretrain file:
`depth_pretrain_ppl` (validation perplexity against steps, Pre-LN and LNS) and
`depth_pretrain_variance` (per-layer variance of both at the end).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ...errors import InternalsError
from .trace import Ablation, DepthTrace

DASH = dict(dash="dash", width=1)
DOT = dict(dash="dot", width=1)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _variance_figure(per_prompt: dict, overall: dict, rest: dict | None, ylabel: str):
    """Median within-prompt variance with its IQR band (solid), the variance over all tokens (dashed)
    and, when given, over all tokens but each prompt's first (dotted)."""
    from ...plots import OKABE_ITO, layer_lines

    fig = layer_lines(per_prompt, band="iqr", log_y=True, xlabel="layer (0 = embedding)", ylabel=ylabel)
    extra = [("all tokens", overall, DASH)]
    if rest:
        extra.append(("without first token", rest, DOT))
    for label, lines, style in extra:
        for i, values in enumerate(lines.values()):  # colours follow the solid lines' order
            fig.add_scatter(
                x=np.arange(len(values)),
                y=values,
                mode="lines",
                line=dict(color=OKABE_ITO[i], **style),
                name=f"{label} ({style['dash']})",
                legendgroup=label,
                showlegend=i == 0,
            )
    return fig


def trace_figures(doc: dict) -> dict:
    """stem -> Figure for a `depth.trace` results document."""
    from ...plots import bars, heatmap

    traces = {name: DepthTrace.from_dict(t) for name, t in doc["results"]["traces"].items()}
    figs = {
        "depth_variance": _variance_figure(
            {name: t.prompt_variance.T for name, t in traces.items()},
            {name: t.variance for name, t in traces.items()},
            {name: t.variance_rest for name, t in traces.items()},
            "residual variance",
        )
    }
    for name, t in traces.items():
        m = t.angular_by_gap()  # [l, n]: transpose so n is the y axis, as in the paper
        ticks = [str(n) if n == 1 or n % 5 == 0 else "" for n in range(1, m.shape[0] + 1)]
        figs[f"depth_angular_{_slug(name)}"] = heatmap(
            m.T,
            x_label="layer l",
            y_label="n (to layer l+n)",
            y_ticks=ticks,
            colorbar_title="angular distance",
            title=name,
        )
    for name, t in traces.items():
        figs[f"depth_influence_{_slug(name)}"] = bars(
            t.influence, xlabel="block", ylabel="1 - cos(in, out)", title=name
        )
    ablation = doc["results"].get("ablation")
    if ablation:
        a = Ablation.from_dict(ablation)
        figs["depth_ablation"] = bars(
            a.delta,
            labels=[str(b) for b in a.blocks],
            xlabel="skipped block",
            ylabel="Δ next-token loss (nats)",
            title=a.model.get("name"),
        )
    return figs


def pretrain_figures(doc: dict) -> dict:
    """stem -> Figure for a `depth.pretrain` results document."""
    from ...plots import curves

    runs = doc["results"]["runs"]
    labels = {"pre-ln": "Pre-LN", "lns": "LNS"}
    ppl = {labels.get(n, n): (np.asarray(r["steps"]), np.asarray(r["val_ppl"], dtype=float)) for n, r in runs.items()}
    figs = {"depth_pretrain_ppl": curves(ppl, band=None, log_y=True, xlabel="step", ylabel="validation perplexity")}
    figs["depth_pretrain_variance"] = _variance_figure(
        {labels.get(n, n): np.asarray(r["prompt_variance"], dtype=float).T for n, r in runs.items()},
        {labels.get(n, n): np.asarray(r["variance"], dtype=float) for n, r in runs.items()},
        None,
        "residual variance",
    )
    return figs


def make_figures(doc: dict) -> dict:
    """stem -> Figure for any depth results document."""
    kind = doc.get("analysis")
    if kind == "depth.trace":
        return trace_figures(doc)
    if kind == "depth.pretrain":
        return pretrain_figures(doc)
    raise InternalsError(f"not a depth results document (analysis={kind!r})")


def export_figures(doc: dict, out_dir: str | Path, formats=("png", "pdf")) -> list[Path]:
    """Draw the figures of `doc` and write them as out_dir/<stem>.<format>; returns the paths."""
    from ...plots import export_named

    return export_named(make_figures(doc), out_dir, formats)
