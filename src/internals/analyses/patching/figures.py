"""Patching figures, drawn from a saved results document: `patching_<site>`, a token category x
layer heatmap of the mean recovery over prompts (hover: the bootstrap 95% interval and how many
prompts have that category), titled with the peak cell and the peak on the subject's tokens, with
their intervals. Categories no prompt has (e.g. "further tokens" when the subject is followed by
the last token alone) are left out. One colour range for every site, so the figures compare.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import InternalsError


def _limits(doc: dict) -> tuple[float, float]:
    """One colour range for every site (0..1 widened to the data), so the figures compare."""
    values = np.concatenate(
        [np.asarray(s["recovery"]["mean"], dtype=float).ravel() for s in doc["results"]["summary"].values()]
    )
    values = values[np.isfinite(values)]
    return min(0.0, float(values.min(initial=0.0))), max(1.0, float(values.max(initial=1.0)))


def _cell(peak: dict) -> str:
    return f"{peak['mean']:.2f} [{peak['lo']:.2f}, {peak['hi']:.2f}] at {peak['category']}, layer {peak['layer']}"


def stem(doc: dict) -> str:
    """The figures' file-name prefix: patching, or patching_window<w> for a windowed run."""
    window = doc["results"].get("window", 1)
    return "patching" if window == 1 else f"patching_window{window}"


def site_figure(doc: dict, site: str, zmin: float | None = None, zmax: float | None = None):
    """The heatmap of one site's mean recovery [categories, layers]."""
    from ...plots import heatmap

    res = doc["results"]
    if site not in res["summary"]:
        raise InternalsError(f"these results have no site {site!r} (they have {', '.join(res['summary'])})")
    s = res["summary"][site]
    keep = [c for c, k in enumerate(s["n"]) if k > 0]
    mean, lo, hi = (np.asarray(s["recovery"][k], dtype=float)[keep] for k in ("mean", "lo", "hi"))
    labels = [res["categories"][c] for c in keep]
    window = res.get("window", 1) if site != "resid_post" else 1
    what = site if window == 1 else f"{site}, window {window}"
    title = f"{what} (n={res['n_pairs']}): peak {_cell(s['peak'])}"
    if "peak_subject" in s and s["peak_subject"] != s["peak"]:
        title += f"; subject: {_cell(s['peak_subject'])}"
    fig = heatmap(
        mean,
        x_label="layer",
        x_ticks=[str(x) for x in range(mean.shape[1])],
        y_ticks=labels,
        colorbar_title="recovery",
        zmin=zmin,
        zmax=zmax,
        rows_top_down=True,
        title=title,
        width="double",
        height=2.0,
    )
    ns = [s["n"][c] for c in keep]
    fig.data[0].update(
        customdata=np.stack([lo, hi, np.repeat(np.asarray(ns, dtype=float)[:, None], mean.shape[1], 1)], -1),
        hovertemplate="%{hovertext}: %{z:.3f} [%{customdata[0]:.3f}, %{customdata[1]:.3f}], "
        "n=%{customdata[2]:.0f}<extra></extra>",
    )
    return fig


def make_figures(doc: dict) -> dict:
    """stem -> Figure (`patching_<site>`, `patching_window<w>_<site>` for a windowed run) for a
    patching results document."""
    if doc.get("analysis") != "patching":
        raise InternalsError(f"not a patching results document (analysis={doc.get('analysis')!r})")
    zmin, zmax = _limits(doc)
    return {f"{stem(doc)}_{site}": site_figure(doc, site, zmin, zmax) for site in doc["results"]["summary"]}


def export_figures(doc: dict, out_dir: str | Path, formats=("png", "pdf")) -> list[Path]:
    """Draw the figures of `doc` and write them as out_dir/<stem>.<format>; returns the paths."""
    from ...plots import export_named

    return export_named(make_figures(doc), out_dir, formats)
