"""internals.plots: the paper template, figure functions (shapes, contents) and export.

Export tests need Chromium. Without it they are skipped with the reason shown in the
summary (`-ra`), except under CI or INTERNALS_REQUIRE_CHROME=1, where they run and fail.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import struct
import xml.etree.ElementTree as ET

import numpy as np
import plotly.io as pio
import pytest
import torch

from internals.errors import InternalsError
from internals.plots import (
    DOUBLE_COLUMN_PX,
    OKABE_ITO,
    PNG_SCALE,
    SINGLE_COLUMN_PX,
    TEMPLATE_NAME,
    bars,
    calibration,
    curves,
    export,
    find_chrome,
    heatmap,
    layer_lines,
    paper_layout,
    roc_pr,
    tradeoff,
)

# the package's `export` function shadows its submodule of the same name
export_module = importlib.import_module("internals.plots.export")

CHROME = find_chrome()
CHROME_REQUIRED = os.environ.get("CI") == "true" or os.environ.get("INTERNALS_REQUIRE_CHROME") == "1"
needs_chrome = pytest.mark.skipif(
    CHROME is None and not CHROME_REQUIRED,
    reason="Chromium not installed, PNG/PDF/SVG export NOT TESTED: apt-get install -y chromium "
    "(bash scripts/setup.sh does it)",
)

rng = np.random.default_rng(0)


# --- template -------------------------------------------------------------------------


def test_template_registered_with_paper_style():
    t = pio.templates[TEMPLATE_NAME]
    assert "serif" in t.layout.font.family and "Times" in t.layout.font.family
    assert list(t.layout.colorway) == list(OKABE_ITO)
    assert t.layout.plot_bgcolor == "#FFFFFF"
    assert 11 <= t.layout.font.size <= 14  # 9 pt at 96 px/in is 12 px


def test_paper_layout_widths():
    import plotly.graph_objects as go

    assert paper_layout(go.Figure(), "single").layout.width == SINGLE_COLUMN_PX == 336
    fig = paper_layout(go.Figure(), "double", height=3)
    assert (fig.layout.width, fig.layout.height) == (DOUBLE_COLUMN_PX, 288)
    assert paper_layout(go.Figure(), 5.0).layout.width == 480
    with pytest.raises(InternalsError, match="width must be"):
        paper_layout(go.Figure(), "triple")


# --- figure functions -----------------------------------------------------------------


def _traces(fig, name):
    return [t for t in fig.data if t.name == name]


def test_layer_lines_mean_and_std_band():
    acc = rng.random((30, 5))
    fig = layer_lines({"probe": acc, "other": acc[:, 0]}, band="std", ylabel="accuracy")
    assert fig.layout.template.layout.font.family.startswith("Times")
    line = _traces(fig, "probe")[0]
    np.testing.assert_allclose(line.y, acc.mean(1))
    np.testing.assert_allclose(line.x, np.arange(30))
    upper = _traces(fig, "probe band")[0].y[:30]
    np.testing.assert_allclose(upper, acc.mean(1) + acc.std(1))
    assert not _traces(fig, "other band")  # a [layers] series has no band
    assert fig.layout.yaxis.title.text == "accuracy"


def test_layer_lines_iqr_sem_none_and_log_y():
    v = np.exp(rng.normal(size=(6, 40)))
    fig = layer_lines({"n": v}, band="iqr", log_y=True, layers=np.arange(10, 16))
    np.testing.assert_allclose(_traces(fig, "n")[0].y, np.median(v, axis=1))
    np.testing.assert_allclose(_traces(fig, "n")[0].x, np.arange(10, 16))
    assert fig.layout.yaxis.type == "log"
    sem = layer_lines({"n": v}, band="sem")
    expected = v.mean(1) + v.std(1, ddof=1) / math.sqrt(40)
    np.testing.assert_allclose(_traces(sem, "n band")[0].y[:6], expected)
    assert len(layer_lines({"n": v}, band=None).data) == 1


def test_layer_lines_takes_tensors_and_ignores_nan():
    t = torch.rand(4, 3, dtype=torch.bfloat16)
    fig = layer_lines(t)  # a bare array: one unnamed series, no legend entry
    np.testing.assert_allclose(fig.data[-1].y, t.float().numpy().mean(1), rtol=1e-6)
    v = np.array([[1.0, np.nan], [2.0, 4.0]])
    np.testing.assert_allclose(layer_lines({"a": v}).data[-1].y, [1.0, 3.0])


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: layer_lines({"acc": np.zeros((3, 4, 5))}),
            r"values of 'acc' must be \[layers\] or \[layers, samples\], got shape \(3, 4, 5\)",
        ),
        (lambda: layer_lines({"acc": np.zeros((0,))}), r"got shape \(0,\)"),
        (lambda: layer_lines({}), "series is empty"),
        (lambda: layer_lines({"a": np.zeros(4)}, band="ci"), "band must be one of"),
        (lambda: layer_lines({"a": np.zeros(4)}, layers=[0, 1, 2]), r"layers must be \[layers\] with layers = 4"),
        (lambda: layer_lines({"a": -np.ones(4)}, log_y=True), "log_y needs positive values"),
        (lambda: layer_lines({"a": ["x", "y"]}), "must be a numeric array"),
        (lambda: heatmap(np.zeros(5)), r"matrix must be \[rows, cols\], got shape \(5,\)"),
        (lambda: heatmap(np.zeros((2, 3)), x_ticks=["a", "b"]), "x_ticks must have 3 labels, got 2"),
        (lambda: roc_pr([0, 1, 1], [0.1, 0.9]), r"scores must be \[n\] with n = 3, got shape \(2,\)"),
        (lambda: roc_pr([1, 1, 1], [0.1, 0.2, 0.9]), "only one class"),
        (lambda: roc_pr([0, 2, 1], [0.1, 0.2, 0.9]), "must hold 0/1 labels"),
        (lambda: roc_pr([0, 1], [0.1, np.nan]), "NaN or infinite"),
        (lambda: calibration([0, 1, 1], [0.1, 0.9]), r"scores must be \[n\] with n = 3, got shape \(2,\)"),
        (lambda: calibration([0, 1], [0.1, 1.5]), r"probabilities in \[0, 1\]"),
        (lambda: calibration([0, 1], [0.1, 0.9], n_bins=1), "n_bins must be an integer >= 2"),
        (lambda: tradeoff([1, 2, 3], [1, 2]), r"y must be \[n\] with n = 3, got shape \(2,\)"),
        (lambda: tradeoff([1, 2], [1, 2], labels="ab"), "single string"),
        (lambda: bars(np.zeros((2, 2, 2))), r"values must be \[n\] or \[n, samples\], got shape \(2, 2, 2\)"),
        (lambda: bars(np.zeros(3), labels=["a"]), "labels must have 3 labels, got 1"),
        (lambda: bars(np.zeros(3), errors=np.zeros(4)), r"errors must be \[n\] with n = 3"),
        (
            lambda: curves({"p": (np.arange(3), np.zeros(4))}),
            r"steps of 'p' must be \[n\] with n = 4, got shape \(3,\)",
        ),
        (lambda: curves({"p": np.zeros(4)}), r"must be a pair \(steps"),
    ],
)
def test_wrong_shapes_rejected_with_clear_error(call, message):
    with pytest.raises(InternalsError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_heatmap_signed_is_zero_centred_and_symmetric():
    z = np.array([[-0.5, 2.0], [0.1, np.nan]])
    h = heatmap(z, x_label="head", y_label="layer", signed=True).data[0]
    assert (h.zmid, h.zmin, h.zmax) == (0.0, -2.0, 2.0)
    assert h.colorscale[0][1] != h.colorscale[-1][1]
    assert heatmap(z, signed=True, zmax=5).data[0].zmin == -5
    u = heatmap(np.abs(z)).data[0]
    assert u.zmid is None and u.colorscale[0][1] == "#440154"  # viridis starts dark purple


def test_heatmap_token_ticks_keep_repeats_and_thin_out():
    tokens = ["the", "cat", "the", "cat"]
    fig = heatmap(rng.random((4, 3)), y_ticks=tokens, rows_top_down=True, annotate=".2f")
    assert list(fig.layout.yaxis.ticktext) == tokens and list(fig.layout.yaxis.tickvals) == [0, 1, 2, 3]
    assert fig.layout.yaxis.autorange == "reversed"
    assert fig.data[0].texttemplate == "%{z:.2f}"
    wide = heatmap(rng.random((2, 100)), x_ticks=[f"t{i}" for i in range(100)])
    assert 20 <= len(wide.layout.xaxis.tickvals) <= 30


def test_roc_pr_areas_match_sklearn_example():
    # the example in sklearn's roc_auc_score / average_precision_score docs
    fig = roc_pr([0, 0, 1, 1], {"probe": [0.1, 0.4, 0.35, 0.8]})
    legend = [t.name for t in fig.data if t.showlegend is not False][0]
    assert legend == "probe: AUROC 0.750, AP 0.833"
    roc, pr = fig.data[0], fig.data[1]
    assert roc.xaxis == "x" and pr.xaxis == "x2" and pr.line.shape == "hv"
    assert fig.layout.width == DOUBLE_COLUMN_PX
    y = rng.integers(0, 2, 50)
    two = roc_pr(None, {"a": (y, y + rng.normal(size=50)), "b": (y[:30], rng.normal(size=30))})
    assert sum(1 for t in two.data if t.showlegend is not False and t.name) == 2


def test_calibration_bins_match_sklearn():
    from sklearn.calibration import calibration_curve

    y = rng.integers(0, 2, 200)
    p = np.clip(0.3 * y + rng.random(200) * 0.7, 0, 1)
    fig = calibration(y, {"probe": p}, n_bins=5)
    observed, predicted = calibration_curve(y, p, n_bins=5)
    np.testing.assert_allclose(fig.data[0].y, observed)
    np.testing.assert_allclose(fig.data[0].x, predicted)
    assert fig.data[0].name.startswith("probe: Brier ") and fig.layout.width == SINGLE_COLUMN_PX


def test_tradeoff_labels_baseline_and_added_series():
    fig = tradeoff(
        [0, 10, 30],
        [0.8, 0.78, 0.6],
        labels=[1.0, 0.9, 0.8],
        name="cutoff",
        xlabel="token reduction (%)",
        ylabel="accuracy",
        baseline=0.8,
    )
    assert list(fig.data[0].text) == ["1.0", "0.9", "0.8"]
    assert fig.layout.shapes[0].y0 == 0.8 and not fig.layout.annotations  # the baseline is named in the legend
    assert [t.name for t in fig.data if t.meta == "baseline"] == ["baseline"]
    tradeoff([0, 20], [0.8, 0.7], name="random", fig=fig)
    series = [t for t in fig.data if t.meta == "tradeoff"]
    assert series[1].line.color == OKABE_ITO[1] and series[0].line.color == OKABE_ITO[0]


def test_tradeoff_point_labels_never_overlap():
    """Points on one spot get one label above and one below; the rest leave the plot, not the hover text."""
    fig = tradeoff([0, 1], [0, 1], labels=["a", "b"], width="double")
    tradeoff([0.5, 0.5, 0.5], [0.5, 0.5, 0.5], labels=["x", "y", "z"], fig=fig)
    crowded = [t for t in fig.data if t.meta == "tradeoff"][1]
    assert list(crowded.text) == ["x", "y", ""] and list(crowded.hovertext) == ["x", "y", "z"]
    assert list(crowded.textposition) == ["top center", "bottom center", "top center"]
    assert list(fig.data[0].text) == ["a", "b"]  # apart: every label stays


def test_bars_mean_with_std_errors_and_labels():
    v = rng.normal(size=(5, 8))
    fig = bars(v, labels=[f"L{i}" for i in range(5)], ylabel="Δ logit")
    np.testing.assert_allclose(fig.data[0].y, v.mean(1))
    np.testing.assert_allclose(fig.data[0].error_y.array, v.std(1))
    assert list(fig.layout.xaxis.ticktext) == [f"L{i}" for i in range(5)]
    h = bars(np.arange(3.0), errors=[0.1, 0.2, 0.3], horizontal=True)
    assert h.data[0].orientation == "h"


def test_curves_per_series_steps():
    steps = np.array([1, 10, 100])
    fig = curves(
        {"base": (steps, [30.0, 20.0, 15.0]), "seeds": (steps, rng.random((3, 4)) + 1)}, log_x=True, ylabel="perplexity"
    )
    assert fig.layout.xaxis.type == "log"
    np.testing.assert_allclose(_traces(fig, "base")[0].x, steps)
    assert _traces(fig, "seeds band")


# --- export ---------------------------------------------------------------------------


def test_export_without_chromium_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(export_module, "find_chrome", lambda: None)
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    fig = layer_lines({"a": np.arange(3.0)})
    with pytest.raises(InternalsError, match=r"needs Chromium: run `apt-get install -y chromium`"):
        export(fig, tmp_path / "f", formats=("png",))
    # HTML needs no browser
    assert export(fig, tmp_path / "f", formats="html")[0].read_text().count("plotly-graph-div") >= 1


def test_export_bad_browser_path_named(monkeypatch, tmp_path):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-chrome"))
    with pytest.raises(InternalsError, match="BROWSER_PATH="):
        export(layer_lines({"a": np.arange(3.0)}), tmp_path / "f", formats="pdf")


def test_export_argument_checks(tmp_path):
    fig = layer_lines({"a": np.arange(3.0)})
    with pytest.raises(InternalsError, match="2 figures but 1 path stems"):
        export([fig, fig], [tmp_path / "a"])
    with pytest.raises(InternalsError, match="formats must be"):
        export(fig, tmp_path / "a", formats=("png", "jpeg"))
    with pytest.raises(InternalsError, match="plotly Figures"):
        export(np.zeros(3), tmp_path / "a")


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _pdf_page_pt(path):
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:]
    box = re.search(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    x0, y0, x1, y1 = map(float, box.groups())
    return x1 - x0, y1 - y0


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Three figures x four formats in one export call, counting browser starts."""
    import kaleido

    out = tmp_path_factory.mktemp("figures")
    figs = [
        layer_lines({"probe": rng.random((8, 4))}, ylabel="accuracy", height=2.5),  # 336 x 240 px
        heatmap(rng.normal(size=(6, 9)), x_label="head", y_label="layer", signed=True, width="double"),
        roc_pr(rng.integers(0, 2, 40), rng.random(40)),
    ]
    starts = []
    with pytest.MonkeyPatch.context() as mp:
        original = kaleido.Kaleido.open

        async def counting_open(self, *args, **kwargs):
            starts.append(1)
            return await original(self, *args, **kwargs)

        mp.setattr(kaleido.Kaleido, "open", counting_open)
        paths = export(
            figs, [out / "lines", out / "sub" / "heat", out / "roc.png"], formats=("png", "pdf", "svg", "html")
        )
    return figs, paths, len(starts)


