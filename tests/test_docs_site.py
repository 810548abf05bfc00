"""The docs site builds and renders in a real browser (issue 22 part 5).

`scripts/docs.sh` (what `make docs` runs: mkdocs build --strict) builds the site into a temporary
directory with INTERNALS_TUTORIAL_SIZE=small, the committed data slices, one thread and a fresh
cache that shares only the converted embedded model; mkdocs-jupyter executes the six tutorials
(a cell that raises fails the build). Headless Chromium then opens the front page and the capture
tutorial: every plotly figure is drawn (its div gets plotly's classes and SVG), and the visible
text holds no error, traceback, dropped-mimetype message or tqdm "IProgress" warning. Skipped only
when chromium is absent (scripts/setup.sh installs it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
TUTORIALS = sorted(p.stem for p in (ROOT / "docs" / "tutorials").glob("*.py"))
CHROMIUM = next((c for c in (shutil.which("chromium"), "/usr/bin/chromium") if c and Path(c).exists()), None)
BAD_TEXT = re.compile(r"Traceback|not able to be represented|IProgress|\b\w*Error\b|\bError\b")

pytestmark = pytest.mark.slow


class _Page(HTMLParser):
    """Visible text (scripts and styles left out), plotly figure divs and their SVG roots."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.figures: list[set[str]] = []  # the classes of each plotly figure div
        self.main_svgs = 0
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        classes = set((dict(attrs).get("class") or "").split())
        if tag in ("script", "style"):
            self._skip += 1
        if "plotly-graph-div" in classes:
            self.figures.append(classes)
        if tag == "svg" and "main-svg" in classes:
            self.main_svgs += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@pytest.fixture(scope="module")
def site(tokenizer_dir, tmp_path_factory) -> Path:
    """The site built as `make docs DOCS_SIZE=small` would, on the test data slices."""
    from internals.paths import cache_dir

    tmp = tmp_path_factory.mktemp("docs")
    cache = tmp / "cache"
    cache.mkdir()
    (cache / "models").symlink_to(cache_dir("models"), target_is_directory=True)
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "INTERNALS_TUTORIAL_SIZE": "small",
        "INTERNALS_CACHE": str(cache),
        "INTERNALS_BIGBENCH_DIR": str(DATA / "bigbench"),
        "INTERNALS_FANOUTQA_FILE": str(DATA / "fanoutqa" / "fanout-final-dev.json"),
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    out = tmp / "site"
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "docs.sh"), str(out)], env=env, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, f"docs build failed:\n{(done.stdout + done.stderr)[-6000:]}"
    return out


def _browse(page: Path, tmp_path: Path) -> str:
    """The DOM of a page after Chromium ran its scripts (15 s of virtual time)."""
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0 and "<body" in done.stdout, done.stderr[-2000:]
    return done.stdout


def test_every_tutorial_page_holds_its_outputs(site):
    assert TUTORIALS == [
        f"0{i}_{n}" for i, n in enumerate(["capture", "factcheckmate", "cutoff", "voids", "depth", "patching"], 1)
    ]
    for name in TUTORIALS:
        html = (site / "tutorials" / name / "index.html").read_text()
        page = _parse(html)
        text = " ".join(page.text)
        assert page.figures, f"{name}: no plotly figure on the page"
        assert "Plotly.newPlot" in html, f"{name}: figures without plotly.js calls"
        assert not BAD_TEXT.search(text), f"{name}: {BAD_TEXT.search(text).group(0)!r} on the page"
        assert "widget-view+json" not in html and "INTERNALS_TUTORIAL_SIZE" not in text, name
        assert (site / "tutorials" / name / f"{name}.py").is_file(), f"{name}: source not downloadable"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/setup.sh installs it)")
def test_front_page_and_a_tutorial_render_in_chromium(site, tmp_path):
    front = _parse(_browse(site / "index.html", tmp_path))
    text = " ".join(front.text)
    assert "internals" in text and "Getting started" in text and "Tutorials" in text
    assert not BAD_TEXT.search(text), BAD_TEXT.search(text).group(0)

    tutorial = _parse(_browse(site / "tutorials" / "01_capture" / "index.html", tmp_path))
    text = " ".join(tutorial.text)
    assert len(tutorial.figures) >= 2, "the capture tutorial draws two figures"
    undrawn = [c for c in tutorial.figures if "js-plotly-plot" not in c]
    assert undrawn == [], f"{len(undrawn)} of {len(tutorial.figures)} figures not drawn by plotly.js"
    assert tutorial.main_svgs >= len(tutorial.figures), "a figure without its SVG"
    assert not BAD_TEXT.search(text), BAD_TEXT.search(text).group(0)
    assert "resid_post" in text and "Store(" in text  # the cells' printed outputs are there


def test_every_image_on_every_page_is_in_the_site(site):
    """A figure linked from docs/ (../assets/x.png, or another model's ../assets/<model>/x.png) is
    copied into the site: no page shows a broken image."""
    from urllib.parse import unquote, urljoin

    missing, seen = [], 0
    for page in site.rglob("*.html"):
        for src in re.findall(r'<img[^>]+src="([^"]+)"', page.read_text()):
            if "://" in src or src.startswith("data:"):
                continue
            seen += 1
            target = Path(unquote(urljoin(page.as_uri(), src.split("#")[0]).removeprefix("file://")))
            if not target.is_file():
                missing.append(f"{page.relative_to(site)}: {src}")
    assert seen > 20, f"only {seen} images found: the site's figure links changed"
    assert not missing, "broken images:\n" + "\n".join(missing[:20])
