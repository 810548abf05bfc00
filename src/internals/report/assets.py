"""The figures README shows, redrawn from saved results: `internals figures`.

Each `FigureSource` names the results files an analysis saved (paths relative to the repository
root) and a function that draws its figures from them without running a model:
`draw(paths) -> {stem: Figure}`. A source whose files are absent is skipped with a note.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InternalsError


@dataclass(frozen=True)
class FigureSource:
    """name: shown in notes; results: files it needs (relative to the root); draw: "module:function"."""

    name: str
    results: tuple[str, ...]
    draw: str

    def function(self):
        module, func = self.draw.split(":")
        return getattr(importlib.import_module(module), func)


def draw_depth(paths: list[Path]) -> dict:
    """Depth figures from `depth.trace` / `depth.pretrain` results files."""
    from ..analyses.depth.figures import make_figures
    from ..analyses.depth.results import load_results

    figs = {}
    for path in paths:
        figs.update(make_figures(load_results(path)))
    return figs


SOURCES: tuple[FigureSource, ...] = (
    FigureSource("depth trace", ("benchmarks/results/depth_trace.json",), f"{__name__}:draw_depth"),
    FigureSource("depth pretrain", ("benchmarks/results/depth_pretrain.json",), f"{__name__}:draw_depth"),
)


@dataclass
class Outcome:
    """What happened to one source: `written` paths, or `skipped` with the reason."""

    source: FigureSource
    stems: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    skipped: str | None = None


def readme_assets(readme: Path) -> list[str]:
    """Stems of the assets/ images README.md links to (e.g. "depth_variance" for assets/depth_variance.png)."""
    if not readme.is_file():
        return []
    found = re.findall(r"assets/([\w\-./]+?)\.(?:png|pdf|svg|jpg|jpeg|gif|html)", readme.read_text(encoding="utf-8"))
    return list(dict.fromkeys(found))


def regenerate(root: str | Path = ".", out: str | Path | None = None, formats=("png", "pdf"),
               sources: tuple[FigureSource, ...] = SOURCES, only: list[str] | None = None) -> list[Outcome]:
    """Draw every source whose results exist under `root` and export it to `out` (default
    root/assets) in `formats`; all images in one browser session. Returns one Outcome per source."""
    from ..plots import export

    root = Path(root)
    out = Path(out) if out is not None else root / "assets"
    chosen = [s for s in sources if not only or any(s.name.startswith(o) for o in only)]
    if only and not chosen:
        raise InternalsError(f"no figure source matches {', '.join(only)}: use one of {', '.join(s.name for s in sources)}")
    outcomes, figs, stems, owners = [], [], [], []
    for source in chosen:
        outcome = Outcome(source)
        outcomes.append(outcome)
        missing = [p for p in source.results if not (root / p).is_file()]
        if missing:
            outcome.skipped = f"{missing[0]} not found (run the analysis's benchmark to make it)"
            continue
        drawn = source.function()([root / p for p in source.results])
        outcome.stems = list(drawn)
        for stem, fig in drawn.items():
            figs.append(fig)
            stems.append(str(out / stem))
            owners.append(outcome)
    if figs:
        paths = export(figs, stems, formats=formats)
        per_fig = len(paths) // len(figs)
        for i, outcome in enumerate(owners):
            outcome.written.extend(paths[i * per_fig:(i + 1) * per_fig])
    return outcomes