@needs_chrome
def test_batch_export_starts_browser_once(exported):
    figs, paths, starts = exported
    assert starts == 1
    assert [p.name for p in paths[:4]] == ["lines.png", "lines.pdf", "lines.svg", "lines.html"]
    assert paths[4].parent.name == "sub" and paths[8].name == "roc.png"
    assert all(p.stat().st_size > 1000 for p in paths)


@needs_chrome
def test_exported_png_has_pixel_size_width_times_scale(exported):
    figs, paths, _ = exported
    for fig, png in zip(figs, paths[0::4]):
        w, h = _png_size(png)
        assert abs(w - fig.layout.width * PNG_SCALE) < 1 and abs(h - fig.layout.height * PNG_SCALE) < 1
    assert _png_size(paths[0]) == (1050, 750)  # 3.5 x 2.5 in at 300 dpi


@needs_chrome
def test_exported_pdf_page_is_print_size(exported):
    figs, paths, _ = exported
    for fig, pdf in zip(figs, paths[1::4]):
        w, h = _pdf_page_pt(pdf)
        assert abs(w - fig.layout.width * 0.75) < 1.5 and abs(h - fig.layout.height * 0.75) < 1.5
    assert abs(_pdf_page_pt(paths[1])[0] - 3.5 * 72) < 1.5


