"""Paper figures: the `internals_paper` plotly template, figure functions and export.

from internals.plots import layer_lines, export
fig = layer_lines({"probe": acc}, band="std", ylabel="accuracy")  # acc [layers, seeds]
export(fig, "figures/probe_accuracy", formats=("pdf", "png", "html"))
"""

from internals.plots.export import FORMATS, PNG_SCALE, export, export_named, find_chrome, require_chrome
from internals.plots.figures import bars, calibration, curves, heatmap, layer_lines, roc_pr, tradeoff
from internals.plots.template import (
    DIVERGING_SCALE,
    DOUBLE_COLUMN_IN,
    DOUBLE_COLUMN_PX,
    OKABE_ITO,
    SEQUENTIAL_SCALE,
    SINGLE_COLUMN_IN,
    SINGLE_COLUMN_PX,
    TEMPLATE_NAME,
    diverging,
    paper_layout,
    sequential,
)

__all__ = [
    "DIVERGING_SCALE",
    "DOUBLE_COLUMN_IN",
    "DOUBLE_COLUMN_PX",
    "FORMATS",
    "OKABE_ITO",
    "PNG_SCALE",
    "SEQUENTIAL_SCALE",
    "SINGLE_COLUMN_IN",
    "SINGLE_COLUMN_PX",
    "TEMPLATE_NAME",
    "bars",
    "calibration",
    "curves",
    "diverging",
    "export",
    "export_named",
    "find_chrome",
    "heatmap",
    "layer_lines",
    "paper_layout",
    "require_chrome",
    "roc_pr",
    "sequential",
    "tradeoff",
]
