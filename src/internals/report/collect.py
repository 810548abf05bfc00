"""Take the figures an analysis's figure writer exports, as Figure objects instead of files.

Analyses draw their paper figures in functions that end in `internals.plots.export(figs, stems)`
(e.g. voids `trace_figures`). Inside `collected_figures()`, that export records each figure under
its stem and writes nothing, so the report shows exactly the figures the analysis would write.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import plotly.graph_objects as go

from ..errors import InternalsError


@contextlib.contextmanager
def collected_figures():
    """Yields (stems -> Figure dict, a scratch folder to pass as the writer's output dir).

    Raises InternalsError if the block exported nothing (a writer that bypasses
    `internals.plots.export` would otherwise go unnoticed).
    """
    from .. import plots

    figures: dict[str, go.Figure] = {}
    real = plots.export

    def record(figs, stems, formats=("png", "pdf"), **_):
        fig_list = [figs] if isinstance(figs, (go.Figure, dict)) else list(figs)
        stem_list = [stems] if isinstance(stems, (str, os.PathLike)) else list(stems)
        fmts = [formats] if isinstance(formats, str) else list(formats)
        for fig, stem in zip(fig_list, stem_list):
            figures[Path(stem).stem] = fig if isinstance(fig, go.Figure) else go.Figure(fig)
        return [Path(s).with_suffix(f".{f}") for s in stem_list for f in fmts]

    plots.export = record
    try:
        with tempfile.TemporaryDirectory(prefix="internals-report-") as scratch:
            yield figures, Path(scratch)
    finally:
        plots.export = real
    if not figures:
        raise InternalsError("the analysis exported no figures through internals.plots.export")
