"""The comparison figures for the README and docs: two models' saved results on one relative-depth axis.

`internals figures` draws them beside each model's own figures (the "compare ..." sources of
`assets.SOURCES`). Each takes the default model's results file and another model's, named as
benchmarks/bench_models.py names them (`<stem>.json`, `<stem>.<model>.json`), turns each into the
per-model data the builders of `compare_figures` take (the HTML comparison page draws the same
figures from report.json), and exports the figure:

- depth_trace: compare_depth_variance (residual variance: median over prompts with its 25-75th
  percentile band, all tokens dashed, all but each prompt's first dotted), compare_depth_growth
  (the same over its value after the first block), compare_depth_ablation (change in loss when a
  block is skipped);
- factcheckmate: compare_factcheckmate_sweep (test balanced accuracy of each head of the
  qa_wikidata probe trained at each layer), from the probe's sweep.json;
- voids: compare_voids_blocks (share of tokens for which LAC skips each block at alpha 0.8, prompt
  and generated tokens), from the trace summary in voids.json;
- context_cutoff: compare_cutoff_f1 (each head's probe F1 minus the position-only F1, the probe's
  main feature kind), from the probe's train.json.

A pair with a file missing is skipped with a note: by `regenerate` when a results file is absent,
by `SkipSource` here when a file it points to (a probe's sweep.json or train.json) is.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import compare_figures as cf
from .assets import VOIDS_FIGURE_ALPHA, SkipSource

LABELS = {  # legend names of the bundled models; where the norms sit decides how variance grows
    "SmolLM2-135M-Instruct": "SmolLM2-135M (Pre-LN)",
    "gemma3-270m": "Gemma 3 270M (pre- and post-norms)",
}
FACTCHECKMATE_CONFIG = "qa_wikidata"


def label(name: str) -> str:
    """The legend name of a model a results file names."""
    return LABELS.get(name, name)


def _read(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _under(root: Path, relative: str, what: str, path: Path) -> Path:
    """root/relative, or SkipSource when it is absent."""
    target = Path(root) / relative
    if not target.is_file():
        raise SkipSource(f"{target} ({what} {path.name} points to) not found: pass the folder the benchmark ran in")
    return target


def depth_data(path: Path) -> tuple[str, dict]:
    """(model name, data) of the first trace of a depth.trace results file (the loaded model; its
    random-init twin follows it): n_layers, variance and variance_rest [L+1], prompt_variance
    [L+1, prompts] and, when the file has the ablation, ablation_blocks / ablation_delta [L]."""
    from ..analyses.depth.results import load_results
    from ..analyses.depth.trace import Ablation

    doc = load_results(path)
    name, t = next(iter(doc["results"]["traces"].items()))
    variance = np.asarray(t["variance"], dtype=float)
    data = {
        "n_layers": len(variance) - 1,
        "variance": variance,
        "variance_rest": np.asarray(t["variance_rest"], dtype=float),
        "prompt_variance": np.asarray(t["prompt_variance"], dtype=float).T,
    }
    if doc["results"].get("ablation"):
        ablation = Ablation.from_dict(doc["results"]["ablation"])
        data.update(ablation_blocks=ablation.blocks, ablation_delta=ablation.delta)
    return t.get("model", {}).get("name", name), data


def factcheckmate_data(path: Path, root: Path, config: str = FACTCHECKMATE_CONFIG) -> tuple[str, dict]:
    """(model name, data) from factcheckmate.json and the sweep.json of its `config` probe (read from
    root / the probe folder it records): n_layers and the sweep (head -> layers, test, ...)."""
    manifest = _read(path)["manifest"]
    c = manifest["configs"].get(config)
    if c is None:
        raise SkipSource(f"{path.name} has no {config} probe")
    sweep = _read(_under(root, f"{c['out']}/{c['name']}/sweep.json", "the probe", path))
    return manifest["model"]["name"], {"n_layers": manifest["model"]["n_layers"], "sweep": sweep}


def voids_data(path: Path, alpha: float = VOIDS_FIGURE_ALPHA) -> tuple[str, dict]:
    """(model name, data) from the trace summary of voids.json at `alpha`: n_layers and layer_rates
    (phase -> [L] share of the phase's tokens that use each block)."""
    trace = _read(path).get("trace") or {}
    rates = trace.get("alphas", {}).get(str(alpha))
    if rates is None:
        raise SkipSource(f"{path.name} has no trace summary at alpha {alpha}")
    data = {"n_layers": trace["n_layers"], "layer_rates": {p: r["layer_rates"] for p, r in rates.items()}}
    return trace["manifest"]["model"]["name"], data


def cutoff_data(path: Path, root: Path) -> tuple[str, dict]:
    """(model name, data) from context_cutoff.json and its probe's train.json (read from root / the
    probe folder it records): n_layers, main (the feature kind the headline uses), f1_val_position
    and head_f1 (kind -> [L, heads] validation F1)."""
    from ..analyses.cutoff.probes import feature_kind

    probe = _read(path)["manifest"]["probe"]
    train = _read(_under(root, f"{probe}/train.json", "the cutoff results", path))
    head_f1 = {k: r["head_f1"] for k, r in train["kinds"].items() if k == feature_kind(k)}
    data = {
        "n_layers": train["model"]["n_layers"],
        "main": train["config"].get("main", next(iter(head_f1))),
        "f1_val_position": train["f1_val_position"],
        "head_f1": head_f1,
    }
    return train["model"]["name"], data


def _models(loaded) -> dict[str, dict]:
    return {label(name): data for name, data in loaded}


def depth_figures(paths: list[Path]) -> dict:
    """stem -> Figure from depth_trace results files (one per model)."""
    models = _models(depth_data(p) for p in paths)
    figs = {
        "compare_depth_variance": cf.depth_variance(models, rest=True),
        "compare_depth_growth": cf.depth_variance(models, relative=True, rest=True),
    }
    if all("ablation_delta" in d for d in models.values()):
        figs["compare_depth_ablation"] = cf.depth_ablation(models)
    return figs


def factcheckmate_figures(paths: list[Path], root: Path) -> dict:
    """stem -> Figure from factcheckmate results files (one per model) and their probes under root."""
    return {"compare_factcheckmate_sweep": cf.factcheckmate_sweep(_models(factcheckmate_data(p, root) for p in paths))}


def voids_figures(paths: list[Path]) -> dict:
    """stem -> Figure from voids results files (one per model)."""
    return {"compare_voids_blocks": cf.void_share(_models(voids_data(p) for p in paths))}


def cutoff_figures(paths: list[Path], root: Path) -> dict:
    """stem -> Figure from context_cutoff results files (one per model) and their probes under root;
    the maps are of the first model's main feature kind."""
    models = _models(cutoff_data(p, root) for p in paths)
    kind = next(iter(models.values()))["main"]
    lacking = [name for name, d in models.items() if kind not in d["head_f1"]]
    if lacking:
        raise SkipSource(f"the cutoff probe of {', '.join(lacking)} has no {kind} head probes")
    return {"compare_cutoff_f1": cf.head_f1_maps(models, kind)}


def _export(figs: dict, out: Path, formats) -> list[Path]:
    from ..plots import export_named

    return export_named(figs, out, formats)


def write_depth(paths: list[Path], out: Path, formats, root: Path) -> list[Path]:
    """Depth comparison figures from depth_trace.json and depth_trace.<model>.json."""
    return _export(depth_figures(paths), out, formats)


def write_factcheckmate(paths: list[Path], out: Path, formats, root: Path) -> list[Path]:
    """The FactCheckmate sweep comparison from factcheckmate.json and factcheckmate.<model>.json."""
    return _export(factcheckmate_figures(paths, root), out, formats)


def write_voids(paths: list[Path], out: Path, formats, root: Path) -> list[Path]:
    """The void share comparison from voids.json and voids.<model>.json."""
    return _export(voids_figures(paths), out, formats)


def write_cutoff(paths: list[Path], out: Path, formats, root: Path) -> list[Path]:
    """The head F1 map comparison from context_cutoff.json and context_cutoff.<model>.json."""
    return _export(cutoff_figures(paths, root), out, formats)
