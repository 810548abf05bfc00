"""Figure functions for the analyses: per-layer lines, curves, trade-offs, bars, heatmaps.

Each takes numpy arrays (or CPU/GPU torch tensors, or nested lists), checks their shapes,
and returns a `plotly.graph_objects.Figure` in the paper style (`template.paper_layout`),
sized for one column unless `width="double"`. Export with `internals.plots.export`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from internals.errors import InternalsError
from internals.plots._arrays import as_array, as_labels, as_series, as_vector, check_choice, rgba
from internals.plots.template import OKABE_ITO, TICK_PT, Width, _pt, diverging, paper_layout, sequential

BANDS = ("std", "sem", "iqr", None)
MAX_TICK_LABELS = 30


def _centre_and_band(values: np.ndarray, band: str | None):
    """values [n] or [n, samples] -> centre [n], lower [n] | None, upper [n] | None (NaN-aware)."""
    if values.ndim == 1:
        return values, None, None
    with warnings.catch_warnings():  # all-NaN rows give NaN, which is what we want
        warnings.simplefilter("ignore", RuntimeWarning)
        if band == "iqr":
            lo, centre, hi = np.nanpercentile(values, [25, 50, 75], axis=1)
            return centre, lo, hi
        centre = np.nanmean(values, axis=1)
        if band is None:
            return centre, None, None
        spread = np.nanstd(values, axis=1, ddof=1 if band == "sem" else 0)
        if band == "sem":
            spread = spread / np.sqrt(np.sum(np.isfinite(values), axis=1))
        return centre, centre - spread, centre + spread


def _add_line(fig, x, values, name, colour, band, log_y, row=None, col=None) -> None:
    """One centre line for `values` [n] or [n, samples], with a translucent band under it."""
    centre, lo, hi = _centre_and_band(values, band)
    if log_y:
        positive = values[np.isfinite(values) & (values > 0)]
        if positive.size == 0 or np.any(centre[np.isfinite(centre)] <= 0):
            raise InternalsError(f"log_y needs positive values, series {name!r} has values <= 0")
        if lo is not None:
            lo = np.where(lo > 0, lo, positive.min())  # the band stops at the data's floor
    group = name or "series"
    if lo is not None:
        ok = np.isfinite(lo) & np.isfinite(hi)
        fig.add_trace(
            go.Scatter(
                x=np.concatenate([x[ok], x[ok][::-1]]),
                y=np.concatenate([hi[ok], lo[ok][::-1]]),
                fill="toself",
                fillcolor=rgba(colour, 0.2),
                line=dict(width=0),
                mode="lines",
                hoverinfo="skip",
                showlegend=False,
                legendgroup=group,
                name=f"{name} band",
            ),
            row=row,
            col=col,
        )
    fig.add_trace(
        go.Scatter(
            x=x, y=centre, mode="lines", name=name, legendgroup=group, line=dict(color=colour), showlegend=bool(name)
        ),
        row=row,
        col=col,
    )


def layer_lines(
    series,
    band: str | None = "std",
    *,
    layers=None,
    log_y: bool = False,
    xlabel: str = "layer",
    ylabel: str = "",
    title: str | None = None,
    width: Width = "single",
    height: float | None = None,
) -> go.Figure:
    """One line per series across layers, with a shaded band over samples.

    series: name -> values [layers] (a line) or [layers, samples] (mean line and band over
        samples, e.g. prompts or seeds); a bare array is one unnamed series.
    band: "std" (mean ± std), "sem" (mean ± standard error), "iqr" (median and 25-75th
        percentiles) or None (mean only). NaNs are ignored.
    layers: x values [layers] (default 0 .. layers-1); all series must then have that many.
    log_y: log y axis; on it the band's lower edge is clipped at the smallest positive value.
    """
    check_choice(band, "band", BANDS)
    fig = go.Figure()
    for i, (name, values) in enumerate(as_series(series, "series").items()):
        label = f"values of {name!r}" if name else "values"
        arr = as_array(values, label, "[layers] or [layers, samples]", (1, 2))
        x = (
            np.arange(arr.shape[0])
            if layers is None
            else as_vector(layers, "layers", length=arr.shape[0], what="layers")
        )
        _add_line(fig, x, arr, name, OKABE_ITO[i % len(OKABE_ITO)], band, log_y)
    fig.update_xaxes(title_text=xlabel)
    fig.update_yaxes(title_text=ylabel, type="log" if log_y else None)
    fig.update_layout(title_text=title)
    return paper_layout(fig, width, height)


def curves(
    series,
    band: str | None = "std",
    *,
    xlabel: str = "step",
    ylabel: str = "",
    log_x: bool = False,
    log_y: bool = False,
    title: str | None = None,
    width: Width = "single",
    height: float | None = None,
) -> go.Figure:
    """Curves over steps (e.g. perplexity against tokens or training steps).

    series: name -> (steps [n], values [n] or [n, samples]); `band` as in `layer_lines`.
    """
    check_choice(band, "band", BANDS)
    fig = go.Figure()
    for i, (name, pair) in enumerate(as_series(series, "series").items()):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise InternalsError(f"series {name!r} must be a pair (steps [n], values [n] or [n, samples])")
        values = as_array(pair[1], f"values of {name!r}", "[n] or [n, samples]", (1, 2))
        steps = as_vector(pair[0], f"steps of {name!r}", length=values.shape[0])
        _add_line(fig, steps, values, name, OKABE_ITO[i % len(OKABE_ITO)], band, log_y)
    fig.update_xaxes(title_text=xlabel, type="log" if log_x else None)
    fig.update_yaxes(title_text=ylabel, type="log" if log_y else None)
    fig.update_layout(title_text=title)
    return paper_layout(fig, width, height)


def tradeoff(
    x,
    y,
    labels: Sequence | None = None,
    *,
    name: str | None = None,
    fig: go.Figure | None = None,
    xlabel: str = "",
    ylabel: str = "",
    baseline: float | None = None,
    baseline_label: str = "baseline",
    title: str | None = None,
    width: Width = "single",
    height: float | None = None,
) -> go.Figure:
    """A trade-off curve: points (x[i], y[i]) joined in the given order, each labelled.

    x, y: [n], e.g. token reduction and accuracy, one point per threshold or alpha.
    labels: n strings written beside the points (e.g. the thresholds).
    fig: a figure from an earlier `tradeoff` call to add this series to (next colour).
    baseline: a y value drawn as a dashed horizontal line (e.g. the full model's accuracy).
    """
    xs = as_vector(x, "x")
    ys = as_vector(y, "y", length=xs.shape[0])
    text = as_labels(labels, "labels", xs.shape[0])
    new = fig is None
    if fig is None:
        fig = go.Figure()
    k = sum(1 for t in fig.data if t.meta == "tradeoff")
    colour = OKABE_ITO[k % len(OKABE_ITO)]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            text=text,
            hovertext=text,  # every label, also those `_place_labels` leaves off the plot
            mode="lines+markers+text" if text else "lines+markers",
            textposition="top center",
            textfont=dict(size=_pt(TICK_PT - 1), color=colour),
            line=dict(color=colour),
            marker=dict(color=colour),
            name=name or "",
            showlegend=bool(name),
            meta="tradeoff",
            cliponaxis=False,
        )
    )
    if baseline is not None:
        # named in the legend, not written on the plot: an annotation collided with point labels
        fig.add_hline(y=float(baseline), line=dict(dash="dash", width=0.75, color="#555555"))
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines",
                name=baseline_label,
                meta="baseline",
                line=dict(dash="dash", width=0.75, color="#555555"),
                showlegend=True,
            )
        )
    if new:
        fig.update_xaxes(title_text=xlabel)
        fig.update_yaxes(title_text=ylabel)
        fig.update_layout(title_text=title)
        paper_layout(fig, width, height)
    _place_labels(fig)
    return fig


def _place_labels(fig: go.Figure) -> None:
    """Place the point labels of every trade-off series in `fig` so that no two overlap and none
    covers a marker: above its point, else below it, else left off the plot (the value stays in
    the hover text). Earlier series and points win. Positions are estimated in pixels from the
    data ranges (autorange pads about 5%) and the figure's size less its axes, legend and title."""
    series = [t for t in fig.data if t.meta == "tradeoff" and t.hovertext is not None]
    if not series:
        return
    points = np.array([(x, y) for t in fig.data if t.meta == "tradeoff" for x, y in zip(t.x, t.y)], dtype=float)
    points = points[np.isfinite(points).all(axis=1)]
    if not len(points):
        return
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = np.where(hi > lo, (hi - lo) * 0.05, 1.0)
    lo, hi = lo - pad, hi + pad
    size = np.array([(fig.layout.width or 700) - 60, (fig.layout.height or 250) - 90], dtype=float)
    font = _pt(TICK_PT - 1)

    def pixels(x: float, y: float) -> np.ndarray:
        return (np.array([x, y]) - lo) / (hi - lo) * size

    boxes = [(*(pixels(x, y) - 3), *(pixels(x, y) + 3)) for x, y in points]  # the markers

    def free(box) -> bool:
        return not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in boxes)

    for t in series:
        texts, positions = [], []
        for x, y, label in zip(t.x, t.y, t.hovertext):
            px, py = pixels(x, y) if np.isfinite([x, y]).all() else (np.nan, np.nan)
            half = (len(str(label)) * 0.55 * font + 2) / 2
            for position, bottom in (("top center", py + 4), ("bottom center", py - 4 - font)):
                box = (px - half, bottom, px + half, bottom + font)
                if np.isfinite(px) and free(box):
                    boxes.append(box)
                    texts.append(label)
                    positions.append(position)
                    break
            else:
                texts.append("")
                positions.append("top center")
        t.update(text=texts, textposition=positions)