@needs_chrome
def test_exported_svg_parses_with_size(exported):
    figs, paths, _ = exported
    for fig, svg in zip(figs, paths[2::4]):
        root = ET.parse(svg).getroot()
        assert root.tag.endswith("svg")
        assert (float(root.get("width")), float(root.get("height"))) == (fig.layout.width, fig.layout.height)
        assert "Times New Roman" in svg.read_text()


@needs_chrome
def test_exported_html_is_self_contained(exported):
    _, paths, _ = exported
    for html in paths[3::4]:
        text = html.read_text()
        assert 'class="plotly-graph-div"' in text and "Plotly.newPlot" in text
        assert not re.search(r'<script[^>]+src="https?://', text)  # no CDN: works offline


def test_a_kaleido_page_load_race_is_retried_and_other_errors_are_not(monkeypatch):
    import kaleido

    from internals.errors import InternalsError

    export_module = importlib.import_module("internals.plots.export")  # the module, not the function it exports
    calls = []

    def racy(specs, **kw):
        calls.append(specs)
        if len(calls) == 1:
            raise RuntimeError("ReferenceError: kaleido_scopes is not defined\n    at <anonymous>:1:26")

    monkeypatch.setattr(export_module, "require_chrome", lambda: "/usr/bin/chromium")
    monkeypatch.setattr(kaleido, "write_fig_from_object_sync", racy)
    export_module._render([{"fig": {}}])
    assert len(calls) == 2

    def broken(specs, **kw):
        calls.append(specs)
        raise RuntimeError("TypeError: bad figure")

    calls.clear()
    monkeypatch.setattr(kaleido, "write_fig_from_object_sync", broken)
    with pytest.raises(InternalsError, match="figure export failed: TypeError: bad figure"):
        export_module._render([{"fig": {}}])
    assert len(calls) == 1
