"""The figures the pages show, redrawn from saved results files: `internals figures`.

Each `FigureSource` names the results files an analysis's benchmark saved (relative to the results
folder, `benchmarks/results` in a clone) and a function that draws and exports its figures from
them without running a model: `write(paths, out, formats, root) -> [written files]`, each calling
the analysis's own figure code. Paths recorded inside a results file (the probe folder it used,
e.g. "probes/cutoff") are relative to where the benchmark ran: `root`. Nothing here assumes a
repository layout; every location is an argument. A source whose files are absent is skipped
with a note, as is one whose write function raises `SkipSource`.

The "compare ..." sources draw two models on one relative-depth axis (`compare_assets`): the default
model's results file and `COMPARED`'s beside it (`<stem>.<model>.json`).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InternalsError

COMPARED = "gemma3-270m"  # the model the comparison figures draw beside the default one


class SkipSource(Exception):
    """Raised by a write function whose results files are there but lack what it needs (a probe
    folder they point to): the source is skipped with the message as its note."""


@dataclass(frozen=True)
class FigureSource:
    """name: shown in notes; results: files it needs (relative to the results folder); write: "module:function"."""

    name: str
    results: tuple[str, ...]
    write: str

    def function(self):
        module, func = self.write.split(":")
        return getattr(importlib.import_module(module), func)


def write_depth(paths: list[Path], out: Path, formats, root: Path) -> list[Path]:
    """Depth figures from a `depth.trace` or `depth.pretrain` results file."""
    from ..analyses.depth.figures import export_figures
    from ..analyses.depth.results import load_results

    return [p for path in paths for p in export_figures(load_results(path), out, formats=formats)]


def write_voids_eval(paths: list[Path], out: Path, formats, root: Path) -> list[Path]:
    """Voids trade-off figures from the sweep rows of voids.json (benchmarks/voids.py)."""
    import json

    from ..analyses.voids.report import eval_figures

    return eval_figures(json.loads(paths[0].read_text())["sweep"], out, formats=formats)


VOIDS_FIGURE_ALPHA = 0.8  # the alpha benchmarks/voids.py draws the trace figures at (the paper's)


def write_voids_trace(paths: list[Path], out: Path, formats, root: Path) -> list[Path]:
    """Voids trace figures from the norm trace benchmarks/voids.py saved (voids_trace/ in the results
    folder) at the benchmark's alphas (voids.json)."""
    import json

    from transformers import AutoTokenizer

    from ..analyses.voids.report import trace_figures
    from ..analyses.voids.trace import NormTrace

    trace = NormTrace.load(paths[0].parent)
    alphas = [float(a) for a in json.loads(paths[1].read_text())["trace"]["alphas"]]
    path = trace.manifest.get("model", {}).get("path")
    tokenizer = AutoTokenizer.from_pretrained(path) if path and Path(path).is_dir() else None
    return trace_figures(trace, VOIDS_FIGURE_ALPHA, alphas, out, tokenizer=tokenizer, formats=formats)


def write_cutoff(paths: list[Path], out: Path, formats, root: Path) -> list[Path]:
    """Cutoff figures (trade-off; head F1 maps when the probe's train.json is under `root`) from
    context_<config stem>.json, drawn by the analysis's `write_figures` with the names
    benchmarks/context_cutoff.py gives them (<config stem>_tradeoff)."""
    import json

    from ..analyses.cutoff.figures import write_figures

    results = json.loads(paths[0].read_text())
    probe = results.get("manifest", {}).get("probe")
    train = root / probe / "train.json" if probe else None
    return write_figures(
        paths[0],
        train if train and train.is_file() else None,
        out,
        formats=formats,
        prefix=paths[0].stem.removeprefix("context_"),
    )


def write_factcheckmate(paths: list[Path], out: Path, formats, root: Path) -> list[Path]:
    """FactCheckmate per-layer sweep figures (factcheckmate_sweep_<config>) from the sweep.json of each
    probe factcheckmate.json lists (its folder read relative to `root`)."""
    import json

    from ..analyses.factcheckmate.figures import sweep_figure
    from ..plots import export

    configs = json.loads(paths[0].read_text())["manifest"]["configs"]
    figs, stems = [], []
    for name, c in configs.items():
        sweep = root / c["out"] / c["name"] / "sweep.json"
        if sweep.is_file():
            figs.append(sweep_figure(sweep))
            stems.append(out / f"factcheckmate_sweep_{name}")
    if not figs:
        raise InternalsError(
            f"no sweep.json of the probes in {paths[0]} was found under {root}: pass the folder the benchmark "
            "ran in as the root (internals figures --root DIR), or run benchmarks/factcheckmate.py"
        )
    return export(figs, stems, formats=formats)