def _tick_kwargs(labels: list[str] | None, n: int) -> dict:
    """tickvals/ticktext for labelled positions 0..n-1 (thinned to at most MAX_TICK_LABELS).

    Numeric positions with tick text, not a categorical axis, so repeated labels (the same
    token twice in a prompt) stay separate cells.
    """
    if labels is None:
        return {}
    step = max(1, int(np.ceil(n / MAX_TICK_LABELS)))
    idx = list(range(0, n, step))
    return dict(tickmode="array", tickvals=idx, ticktext=[labels[i] for i in idx])


def bars(
    values,
    labels: Sequence | None = None,
    *,
    errors=None,
    xlabel: str = "layer",
    ylabel: str = "",
    horizontal: bool = False,
    title: str | None = None,
    width: Width = "single",
    height: float | None = None,
) -> go.Figure:
    """Bars, one per item (e.g. per-layer influence or ablation effect).

    values: [n], or [n, samples] drawn as mean with ± std error bars.
    labels: n tick labels (default 0 .. n-1); errors: [n] error-bar half-widths.
    """
    arr = as_array(values, "values", "[n] or [n, samples]", (1, 2))
    n = arr.shape[0]
    if arr.ndim == 2:
        if errors is not None:
            raise InternalsError("errors is for values [n]; values [n, samples] get ± std bars already")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            arr, err = np.nanmean(arr, axis=1), np.nanstd(arr, axis=1)
    else:
        err = None if errors is None else as_vector(errors, "errors", length=n)
    text = as_labels(labels, "labels", n)
    pos = np.arange(n)
    error = None if err is None else dict(type="data", array=err, thickness=0.75, width=2)
    colour = OKABE_ITO[0]
    if horizontal:
        trace = go.Bar(x=arr, y=pos, orientation="h", error_x=error, marker_color=colour)
    else:
        trace = go.Bar(x=pos, y=arr, error_y=error, marker_color=colour)
    fig = go.Figure(trace)
    cat, val = (fig.update_yaxes, fig.update_xaxes) if horizontal else (fig.update_xaxes, fig.update_yaxes)
    cat(title_text=xlabel, showgrid=False, **_tick_kwargs(text, n))
    val(title_text=ylabel, zeroline=bool(np.nanmin(arr) < 0), zerolinecolor="#000000", zerolinewidth=0.75)
    fig.update_layout(title_text=title, bargap=0.15, showlegend=False)
    return paper_layout(fig, width, height)


