"""The paper style: one registered plotly template, column widths and colour scales.

Sizes are in CSS pixels, plotly's unit. Chromium prints 96 px to the inch, so a figure
laid out at `SINGLE_COLUMN_PX` wide and exported as PDF or SVG is exactly one column
(3.5 in) wide, and a 12 px font prints at 9 pt. Keep it that way: size figures with
`paper_layout` instead of scaling them in LaTeX, and the text stays readable in print.

Importing this module registers the template as `plotly.io.templates["internals_paper"]`;
it does not make it the default. For that, `plotly.io.templates.default = "internals_paper"`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from internals.errors import InternalsError

TEMPLATE_NAME = "internals_paper"
"""The name the paper template is registered under in `plotly.io.templates`."""

PX_PER_INCH = 96
PX_PER_PT = PX_PER_INCH / 72

# Column widths of common two-column venues (ACL, NeurIPS/ICML double figures, IEEE).
SINGLE_COLUMN_IN = 3.5
"""A single column's width in inches (ACL, NeurIPS/ICML, IEEE two-column layouts)."""
DOUBLE_COLUMN_IN = 7.16
"""A full page width (both columns) in inches."""
SINGLE_COLUMN_PX = round(SINGLE_COLUMN_IN * PX_PER_INCH)  # 336
"""`SINGLE_COLUMN_IN` in layout pixels (96 per inch)."""
DOUBLE_COLUMN_PX = round(DOUBLE_COLUMN_IN * PX_PER_INCH)  # 687
"""`DOUBLE_COLUMN_IN` in layout pixels (96 per inch)."""
DEFAULT_HEIGHT_IN = 2.6

FONT_FAMILY = "Times New Roman, Times, Liberation Serif, serif"
FONT_PT = 9  # axis titles, legend, annotations
TICK_PT = 8
TITLE_PT = 10

# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour
# vision deficiencies. Ordered so the first lines are the darkest; yellow is last because
# it is faint on white.
OKABE_ITO = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#E69F00",  # orange
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
"""The colour cycle: Okabe & Ito's colour-blind-safe palette, darkest first."""
# ColorBrewer RdBu (colour-blind safe), reversed so that positive is red.
DIVERGING_SCALE = "RdBu_r"
"""The colour scale for signed values (negative blue, positive red)."""
# Perceptually uniform and colour-blind safe, for magnitudes, accuracies, distances.
SEQUENTIAL_SCALE = "Viridis"
"""The colour scale for magnitudes (perceptually uniform)."""

Width = Literal["single", "double"] | float


def _pt(points: float) -> float:
    return round(points * PX_PER_PT, 2)


def _axis() -> dict:
    return dict(
        showline=True,
        linewidth=0.75,
        linecolor="#000000",
        mirror=False,
        ticks="outside",
        ticklen=3,
        tickwidth=0.75,
        tickcolor="#000000",
        showgrid=True,
        gridcolor="#E6E6E6",
        gridwidth=0.5,
        zeroline=False,
        automargin=True,
        title=dict(font=dict(size=_pt(FONT_PT)), standoff=4),
        tickfont=dict(size=_pt(TICK_PT)),
    )


def _build_template() -> go.layout.Template:
    colorbar = dict(
        outlinewidth=0,
        thickness=8,
        ticks="outside",
        ticklen=2,
        tickfont=dict(size=_pt(TICK_PT)),
        title=dict(font=dict(size=_pt(FONT_PT)), side="right"),
    )
    layout = go.Layout(
        font=dict(family=FONT_FAMILY, size=_pt(FONT_PT), color="#000000"),
        title=dict(font=dict(size=_pt(TITLE_PT)), x=0.5, xanchor="center", y=0.98, yanchor="top"),
        paper_bgcolor="#FFFFFF",
        plot_bgcolor="#FFFFFF",
        colorway=list(OKABE_ITO),
        xaxis=_axis(),
        yaxis=_axis(),
        # A row above the plot: at one column wide a side legend would take a third of it.
        legend=dict(
            font=dict(size=_pt(TICK_PT)),
            bgcolor="rgba(255,255,255,0)",
            borderwidth=0,
            orientation="h",
            x=0,
            xanchor="left",
            y=1.0,
            yanchor="bottom",
            itemwidth=30,
            tracegroupgap=2,
        ),
        margin=dict(l=8, r=8, t=20, b=8, pad=0),
        coloraxis=dict(colorbar=colorbar),
        colorscale=dict(sequential=SEQUENTIAL_SCALE, diverging=DIVERGING_SCALE),
        hoverlabel=dict(font=dict(family=FONT_FAMILY)),
        annotationdefaults=dict(font=dict(size=_pt(TICK_PT)), showarrow=False),
    )
    data = go.layout.template.Data(
        scatter=[go.Scatter(line=dict(width=1.25), marker=dict(size=5))],
        heatmap=[go.Heatmap(colorscale=SEQUENTIAL_SCALE, colorbar=colorbar)],
        bar=[go.Bar(marker=dict(line=dict(width=0)))],
    )
    return go.layout.Template(layout=layout, data=data)


pio.templates[TEMPLATE_NAME] = _build_template()


def width_px(width: Width) -> int:
    """Figure width in CSS px for "single", "double" or a width in inches."""
    if width == "single":
        return SINGLE_COLUMN_PX
    if width == "double":
        return DOUBLE_COLUMN_PX
    if isinstance(width, (int, float)) and not isinstance(width, bool) and 0 < width <= 20:
        return round(float(width) * PX_PER_INCH)
    raise InternalsError(f'width must be "single", "double" or inches in (0, 20], got {width!r}')


def paper_layout(fig: go.Figure, width: Width = "single", height: float | None = None) -> go.Figure:
    """Apply the paper template and a print size to `fig` (in place) and return it.

    width: "single" (3.5 in), "double" (7.16 in) or inches; height: inches (default 2.6).
    """
    if height is None:
        height = DEFAULT_HEIGHT_IN
    if not isinstance(height, (int, float)) or isinstance(height, bool) or not 0 < height <= 20:
        raise InternalsError(f"height must be inches in (0, 20], got {height!r}")
    fig.update_layout(template=TEMPLATE_NAME, width=width_px(width), height=round(height * PX_PER_INCH))
    return fig


def diverging(values: np.ndarray | None = None, limit: float | None = None) -> dict:
    """Heatmap keywords for signed data: red-blue scale centred on zero, symmetric limits.

    limit: the colour range is [-limit, limit]; default max |finite value| (1 if none).
    Returns a dict for `go.Heatmap(**diverging(z), z=z)`.
    """
    if limit is None:
        finite = np.asarray(values, dtype=float) if values is not None else np.zeros(0)
        finite = np.abs(finite[np.isfinite(finite)])
        limit = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    if not limit > 0:
        raise InternalsError(f"diverging colour limit must be positive, got {limit!r}")
    return dict(colorscale=DIVERGING_SCALE, zmid=0.0, zmin=-limit, zmax=limit)


def sequential(zmin: float | None = None, zmax: float | None = None) -> dict:
    """Heatmap keywords for unsigned data: a perceptually uniform, colour-blind safe scale."""
    out: dict = dict(colorscale=SEQUENTIAL_SCALE)
    if zmin is not None:
        out["zmin"] = zmin
    if zmax is not None:
        out["zmax"] = zmax
    return out
