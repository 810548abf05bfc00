"""Several models on one page: `internals report --model A --model B --out DIR`.

    from internals.report import ReportSettings, compare_models
    c = compare_models(["SmolLM2-135M-Instruct", "gemma3-270m"], "report-compare", ReportSettings())

Each model's report is written on its own into DIR/<model>/ (index.html and report.json, so it
opens alone and one model can be rerun without the other); then DIR/index.html puts them side by
side: per section, figures that draw every model on one relative-depth axis (from the `data` each
section keeps in report.json, `compare_figures`), each model's tables and errors, links to the
models' own pages, and DIR/compare.json with every model's manifest. `write_comparison` builds the
page from report folders that already exist (`internals report --compare DIR1 DIR2 --out DIR`).
"""

from __future__ import annotations

import html
import json
import os
import re
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InternalsError
from . import compare_figures as cf
from .build import Report, _atomic_write, build_report
from .cutoff_section import MAIN_KIND
from .html import figure_html, json_block, page, slug, table_html
from .registry import SECTIONS, select
from .section import ReportSettings, Table
from .voids_section import FIGURE_ALPHA


@dataclass(frozen=True)
class ComparisonFigure:
    """A figure of one section across models: drawn from the models whose section data has `needs`."""

    section: str
    caption: str
    draw: Callable
    needs: str


FIGURES: tuple[ComparisonFigure, ...] = (
    ComparisonFigure(
        "factcheckmate",
        "FactCheckmate layer sweep: test balanced accuracy of each probe trained at one layer "
        "(mean-pooled resid_post of the question), against relative depth; chance dotted",
        cf.factcheckmate_sweep,
        "sweep",
    ),
    ComparisonFigure(
        "cutoff",
        f"Cutoff: validation F1 of each attention head's probe ({MAIN_KIND}) minus the position-only "
        "baseline's, one map per model, layers on relative depth; one colour scale",
        lambda models: cf.head_f1_maps(models, MAIN_KIND),
        "head_f1",
    ),
    ComparisonFigure(
        "voids",
        f"Voids: share of tokens for which LAC skips each block (alpha {FIGURE_ALPHA}), against the block's "
        "relative depth; solid: prompt tokens, dashed: generated tokens",
        cf.void_share,
        "layer_rates",
    ),
    ComparisonFigure(
        "depth",
        "Depth: residual variance against relative depth (log scale): median over prompts of the within-prompt "
        "variance with its 25-75th percentile band (solid), over all tokens together (dashed)",
        cf.depth_variance,
        "prompt_variance",
    ),
    ComparisonFigure(
        "depth",
        "Depth: the same variance divided by its value after the first block (each prompt by its own), "
        "so the growth of models with differently scaled embeddings shares one axis",
        lambda models: cf.depth_variance(models, relative=True),
        "prompt_variance",
    ),
    ComparisonFigure(
        "depth",
        "Depth: change in next-token loss when one block is skipped, against the block's relative depth",
        cf.depth_ablation,
        "ablation_delta",
    ),
)
"""The comparison figures in page order (several per section are drawn in this order)."""

EXTRA_CSS = """
.columns { display: grid; gap: 1.2rem; align-items: start; }
.columns > div { min-width: 0; overflow-x: auto; border-top: 3px solid #ddd; padding-top: .3rem; }
h3 { margin: .3rem 0; font-size: 1.1rem; }
"""


@dataclass
class Comparison:
    """What `write_comparison` wrote: the page, compare.json, each model's folder and failures."""

    path: Path
    json_path: Path
    reports: dict[str, Path]  # label -> the model's report folder
    failed: dict[str, list[str]] = field(default_factory=dict)  # label -> failed sections (or the model)


def model_label(model: str | os.PathLike | None) -> str:
    """A folder name for a model: the last part of its path or hub name ("default" for None)."""
    name = Path(str(model).rstrip("/\\")).name if model else "default"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"


def _unique(labels: Sequence[str]) -> list[str]:
    out: list[str] = []
    for label in labels:
        new, i = label, 2
        while new in out:
            new, i = f"{label}-{i}", i + 1
        out.append(new)
    return out