def heatmap(
    matrix,
    *,
    x_label: str = "",
    y_label: str = "",
    signed: bool = False,
    x_ticks: Sequence | None = None,
    y_ticks: Sequence | None = None,
    colorbar_title: str = "",
    zmin: float | None = None,
    zmax: float | None = None,
    rows_top_down: bool = False,
    annotate: str | None = None,
    title: str | None = None,
    width: Width = "single",
    height: float | None = None,
) -> go.Figure:
    """A [rows, cols] heatmap: layer x head, layer x position, (layer, n skipped) distances.

    matrix: [rows, cols]; NaN cells are left blank (e.g. impossible (l, n) pairs).
    signed: red-blue scale centred on zero with symmetric limits (max |value|, or the
        largest of |zmin|, |zmax| when given);
        otherwise viridis from `zmin` to `zmax` (default data range).
    x_ticks, y_ticks: labels for the cols / rows (e.g. tokens); default their indices.
    rows_top_down: row 0 at the top (for tokens); default row 0 at the bottom (for layers).
    annotate: a format such as ".2f" to print each value in its cell (small matrices).
    """
    z = as_array(matrix, "matrix", "[rows, cols]", (2,))
    rows, cols = z.shape
    xt = as_labels(x_ticks, "x_ticks", cols)
    yt = as_labels(y_ticks, "y_ticks", rows)
    if signed:
        given = [abs(float(v)) for v in (zmin, zmax) if v is not None]
        colour = diverging(z, limit=max(given) if given else None)
    else:
        colour = sequential(zmin, zmax)
    xs = xt or [str(c) for c in range(cols)]
    ys = yt or [str(r) for r in range(rows)]
    hover = [[f"{y_label} {ys[r]}, {x_label} {xs[c]}" for c in range(cols)] for r in range(rows)]
    trace = go.Heatmap(
        z=z,
        x=np.arange(cols),
        y=np.arange(rows),
        hovertext=hover,
        hovertemplate="%{hovertext}: %{z:.4g}<extra></extra>",
        colorbar=dict(title=dict(text=colorbar_title)),
        **colour,
    )
    if annotate:
        trace.update(texttemplate=f"%{{z:{annotate}}}", textfont=dict(size=_pt(TICK_PT - 1)))
    fig = go.Figure(trace)
    fig.update_xaxes(title_text=x_label, showgrid=False, showline=False, **_tick_kwargs(xt, cols))
    fig.update_yaxes(
        title_text=y_label,
        showgrid=False,
        showline=False,
        autorange="reversed" if rows_top_down else True,
        **_tick_kwargs(yt, rows),
    )
    fig.update_layout(title_text=title)
    return paper_layout(fig, width, height)


