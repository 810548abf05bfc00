"""`internals report`: the page is built by the CLI on a tiny model and opened in headless Chromium;
every figure must have rendered (plot SVG with drawn traces) and the screenshot must not be blank."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from internals.cli import main
from internals.plots import find_chrome
from internals.report import SECTIONS, ReportSettings, Section, Table, build_report

pytestmark = pytest.mark.usefixtures("data_env")  # the committed slices, a fresh cache

CHROME = find_chrome()
needs_chrome = pytest.mark.skipif(CHROME is None, reason="Chromium not installed: apt-get install -y chromium")
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


def _chrome(page: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """Chromium on a file:// URL with its own profile dir; plots render within the virtual time budget."""
    cmd = [
        CHROME,
        *CHROME_FLAGS,
        f"--user-data-dir={tmp / 'profile'}",
        "--virtual-time-budget=15000",
        *args,
        page.resolve().as_uri(),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _png_pixels(path: Path) -> tuple[int, int, bytes]:
    """(width, height, raw RGB(A) rows) of an 8-bit non-interlaced PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and interlace == 0 and colour in (2, 6), header
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    out, prev = bytearray(), bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):  # undo the PNG filter of this scanline
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += line
        prev = line
    return width, height, bytes(out)


def _figures_in_dom(dom: str) -> dict[str, dict]:
    """figure div id -> what Plotly drew inside it."""
    found = {}
    for div_id, chunk in re.findall(r'<div id="(fig-\d+-\d+)"(.*?)<figcaption', dom, flags=re.S):
        traces = re.findall(r'<g class="(trace [^"]*)"', chunk)
        found[div_id] = {
            "main_svg": chunk.count('class="main-svg"'),
            "traces": traces,
            "paths": len(re.findall(r'<path[^>]* d="M[^"]{8,}', chunk)),  # drawn lines, areas, bars
            "heatmap_images": len(re.findall(r'<g class="hm"><image[^>]*href="data:image/png;base64,', chunk)),
        }
    return found


def _gold_parity(answer, golds, rule="substring") -> bool:
    """Stands in for the lenient match: a random tiny model answers nothing right, so FactCheckmate's
    probes would have one class; this labels by the gold's length instead (both classes, fixed)."""
    return len(golds[0]) % 2 == 0


@pytest.fixture(scope="module")
def cli_report(tiny_dirs, tmp_path_factory):
    """The report of the tiny llama built through the CLI (slices of the real datasets, fresh cache)."""
    from _data_env import BIGBENCH_SLICES, FANOUTQA_SLICE

    out = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTERNALS_BIGBENCH_DIR", str(BIGBENCH_SLICES))
        mp.setenv("INTERNALS_FANOUTQA_FILE", str(FANOUTQA_SLICE))
        mp.setenv("INTERNALS_CACHE", str(tmp_path_factory.mktemp("report-cache")))
        mp.setattr("internals.analyses.factcheckmate.labels.match", _gold_parity)
        rc = main(
            [
                "report",
                "--model",
                str(tiny_dirs["llama"]),
                "--out",
                str(out),
                "--prompts",
                "4",
                "--max-tokens",
                "12",
                "--device",
                "cpu",
                "--threads",
                "1",
                "--quiet",
            ]
        )
    return rc, out


def test_cli_writes_page_and_json_with_manifest(cli_report, capsys):
    rc, out = cli_report
    assert rc == 0
    doc = json.loads((out / "report.json").read_text())
    m = doc["manifest"]
    assert m["sections"] == list(SECTIONS) and m["settings"]["prompts"] == 4 and m["seed"] == 0
    assert m["model"]["n_layers"] == 3 and len(m["model"]["fingerprint"]) == 16
    assert m["versions"]["torch"] and m["versions"]["plotly"] and m["torch_threads"] == 1
    cap = doc["sections"]["capture"]
    assert cap["error"] is None and cap["manifest"]["dataset"]["name"] == "qa_wikidata"
    assert all(s["error"] is None for s in doc["sections"].values()), {
        k: s["error"] for k, s in doc["sections"].items()
    }
    assert cap["manifest"]["dataset"]["n_rows"] == 4 and len(cap["manifest"]["dataset"]["fingerprint"]) == 16
    backends = next(t for t in cap["tables"] if t["title"] == "Backend agreement")
    assert [r[0] for r in backends["rows"]] == ["hooks", "transformer_lens", "nnsight"]
    assert all(r[2] is not None and r[2] < 1e-4 for r in backends["rows"])  # relative max difference
    page = (out / "index.html").read_text()
    from plotly.offline import get_plotlyjs

    assert page.count(get_plotlyjs()[:500]) == 1  # plotly.js inlined once
    assert not re.findall(r"<script[^>]*\ssrc=", page)  # no script is fetched


@needs_chrome
def test_every_figure_renders_in_chromium(cli_report, tmp_path):
    _, out = cli_report
    page = out / "index.html"
    doc = json.loads((out / "report.json").read_text())
    n_figures = sum(len(s["figures"]) for s in doc["sections"].values())
    dom = _chrome(page, tmp_path, "--dump-dom").stdout
    figures = _figures_in_dom(dom)
    assert n_figures >= 2 and len(figures) == n_figures, (n_figures, list(figures))
    for div_id, fig in figures.items():
        assert fig["main_svg"] >= 1, f"{div_id}: no plot svg"
        assert fig["traces"] or fig["heatmap_images"], f"{div_id}: no traces drawn"
        assert fig["paths"] >= 1 or fig["heatmap_images"] >= 1, f"{div_id}: traces are empty"


@needs_chrome
def test_screenshot_is_not_blank(cli_report, tmp_path):
    _, out = cli_report
    shot = tmp_path / "shot.png"
    _chrome(out / "index.html", tmp_path, f"--screenshot={shot}", "--window-size=1200,1600")
    width, height, pixels = _png_pixels(shot)
    assert (width, height) == (1200, 1600)
    bpp = len(pixels) // (width * height)
    colours = {pixels[i : i + 3] for i in range(0, len(pixels), bpp * 7)}
    dark = sum(1 for i in range(0, len(pixels), bpp) if pixels[i] < 128) / (width * height)
    assert len(colours) > 100 and 0.001 < dark < 0.5, (len(colours), dark)


def test_failed_section_is_shown_and_cli_exits_1(tiny_llama, tmp_path, monkeypatch, capsys):
    import sys
    import types

    broken = types.ModuleType("broken_section")

    def section(lm, settings):
        raise RuntimeError("boom in a section")

    broken.section = section
    monkeypatch.setitem(sys.modules, "broken_section", broken)
    monkeypatch.setitem(SECTIONS, "broken", "broken_section")
    report = build_report(
        lm=tiny_llama, out=tmp_path, settings=ReportSettings(prompts=2, max_tokens=8, progress=False), only=["broken"]
    )
    assert report.failed == ["broken"]
    page = report.path.read_text()
    assert "This section failed: RuntimeError: boom in a section" in page
    monkeypatch.setattr("internals.models.load_model", lambda *a, **k: tiny_llama)
    assert main(["report", "--out", str(tmp_path), "--sections", "broken", "--quiet"]) == 1
    assert "1 section(s) failed (broken)" in capsys.readouterr().err


def test_bad_input_is_one_line(capsys, tmp_path):
    assert main(["report", "--out", str(tmp_path), "--sections", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("internals: error: unknown report section 'nope'") and "\n" not in err
    with pytest.raises(Exception, match="prompts must be a positive integer"):
        ReportSettings(prompts=0)
    with pytest.raises(Exception, match="row 0 has 1 cells for 2 columns"):
        Table("t", ["a", "b"], [[1]])
    assert Section("x").figures == {}