def compare_models(
    models: Sequence[str | os.PathLike | None],
    out: str | Path = "report-compare",
    settings: ReportSettings | None = None,
    only: Sequence[str] | None = None,
    *,
    on_report: Callable[[str, Report], None] | None = None,
) -> Comparison:
    """Run the report on each model into out/<model>/ and write the comparison out/index.html.

    A model that does not load (or whose report raises) is shown as failed on the page; the
    others still run. `on_report(label, report)` is called as each model's report is written.
    Returns the `Comparison` (its `failed` lists failed sections per model)."""
    names = select(only)  # a bad section name fails before any model loads
    out = Path(out)
    labels = _unique([model_label(m) for m in models])
    reports, errors = {}, {}
    for model, label in zip(models, labels):
        try:
            report = build_report(model, out / label, settings, names)
            reports[label] = out / label
            if on_report:
                on_report(label, report)
        except Exception as err:  # noqa: BLE001 - shown on the page; the other models still run
            first = (str(err).strip().splitlines() or [""])[0]
            detail = first if isinstance(err, InternalsError) else f"{type(err).__name__}: {first}"
            errors[label] = {"error": detail, "traceback": traceback.format_exc(limit=6)}
    return write_comparison(reports, out, model_errors=errors)


def load_reports(dirs: Sequence[str | Path]) -> dict[str, Path]:
    """label -> folder for report folders given on the command line (each must hold report.json)."""
    paths = [Path(d) for d in dirs]
    for p in paths:
        if not (p / "report.json").is_file():
            raise InternalsError(f"no report.json in {p}: write it with `internals report --model M --out {p}`")
    return dict(zip(_unique([model_label(p.resolve()) for p in paths]), paths))


def write_comparison(
    reports: dict[str, Path], out: str | Path, *, model_errors: dict[str, dict] | None = None
) -> Comparison:
    """The comparison page out/index.html and out/compare.json from finished report folders.

    reports: label -> a folder with report.json (and index.html); model_errors: label -> {"error",
    "traceback"} for models that have no report (shown as failed)."""
    out = Path(out).resolve()
    model_errors = dict(model_errors or {})
    if any(Path(p).resolve() == out for p in reports.values()):
        raise InternalsError(f"--out {out} is one of the compared report folders: pass another folder")
    docs = {label: json.loads((Path(p) / "report.json").read_text(encoding="utf-8")) for label, p in reports.items()}
    names = [n for n in SECTIONS if any(n in d["sections"] for d in docs.values())]
    names += [n for d in docs.values() for n in d["sections"] if n not in names]  # sections not registered here
    links = {label: _relative(Path(p).resolve() / "index.html", out) for label, p in reports.items()}
    body, figures_json, missing_json = [_models_html(docs, links, model_errors)], {}, {}
    for i, name in enumerate(names, start=1):
        part, figs, missing = _section_html(name, i, docs, links)
        body.append(part)
        figures_json[name], missing_json[name] = figs, missing
    labels = [*docs, *model_errors]
    title = f"internals comparison: {' vs '.join(labels)}"
    toc = "".join(f'<li><a href="#{slug(_title(n, docs))}">{html.escape(_title(n, docs))}</a></li>' for n in names)
    body.append(
        f'<section id="manifest"><h2>Manifests</h2><p>Each model\'s manifest (model, settings, versions, '
        f"timings) as its report.json has it.</p><pre>{json_block({k: d['manifest'] for k, d in docs.items()})}</pre>"
        "</section>"
    )
    text = page(title, _subtitle(docs), toc, "\n".join(body), EXTRA_CSS)
    out.mkdir(parents=True, exist_ok=True)
    path, json_path = out / "index.html", out / "compare.json"
    _atomic_write(path, text)
    failed = {label: [s["title"] for s in d["sections"].values() if s["error"]] for label, d in docs.items()}
    failed = {k: v for k, v in failed.items() if v}
    failed.update({label: ["model did not load or run"] for label in model_errors})
    models = {
        k: {"dir": Path(links[k]).parent.as_posix(), "page": links[k], "manifest": d["manifest"]}
        for k, d in docs.items()
    }
    models.update({k: {"error": e["error"], "traceback": e["traceback"]} for k, e in model_errors.items()})
    doc = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "models": models,
        "sections": {n: {"figures": figures_json[n], "not_drawn": missing_json[n]} for n in names},
        "failed": failed,
    }
    _atomic_write(json_path, json.dumps(doc, indent=1, default=str))
    return Comparison(path, json_path, {k: Path(p) for k, p in reports.items()}, failed)


def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def _title(name: str, docs: dict) -> str:
    """The section's heading: as a model that ran it wrote it (a failed section only has its name)."""
    ran = [d["sections"][name] for d in docs.values() if name in d["sections"]]
    return next((s["title"] for s in ran if not s["error"]), name)