def _binary_labels(y, name: str, n: int | None = None) -> np.ndarray:
    arr = as_vector(y, name, length=n)
    values = set(np.unique(arr[np.isfinite(arr)]).tolist())
    if not np.all(np.isfinite(arr)) or not values <= {0.0, 1.0}:
        raise InternalsError(f"{name} must hold 0/1 labels, got values {sorted(values)[:5]}")
    if len(values) < 2:
        raise InternalsError(f"{name} has only one class; ROC and PR curves need both 0 and 1")
    return arr.astype(int)


def roc_pr(
    y_true, scores, *, title: str | None = None, width: Width = "double", height: float | None = None
) -> go.Figure:
    """ROC (left) and precision-recall (right) curves side by side, AUROC and AP in the legend.

    y_true: [n] 0/1 labels (1 = positive class).
    scores: [n] scores (higher = more positive), or name -> [n] to compare several
        classifiers on the same labels, or name -> (y_true_i [m], scores_i [m]) for
        different test sets (then y_true may be None).
    Curves and areas come from `sklearn.metrics` (roc_curve, roc_auc_score,
    precision_recall_curve, average_precision_score); PR is drawn as a step curve, the
    interpolation average precision assumes. Dashed lines: chance (ROC), prevalence (PR).
    """
    from plotly.subplots import make_subplots
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14)
    prevalences = []
    for i, (name, s) in enumerate(as_series(scores, "scores").items()):
        label = f"scores of {name!r}" if name else "scores"
        if isinstance(s, (tuple, list)) and len(s) == 2 and np.ndim(s[0]) == 1:
            y = _binary_labels(s[0], f"y_true of {name!r}")
            sc = as_vector(s[1], label, length=y.shape[0])
        else:
            if y_true is None:
                raise InternalsError(f"y_true is None: give it, or scores {name!r} as (y_true, scores)")
            y = _binary_labels(y_true, "y_true")
            sc = as_vector(s, label, length=y.shape[0])
        if not np.all(np.isfinite(sc)):
            raise InternalsError(f"{label} has NaN or infinite values")
        fpr, tpr, _ = roc_curve(y, sc)
        precision, recall, _ = precision_recall_curve(y, sc)
        auroc, ap = roc_auc_score(y, sc), average_precision_score(y, sc)
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        legend = f"{name + ': ' if name else ''}AUROC {auroc:.3f}, AP {ap:.3f}"
        fig.add_trace(
            go.Scatter(x=fpr, y=tpr, mode="lines", name=legend, legendgroup=legend, line=dict(color=colour)),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=recall,
                y=precision,
                mode="lines",
                line_shape="hv",
                name=legend,
                legendgroup=legend,
                showlegend=False,
                line=dict(color=colour),
            ),
            row=1,
            col=2,
        )
        prevalences.append(float(y.mean()))
    chance = dict(dash="dash", width=0.75, color="#777777")
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=chance, showlegend=False, hoverinfo="skip"), row=1, col=1
    )
    if len(set(prevalences)) == 1:  # one shared baseline; several would clutter
        fig.add_trace(
            go.Scatter(x=[0, 1], y=[prevalences[0]] * 2, mode="lines", line=chance, showlegend=False, hoverinfo="skip"),
            row=1,
            col=2,
        )
    axis = dict(range=[-0.02, 1.02], constrain="domain")
    fig.update_xaxes(title_text="false positive rate", row=1, col=1, **axis)
    fig.update_yaxes(title_text="true positive rate", row=1, col=1, **axis)
    fig.update_xaxes(title_text="recall", row=1, col=2, **axis)
    fig.update_yaxes(title_text="precision", row=1, col=2, **axis)
    fig.update_layout(title_text=title, legend=dict(orientation="h", x=0.5, xanchor="center", y=-0.25, yanchor="top"))
    return paper_layout(fig, width, height)


