"""Figures that put several models' report numbers on one relative-depth axis.

Each function takes `models`: label -> the `data` a section wrote into that model's report.json
(`Section.data`), and returns a plotly Figure in the paper style. Models with 30 and 18 blocks line
up on relative depth, the share of the model's blocks a quantity sits after:

- a residual-stream position after i of L blocks (0 = embedding) is at i / L;
- a block l's own quantity (its LAC rate, the loss when it is skipped, its heads) is at its
  centre, (l + 0.5) / L, so the heatmap cell of block l spans [l / L, (l + 1) / L];
- FactCheckmate's layer l is resid_post.l, the output of block l: (l + 1) / L.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..plots import OKABE_ITO, curves, diverging, paper_layout

DEPTH_AXIS = "relative depth (share of the model's blocks)"
DASHES = ("solid", "dash", "dot", "dashdot")


def resid_depth(n_layers: int) -> np.ndarray:
    """[L+1] relative depth of the residual stream after 0 .. L blocks."""
    return np.arange(n_layers + 1) / n_layers


def block_depth(blocks, n_layers: int) -> np.ndarray:
    """[len(blocks)] relative depth of blocks' centres."""
    return (np.asarray(blocks, dtype=float) + 0.5) / n_layers


def _floats(values) -> np.ndarray:
    """A (nested) JSON list, None for NaN, as a float array (numpy reads None as NaN)."""
    return np.asarray(values, dtype=float)


def _lines(fig: go.Figure, x, y, name: str, colour: str, dash: str, group: str) -> None:
    fig.add_scatter(
        x=x, y=y, mode="lines+markers", name=name, legendgroup=group, line=dict(color=colour, dash=dash),
        marker=dict(size=3),
    )  # fmt: skip


def depth_variance(models: dict[str, dict], relative: bool = False, rest: bool = False) -> go.Figure:
    """Residual variance per relative depth (log y): median over prompts of the within-prompt variance
    with its 25-75th percentile band (solid), over all tokens together (dashed).

    relative: each prompt's variance (and the all-token one) divided by its value after the first
    block, so models whose embeddings have different scales show their growth on one axis.
    rest: also the variance over all tokens but each prompt's first (dotted, `variance_rest` [L+1]),
    which leaves out the first token's massive activations."""
    series = {}
    for name, d in models.items():
        per_prompt = _floats(d["prompt_variance"])  # [L+1, prompts]
        series[name] = (resid_depth(d["n_layers"]), per_prompt / per_prompt[1] if relative else per_prompt)
    ylabel = "variance / variance after block 1" if relative else "residual variance"
    fig = curves(series, band="iqr", log_y=True, xlabel=DEPTH_AXIS, ylabel=ylabel, width="double")
    lines = [("all tokens", "variance", "dash")] + ([("without first token", "variance_rest", "dot")] if rest else [])
    for i, (name, d) in enumerate(models.items()):
        for what, key, dash in lines:
            y = _floats(d[key])  # [L+1]
            fig.add_scatter(
                x=resid_depth(d["n_layers"]),
                y=y / y[1] if relative else y,
                mode="lines",
                name=f"{name}, {what}",
                legendgroup=name,
                line=dict(color=OKABE_ITO[i % len(OKABE_ITO)], dash=dash, width=1),
            )
    return fig


def depth_ablation(models: dict[str, dict]) -> go.Figure:
    """Change in next-token loss when one block is skipped, per relative depth of the block."""
    fig = go.Figure()
    for i, (name, d) in enumerate(models.items()):
        x = block_depth(d["ablation_blocks"], d["n_layers"])
        _lines(fig, x, _floats(d["ablation_delta"]), name, OKABE_ITO[i % len(OKABE_ITO)], "solid", name)
    fig.update_xaxes(title_text=DEPTH_AXIS, range=[0, 1])
    fig.update_yaxes(title_text="Δ next-token loss (nats)")
    return paper_layout(fig, "double")


