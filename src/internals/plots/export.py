"""Writing figures to PNG, PDF, SVG (kaleido + a local Chromium) and interactive HTML.

All static images of one `export` call are rendered in one browser session, so a command
that writes many figures starts Chromium once. Nothing is fetched from the network:
plotly.js comes from the installed plotly package and MathJax is off (so LaTeX in labels
is not typeset; write labels in plain text or Unicode).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go

from internals.errors import InternalsError
from internals.plots.template import DEFAULT_HEIGHT_IN, PX_PER_INCH, SINGLE_COLUMN_PX

FORMATS = ("png", "pdf", "svg", "html")
"""The file formats `export` writes (its `formats` argument)."""
IMAGE_FORMATS = ("png", "pdf", "svg")
PNG_DPI = 300
PNG_SCALE = PNG_DPI / PX_PER_INCH  # layout px are 1/96 in, so 300 dpi is scale 3.125
"""PNG pixels per layout pixel: 300 dpi at 96 layout pixels per inch."""
INSTALL_HINT = (
    "run `apt-get install -y chromium` (Debian; Ubuntu: chromium-browser) or set BROWSER_PATH to a Chrome executable"
)
_CHROME_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chrome() -> str | None:
    """Path of the Chrome/Chromium kaleido will use, or None.

    Order: $BROWSER_PATH, then what choreographer (kaleido's browser driver) finds: a copy
    it downloaded, Chrome/Chromium on PATH, the usual install paths (/usr/bin/chromium).
    """
    env = os.environ.get("BROWSER_PATH")
    if env:
        return env if os.path.isfile(env) and os.access(env, os.X_OK) else None
    path = None
    try:
        from choreographer.browsers.chromium import Chromium

        path = Chromium.find_browser(skip_local=False)
    except Exception:  # noqa: BLE001 - a private API of a dependency; fall back to PATH
        path = None
    path = path or next((p for n in _CHROME_NAMES if (p := shutil.which(n))), None)
    return path if path and os.path.isfile(path) else None


def require_chrome() -> str:
    """`find_chrome()`, or an InternalsError that says how to install it."""
    path = find_chrome()
    if path:
        return path
    env = os.environ.get("BROWSER_PATH")
    if env:
        raise InternalsError(
            f"BROWSER_PATH={env!r} is not an executable Chrome/Chromium: fix or unset it; "
            "figure export needs Chromium: run `apt-get install -y chromium` (Debian)"
        )
    raise InternalsError(f"figure export needs Chromium: {INSTALL_HINT} (HTML export works without it)")


def _as_list(x, kinds: tuple[type, ...]) -> list:
    return [x] if isinstance(x, kinds) else list(x)


def _output_path(stem: str | os.PathLike, fmt: str) -> Path:
    stem = Path(stem)
    if stem.suffix.lstrip(".").lower() in FORMATS:  # "fig.png" is taken as stem "fig"
        stem = stem.with_suffix("")
    return stem.parent / f"{stem.name}.{fmt}"


def _coerce_figure(fig) -> go.Figure:
    if isinstance(fig, go.Figure):
        return fig
    if isinstance(fig, dict):
        return go.Figure(fig)
    raise InternalsError(f"export takes plotly Figures (or figure dicts), got {type(fig).__name__}")


def _write_html(fig: go.Figure, path: Path, include_plotlyjs) -> None:
    fig.write_html(
        path,
        include_plotlyjs=include_plotlyjs,
        include_mathjax=False,
        full_html=True,
        config=dict(displayModeBar=False, displaylogo=False),
    )  # no mode bar over titles and legends


RENDER_ATTEMPTS = 3  # kaleido page-load races retried (see _render)


def _render(specs: list[dict]) -> None:
    """All image specs in one kaleido session (one browser start)."""
    import kaleido
    from kaleido.errors import BrowserFailedError, ChromeNotFoundError

    chrome = require_chrome()
    try:
        for attempt in range(RENDER_ATTEMPTS):
            try:
                kaleido.write_fig_from_object_sync(specs, kopts=dict(mathjax=False, path=chrome), cancel_on_error=True)
                break
            except Exception as e:  # noqa: BLE001 - see below
                # On a loaded machine kaleido sometimes runs its script before its own page has
                # loaded ("kaleido_scopes is not defined"): a race, not a bad figure. Writing is
                # idempotent, so start again; any other error goes out at once.
                if "is not defined" not in str(e) or attempt == RENDER_ATTEMPTS - 1:
                    raise
    except ChromeNotFoundError:
        raise InternalsError(f"figure export could not find Chromium at {chrome}: {INSTALL_HINT}") from None
    except BrowserFailedError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InternalsError(
            f"Chromium at {chrome} failed to start ({first}); reinstall it: `apt-get install -y --reinstall chromium`"
        ) from None
    except Exception as e:  # noqa: BLE001 - kaleido's render errors carry the JS message
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InternalsError(f"figure export failed: {first}") from None


def export(
    figs,
    stems,
    formats: str | Sequence[str] = ("png", "pdf"),
    *,
    scale: float = PNG_SCALE,
    include_plotlyjs: bool | str = True,
) -> list[Path]:
    """Write each figure in each format; returns the paths written, figure by figure.

    figs: a Figure or a sequence of them; stems: a path stem (no extension) or one per
        figure; "out/fig" with formats ("png", "pdf") writes out/fig.png and out/fig.pdf.
        Missing folders are created. A stem ending in a format suffix loses it.
    formats: any of "png", "pdf", "svg", "html".
    scale: PNG pixels per layout pixel (default 300 dpi); PDF and SVG are vector and keep
        the figure's print size (`paper_layout`): a single-column figure is 3.5 in wide.
    include_plotlyjs: for HTML; True inlines plotly.js (a self-contained ~5 MB file),
        "directory" writes plotly.min.js beside it once. Never a CDN.
    Static images need Chromium (see `require_chrome`); all are rendered with one start.
    """
    fig_list = [_coerce_figure(f) for f in _as_list(figs, (go.Figure, dict))]
    stem_list = _as_list(stems, (str, os.PathLike))
    if len(fig_list) != len(stem_list):
        raise InternalsError(f"export got {len(fig_list)} figures but {len(stem_list)} path stems")
    if not fig_list:
        raise InternalsError("export got no figures")
    fmts = [formats] if isinstance(formats, str) else list(formats)
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts or len(set(fmts)) != len(fmts):
        raise InternalsError(f"formats must be distinct values from {', '.join(FORMATS)}, got {fmts}")
    if not (isinstance(scale, (int, float)) and 0 < scale <= 20):
        raise InternalsError(f"scale must be a number in (0, 20], got {scale!r}")
    if include_plotlyjs not in (True, "directory"):
        raise InternalsError(f'include_plotlyjs must be True or "directory" (no CDN offline), got {include_plotlyjs!r}')

    written: list[Path] = []
    specs: list[dict] = []
    default_h = round(DEFAULT_HEIGHT_IN * PX_PER_INCH)
    for fig, stem in zip(fig_list, stem_list):
        for fmt in fmts:
            path = _output_path(stem, fmt)
            path.parent.mkdir(parents=True, exist_ok=True)
            written.append(path)
            if fmt == "html":
                _write_html(fig, path, include_plotlyjs)
                continue
            opts = dict(
                format=fmt,
                width=fig.layout.width or SINGLE_COLUMN_PX,
                height=fig.layout.height or default_h,
                scale=scale if fmt == "png" else 1,
            )
            path.unlink(missing_ok=True)  # so a render that writes nothing cannot pass unseen
            specs.append(dict(fig=fig.to_dict(), path=path, opts=opts))
    if specs:
        _render(specs)
    missing = [str(p) for p in written if not p.is_file()]
    if missing:
        raise InternalsError(f"figure export wrote nothing to {missing[0]} ({len(missing)} missing)")
    return written


def export_named(
    figs: dict, out_dir: str | os.PathLike, formats: str | Sequence[str] = ("png", "pdf"), **kwargs
) -> list[Path]:
    """`export` for {stem: Figure}: writes out_dir/<stem>.<format> for each; returns the paths."""
    out = Path(out_dir)
    return export(list(figs.values()), [out / stem for stem in figs], formats, **kwargs)