def write_patching(paths: list[Path], out: Path, formats, root: Path) -> list[Path]:
    """Patching heatmaps (patching_<site>, patching_window<w>_<site>) from patching*.json."""
    from ..analyses.patching.figures import export_figures
    from ..analyses.patching.results import load_results

    return export_figures(load_results(paths[0]), out, formats=formats)


SOURCES: tuple[FigureSource, ...] = (
    FigureSource("factcheckmate", ("factcheckmate.json",), f"{__name__}:write_factcheckmate"),
    FigureSource("cutoff", ("context_cutoff.json",), f"{__name__}:write_cutoff"),
    FigureSource("cutoff query", ("context_cutoff_query.json",), f"{__name__}:write_cutoff"),
    FigureSource("cutoff query confirm", ("context_cutoff_query_confirm.json",), f"{__name__}:write_cutoff"),
    FigureSource("depth trace", ("depth_trace.json",), f"{__name__}:write_depth"),
    FigureSource("depth pretrain", ("depth_pretrain.json",), f"{__name__}:write_depth"),
    FigureSource("voids eval", ("voids.json",), f"{__name__}:write_voids_eval"),
    FigureSource(
        "voids trace",
        ("voids_trace/manifest.json", "voids.json"),
        f"{__name__}:write_voids_trace",
    ),
    FigureSource("patching", ("patching.json",), f"{__name__}:write_patching"),
    FigureSource("patching window", ("patching_window10.json",), f"{__name__}:write_patching"),
    *(
        FigureSource(
            f"compare {name}", (f"{stem}.json", f"{stem}.{COMPARED}.json"), f"{__package__}.compare_assets:{func}"
        )
        for name, stem, func in (
            ("depth", "depth_trace", "write_depth"),
            ("factcheckmate", "factcheckmate", "write_factcheckmate"),
            ("voids", "voids", "write_voids"),
            ("cutoff", "context_cutoff", "write_cutoff"),
        )
    ),
)


@dataclass
class Outcome:
    """What happened to one source: `written` paths, or `skipped` with the reason."""

    source: FigureSource
    stems: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    skipped: str | None = None


def readme_assets(readme: Path) -> list[str]:
    """Stems of the assets/ images a page (README.md) links to (e.g. "depth_variance" for assets/depth_variance.png)."""
    if not readme.is_file():
        return []
    found = re.findall(r"assets/([\w\-./]+?)\.(?:png|pdf|svg|jpg|jpeg|gif|html)", readme.read_text(encoding="utf-8"))
    return list(dict.fromkeys(found))


def regenerate(
    results: str | Path,
    out: str | Path,
    formats=("png", "pdf"),
    sources: tuple[FigureSource, ...] = SOURCES,
    only: list[str] | None = None,
    *,
    root: str | Path = ".",
) -> list[Outcome]:
    """Draw every source whose results files are in the folder `results` and export it to `out` in
    `formats`; paths recorded in the files (probe folders) are read relative to `root`. Returns one
    Outcome per source. Raises InternalsError when `results` is not a folder."""
    results, out, root = Path(results), Path(out), Path(root)
    if not results.is_dir():
        raise InternalsError(
            f"no results folder {results}: pass the folder the benchmarks wrote their JSON into "
            "(benchmarks/results in a clone of the repository)"
        )
    chosen = [s for s in sources if not only or any(s.name.startswith(o) for o in only)]
    if only and not chosen:
        raise InternalsError(
            f"no figure source matches {', '.join(only)}: use one of {', '.join(s.name for s in sources)}"
        )
    outcomes = []
    for source in chosen:
        outcome = Outcome(source)
        outcomes.append(outcome)
        missing = [p for p in source.results if not (results / p).is_file()]
        if missing:
            outcome.skipped = f"{missing[0]} not found in {results} (run the analysis's benchmark to make it)"
            continue
        paths = [results / p for p in source.results]
        try:
            outcome.written = list(source.function()(paths, out, tuple(formats), root))
        except SkipSource as why:
            outcome.skipped = str(why)
            continue
        outcome.stems = list(dict.fromkeys(p.stem for p in outcome.written))
    return outcomes
