"""Run the registered sections on one model and write `index.html` and `report.json` to a folder."""

from __future__ import annotations

import contextlib
import json
import random
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InternalsError
from .html import render_page
from .registry import get_section, select
from .section import ReportSettings, Section


@dataclass
class Report:
    """What `build_report` wrote: the page, the JSON beside it, the sections (with their errors)."""

    path: Path
    json_path: Path
    sections: list[Section]
    wall_s: float
    cpu_s: float

    @property
    def failed(self) -> list[str]:
        return [s.title for s in self.sections if s.error]


@contextlib.contextmanager
def _thread_limits(threads: int | None):
    """torch threads and the BLAS/OpenMP pools of numpy and scikit-learn at `threads` (None: as they are).

    Both matter on a busy machine: scikit-learn's many small fits (one probe per head) spend
    most of their time in idle BLAS threads when the cores are taken."""
    if not threads:
        yield
        return
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    with threadpool_limits(limits=threads):
        yield


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run_section(name: str, lm, settings: ReportSettings) -> Section:
    """One section, timed; an exception becomes the section's `error` so the others still run."""
    _seed(settings.seed)
    start, cpu = time.perf_counter(), time.process_time()
    try:
        section = get_section(name)(lm, settings)
    except Exception as err:  # noqa: BLE001 - shown in the page and reported by the CLI
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        detail = f"{type(err).__name__}: {first}" if not isinstance(err, InternalsError) else first
        section = Section(title=name, error=detail, manifest={"traceback": traceback.format_exc(limit=6)})
    section.wall_s = time.perf_counter() - start
    section.cpu_s = time.process_time() - cpu
    return section


def build_report(
    model=None,
    out: str | Path = "report",
    settings: ReportSettings | None = None,
    only: Sequence[str] | None = None,
    *,
    lm=None,
) -> Report:
    """Run every registered section (or `only` those) on `model` and write `out/index.html`.

    model: a checkpoint dir or hub name (None: the embedded SmolLM2-135M-Instruct); or pass a
        loaded `lm` (`internals.load_model`) instead.
    out: the folder; `index.html` (self-contained, figures inline) and `report.json` (manifest,
        tables, per-section timings and errors) are written there.
    A section that raises is shown as failed on the page; the rest still run (see `Report.failed`).
    """
    from ..models import load_model
    from ..store import package_versions

    settings = settings or ReportSettings()
    names = select(only)
    threads = torch.get_num_threads()
    start, cpu = time.perf_counter(), time.process_time()
    try:
        with _thread_limits(settings.threads):
            if lm is None:
                lm = load_model(model, device=settings.device)
            sections = [run_section(name, lm, settings) for name in names]
            used_threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(threads)
    wall = time.perf_counter() - start
    manifest = {
        "model": lm.describe(),
        "architecture": _architecture(lm),
        "sections": names,
        "settings": settings.to_dict(),
        "seed": settings.seed,
        "versions": _versions(package_versions()),
        "torch_threads": used_threads,
        "device": str(lm.device),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_s": round(wall, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
        "section_wall_s": {n: None if s.wall_s is None else round(s.wall_s, 2) for n, s in zip(names, sections)},
        "section_cpu_s": {n: None if s.cpu_s is None else round(s.cpu_s, 2) for n, s in zip(names, sections)},
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    subtitle = (
        f"{lm.name} · fingerprint {lm.fingerprint} · {'quick' if settings.quick else 'full'} settings · "
        f"seed {settings.seed} · {wall:.0f} s on {lm.device} ({used_threads} threads)"
    )
    page = render_page(f"internals report: {lm.name}", subtitle, sections, manifest)
    path, json_path = out / "index.html", out / "report.json"
    _atomic_write(path, page)
    doc = {"manifest": manifest, "sections": {n: _section_doc(s) for n, s in zip(names, sections)}}
    _atomic_write(json_path, json.dumps(doc, indent=1, default=str))
    return Report(path, json_path, sections, wall, manifest["cpu_s"])


def _architecture(lm) -> dict:
    """Widths and where the norms sit, for the page header and comparisons of models."""
    from ..capture.arch import architecture

    arch = architecture(lm.model)
    pre = bool(arch.attn_norm_name or arch.mlp_norm_name)
    post = bool(arch.post_attn_norm_name or arch.post_mlp_norm_name)
    norms = {(True, True): "pre- and post-norms", (True, False): "Pre-LN", (False, True): "post-norms"}
    return {
        "d_model": arch.d_model,
        "n_heads": arch.n_heads,
        "d_head": arch.d_head,
        "norms": norms.get((pre, post), "no block norms found"),
    }


def _versions(base: dict) -> dict:
    """The capture packages' versions plus those the analyses and figures use."""
    from importlib import metadata

    out = dict(base)
    for name in ("scikit-learn", "plotly", "kaleido", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _section_doc(s: Section) -> dict:
    return {
        "title": s.title,
        "text": s.text,
        "figures": list(s.figures),
        "tables": [t.to_dict() for t in s.tables],
        "manifest": s.manifest,
        "data": s.data,
        "error": s.error,
        "wall_s": round(s.wall_s or 0.0, 2),
        "cpu_s": round(s.cpu_s or 0.0, 2),
    }


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
