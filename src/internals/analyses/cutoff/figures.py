"""The cutoff figures, drawn from saved JSON only (no model needed):

- `cutoff_head_f1_<kind>`: layer x head map of each head probe's validation F1 minus the
  position-only baseline's (zero-centred: red heads beat position alone, blue ones do not);
- `cutoff_tradeoff`: answer accuracy against token reduction as the threshold moves, one curve
  per feature kind (means over datasets), the baselines as single points, full context dashed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ...errors import InternalsError
from .evaluation import probe_of
from .probes import feature_kind

_POINTS = ("self_assessment", "fixed_truncation", "position", "oracle")


def _read(path) -> dict:
    path = Path(path)
    if not path.exists():
        raise InternalsError(f"{path} does not exist: run `internals cutoff eval` or the benchmark first")
    return json.loads(path.read_text())


def head_f1_figures(train: dict) -> dict[str, object]:
    """kind -> heatmap of head F1 - position F1 [layers, heads] (validation prefixes)."""
    from ...plots import heatmap

    base = train["f1_val_position"]
    return {
        kind: heatmap(
            np.asarray(r["head_f1"]) - base,
            x_label="head",
            y_label="layer",
            signed=True,
            colorbar_title="F1 − position F1",
            title=f"{kind}: head probe F1 over position-only ({base:.2f})",
        )
        for kind, r in train["kinds"].items()
        if kind == feature_kind(kind)
    }  # "<kind>+<combine>": the same heads


def tradeoff_figure(results: dict):
    """Accuracy vs token reduction (means over the datasets in `results["tables"]`)."""
    from ...plots import tradeoff

    tables = list(results["tables"].values())
    methods = tables[0]["methods"]

    def mean(name: str, key: str) -> float:
        return float(np.mean([t["methods"][name][key] for t in tables]))

    fig = None
    kinds = sorted({k for k in map(probe_of, methods) if k})
    for kind in kinds:
        names = sorted((m for m in methods if m.startswith(f"probe:{kind}@")), key=lambda m: float(m.split("@")[1]))
        fig = tradeoff(
            [mean(m, "token_reduction") for m in names],
            [mean(m, "accuracy") for m in names],
            [m.split("@")[1] for m in names],
            name=f"probe ({kind})",
            fig=fig,
            xlabel="token reduction (×)",
            ylabel="answer accuracy",
            width="double",
            baseline=mean("full", "accuracy") if fig is None else None,
            baseline_label="full context",
        )
    for name in _POINTS:
        if name in methods:
            fig = tradeoff(
                [mean(name, "token_reduction")], [mean(name, "accuracy")], None, name=name.replace("_", " "), fig=fig
            )
    return fig


def figures(results_path, train_path=None, prefix: str = "cutoff") -> dict:
    """{stem: Figure}: `<prefix>_tradeoff` and, with the probe's train.json (given, or found beside
    the probe the results name), one `cutoff_head_f1_<kind>` per feature kind."""
    results = _read(results_path)
    train_path = train_path or _train_beside(results)
    figs = {f"{prefix}_tradeoff": tradeoff_figure(results)}
    if train_path:
        for kind, fig in head_f1_figures(_read(train_path)).items():
            figs[f"cutoff_head_f1_{re.sub(r'[^a-z_]', '', kind)}"] = fig
    return figs


def write_figures(
    results_path, train_path=None, out="assets", formats=("png", "pdf"), prefix: str = "cutoff"
) -> list[Path]:
    """Export `figures(...)` into `out` (PNG and PDF by default); returns the files written."""
    from ...plots import export_named

    return export_named(figures(results_path, train_path, prefix), out, formats)


def _train_beside(results: dict) -> Path | None:
    probe = results.get("manifest", {}).get("probe")
    if probe and (Path(probe) / "train.json").exists():
        return Path(probe) / "train.json"
    return None