HEAD_NAMES = {"mlp": "MLP", "mlp_scaled": "MLP-std (ours)", "logistic": "LogReg"}


def factcheckmate_sweep(models: dict[str, dict], part: str = "test") -> go.Figure:
    """Balanced accuracy of the probe trained at each layer, per relative depth of the layer; one colour
    per model, one dash per probe head; chance (0.5) dotted."""
    fig = go.Figure()
    for i, (name, d) in enumerate(models.items()):
        for j, (head, r) in enumerate(d["sweep"].items()):
            x = (np.asarray(r["layers"], dtype=float) + 1) / d["n_layers"]
            y = _floats(r[part]["balanced_accuracy"])
            label = f"{name}, {HEAD_NAMES.get(head, head)}"
            _lines(fig, x, y, label, OKABE_ITO[i % len(OKABE_ITO)], DASHES[j % len(DASHES)], name)
    fig.add_hline(y=0.5, line=dict(color="#000000", dash="dot", width=0.75))
    fig.update_xaxes(title_text=DEPTH_AXIS, range=[0, 1.02])
    fig.update_yaxes(title_text=f"{part} balanced accuracy")
    return paper_layout(fig, "double")


PHASES = {"pp": "prompt", "rg": "generation"}


def void_share(models: dict[str, dict]) -> go.Figure:
    """Share of tokens for which LAC skips each block (1 - its activation rate), per relative depth;
    one colour per model, solid for prompt tokens, dashed for generated ones."""
    fig = go.Figure()
    for i, (name, d) in enumerate(models.items()):
        for j, (phase, rates) in enumerate(d["layer_rates"].items()):
            y = 1 - _floats(rates)
            x = block_depth(np.arange(len(y)), d["n_layers"])
            label = f"{name}, {PHASES.get(phase, phase)}"
            _lines(fig, x, y, label, OKABE_ITO[i % len(OKABE_ITO)], DASHES[j % len(DASHES)], name)
    fig.update_xaxes(title_text=DEPTH_AXIS, range=[0, 1])
    fig.update_yaxes(title_text="void share (tokens skipping the block)", range=[-0.02, 1.02])
    return paper_layout(fig, "double")


def head_f1_maps(models: dict[str, dict], kind: str) -> go.Figure:
    """One heatmap per model of each head's probe F1 minus the position-only baseline's, head on x and
    relative depth on y, on one red-blue scale (symmetric limits over all models)."""
    from plotly.subplots import make_subplots

    maps = {
        name: _floats(d["head_f1"][kind]) - float(d["f1_val_position"])
        for name, d in models.items()
        if kind in d.get("head_f1", {})
    }
    colour = diverging(np.concatenate([m.ravel() for m in maps.values()]))
    fig = make_subplots(
        rows=1,
        cols=len(maps),
        subplot_titles=[f"{n} (position F1 {models[n]['f1_val_position']:.2f})" for n in maps],
        shared_yaxes=True,
        horizontal_spacing=0.06,
    )
    for col, (name, z) in enumerate(maps.items(), start=1):
        n_layers = models[name]["n_layers"]
        layers = np.arange(z.shape[0])
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=np.arange(z.shape[1]),
                y=block_depth(layers, n_layers),
                customdata=np.repeat(layers[:, None], z.shape[1], axis=1),
                hovertemplate=f"{name}: layer %{{customdata}}, head %{{x}}: %{{z:.3f}}<extra></extra>",
                coloraxis="coloraxis",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="head", showgrid=False, showline=False, row=1, col=col)
    fig.update_yaxes(showgrid=False, showline=False, range=[0, 1])
    fig.update_yaxes(title_text=DEPTH_AXIS, row=1, col=1)
    fig.update_layout(
        coloraxis=dict(
            colorscale=colour["colorscale"],
            cmid=0.0,
            cmin=colour["zmin"],
            cmax=colour["zmax"],
            colorbar=dict(title=dict(text="F1 − position F1")),
        )
    )
    fig.update_annotations(font_size=12)
    return paper_layout(fig, "double", height=3.2)