def _subtitle(docs: dict) -> str:
    settings = {json.dumps(d["manifest"].get("settings"), sort_keys=True) for d in docs.values()}
    if len(settings) > 1:
        return f"{len(docs)} models · their settings differ: see the table and each model's manifest"
    s = next(iter(docs.values()))["manifest"].get("settings", {}) if docs else {}
    speed = "quick" if s.get("quick", True) else "full"
    return f"{len(docs)} models · {speed} settings · seed {s.get('seed')} · written {time.strftime('%Y-%m-%d %H:%M')}"


def _models_html(docs: dict, links: dict, model_errors: dict) -> str:
    rows = []
    for label, d in docs.items():
        m, arch = d["manifest"], d["manifest"].get("architecture", {})
        failed = [n for n, s in d["sections"].items() if s["error"]]
        rows.append(
            [
                label,
                m["model"].get("model_type"),
                m["model"].get("n_layers"),
                arch.get("d_model"),
                arch.get("n_heads"),
                arch.get("norms"),
                m["model"].get("fingerprint"),
                m.get("wall_s"),
                ", ".join(failed) or "none",
            ]
        )
    table = table_html(
        Table(
            "Models",
            ["model", "family", "blocks", "d_model", "heads", "norms", "fingerprint", "wall s", "failed sections"],
            rows,
            note="Each model's own page has every figure of its report: "
            + ", ".join(f"{label}: {links[label]}" for label in docs),
        )
    )
    own = " · ".join(f'<a href="{html.escape(links[k])}">{html.escape(k)}\'s own page</a>' for k in docs)
    errors = "".join(
        f'<div class="error">{html.escape(k)} has no report: {html.escape(e["error"])}</div>'
        for k, e in model_errors.items()
    )
    return f'<section id="models"><h2>Models</h2><p>{own}</p>{errors}{table}</section>'


def _section_html(name: str, index: int, docs: dict, links: dict) -> tuple[str, list[str], dict[str, str]]:
    """The section's part of the page, the captions of the figures drawn, and label -> why a model is
    not in them."""
    title = _title(name, docs)
    parts = [f'<section id="{slug(title)}"><h2>{index}. {html.escape(title)}</h2>']
    figs, missing, drawn = [], {}, []
    for j, spec in enumerate(f for f in FIGURES if f.section == name):
        data, absent = {}, {}
        for label, d in docs.items():
            s = d["sections"].get(name)
            if s is None:
                absent[label] = "section not run"
            elif s["error"]:
                absent[label] = f"section failed: {s['error']}"
            elif spec.needs not in (s.get("data") or {}):
                absent[label] = "its report.json has no per-layer numbers (written before they were kept)"
            else:
                data[label] = s["data"]
        missing.update(absent)
        if not data:
            continue
        caption = spec.caption + (f" (not drawn for {', '.join(absent)})" if absent else "")
        figs.append(figure_html(spec.draw(data), f"fig-{index}-{j}", caption + _norms(name, docs, data)))
        drawn.append(spec.caption)
    if figs:
        parts.append(f'<div class="figures">{"".join(figs)}</div>')
    parts.extend(f'<p class="note">Not drawn for {html.escape(k)}: {html.escape(v)}</p>' for k, v in missing.items())
    columns = [_column(name, label, d, links[label]) for label, d in docs.items()]
    parts.append(f'<div class="columns" style="grid-template-columns: repeat({len(columns)}, minmax(0, 1fr));">')
    parts.extend(columns)
    parts.append("</div></section>")
    return "\n".join(parts), drawn, missing


def _norms(name: str, docs: dict, data: dict) -> str:
    """For the depth figures: where each model's norms sit (variance growth depends on it)."""
    if name != "depth":
        return ""
    norms = [f"{k}: {docs[k]['manifest'].get('architecture', {}).get('norms', '?')}" for k in data]
    return f". Norms: {'; '.join(norms)}"


def _column(name: str, label: str, doc: dict, link: str) -> str:
    s = doc["sections"].get(name)
    anchor = f"{link}#{slug(s['title'])}" if s else link
    head = f'<h3><a href="{html.escape(anchor)}">{html.escape(label)}</a></h3>'
    if s is None:
        return f'<div>{head}<p class="note">not run for this model</p></div>'
    parts = [head, f'<p class="meta">ran in {s["wall_s"]:.1f} s ({s["cpu_s"]:.1f} s CPU)</p>']
    if s["error"]:
        parts.append(f'<div class="error">This section failed: {html.escape(s["error"])}</div>')
    if s.get("text"):
        parts.append(f'<p class="note">{html.escape(s["text"])}</p>')
    parts.extend(table_html(Table(**t)) for t in s["tables"])
    return f"<div>{''.join(parts)}</div>"