def calibration(
    y_true, scores, *, n_bins: int = 10, title: str | None = None, width: Width = "single", height: float | None = None
) -> go.Figure:
    """Reliability diagram: the observed share of positives against the mean predicted
    probability, in `n_bins` equal-width bins (`sklearn.calibration.calibration_curve`, empty bins
    left out), the diagonal dashed; the Brier score of each classifier in the legend.

    y_true: [n] 0/1 labels (1 = positive class). scores: [n] probabilities in [0, 1], or name -> [n].
    """
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss

    if not isinstance(n_bins, int) or n_bins < 2:
        raise InternalsError(f"n_bins must be an integer >= 2, got {n_bins!r}")
    y = _binary_labels(y_true, "y_true")
    fig = go.Figure()
    for i, (name, s) in enumerate(as_series(scores, "scores").items()):
        label = f"scores of {name!r}" if name else "scores"
        p = as_vector(s, label, length=y.shape[0])
        if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
            raise InternalsError(f"{label} must be probabilities in [0, 1]")
        observed, predicted = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
        legend = f"{name + ': ' if name else ''}Brier {brier_score_loss(y, p):.3f}"
        fig.add_trace(
            go.Scatter(
                x=predicted,
                y=observed,
                mode="lines+markers",
                name=legend,
                line=dict(color=OKABE_ITO[i % len(OKABE_ITO)]),
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            line=dict(dash="dash", width=0.75, color="#777777"),
            showlegend=False,
            hoverinfo="skip",
        )
    )
    axis = dict(range=[-0.02, 1.02], constrain="domain")
    fig.update_xaxes(title_text="mean predicted probability", **axis)
    fig.update_yaxes(title_text="observed share of positives", **axis)
    fig.update_layout(title_text=title, legend=dict(orientation="h", x=0.5, xanchor="center", y=-0.3, yanchor="top"))
    return paper_layout(fig, width, height)
