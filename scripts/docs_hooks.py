"""mkdocs hooks (mkdocs.yml `hooks:`): keep the built site offline, and let the pages link the
repository the way they do on GitHub.

The pages under docs/ link the repository's figures as ``../assets/x.png`` (right on GitHub):
the site copies assets/ and points those links at its copy. A link to any other file outside
docs/ (``../benchmarks/README.md``) has no page on the site: it becomes the file's repository
path in code, so nothing dangles.

nbconvert's template loads MathJax from cdnjs on every notebook page, and plotly's notebook
renderer adds a MathJax <script> from a CDN to every figure; none of our pages uses LaTeX, so
both are removed. Every page is then checked: a <script src>, <link href>, ES-module import or
CSS @import that points outside the site fails the build (a warning, and the build is strict).
"""

from __future__ import annotations

import logging
import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.offline")

NBCONVERT_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
CDN_MATHJAX = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*mathjax[^\"]*\"[^>]*>\s*</script>", re.I)
# mermaid is imported from cdnjs only when a page has a mermaid diagram (ours have none): drop the loader
MERMAID_LOADER = re.compile(r"<script type=\"module\">(?:(?!</script>).)*?mermaid(?:(?!</script>).)*?</script>", re.S)
# progress bars are ipywidgets in a kernel that has them; their renderer would come from unpkg, so the
# site shows none: the widget outputs, the saved widget state and the loader go
WIDGET_OUTPUT = re.compile(
    r"<div class=\"jp-OutputArea-child\">\s*<div class=\"jp-OutputPrompt jp-OutputArea-prompt\"></div>\s*"
    r"<div class=\"jupyter-widgets jp-OutputArea-output\"[^>]*>\s*(?:<script type=\"text/javascript\">[^<]*</script>\s*)?"
    r"<script type=\"application/vnd\.jupyter\.widget-view\+json\">[^<]*</script>\s*</div>\s*</div>"
)
WIDGET_LOADER = re.compile(r"<script>\s*\(function\(\) \{\s*function addWidgetsRenderer\(\).*?</script>", re.S)
WIDGET_STATE = re.compile(r"<script type=\"application/vnd\.jupyter\.widget-state\+json\">.*?</script>", re.S)
EXTERNAL = re.compile(
    r"<script[^>]*\bsrc=[\"'](?:https?:)?//[^\"']+"
    r"|<link[^>]*\bhref=[\"'](?:https?:)?//[^\"']+[^>]*>"
    r"|\bimport\s*\(?\s*[\"'](?:https?:)?//[^\"']+"
    r"|@import\s+(?:url\()?[\"']?(?:https?:)?//[^\"')]+"
    r"|\bsrc\s*=\s*[\"']https?://[^\"']+"
    r"|[\"']https?://[^\"'\s]+/[^\"'/\s]+\.m?js[\"']",  # a script URL built in javascript
    re.I,
)


LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
ASSETS = "assets"


def _repo(config) -> Path:
    return Path(config["docs_dir"]).resolve().parent


def on_files(files, config):
    """The repository's figures (assets/**, another model's under assets/<model>/) become site files under assets/."""
    repo = _repo(config)
    for path in sorted((repo / ASSETS).rglob("*")):
        name = path.relative_to(repo).as_posix()
        if path.is_file() and files.get_file_from_path(name) is None:
            files.append(File(name, str(repo), config["site_dir"], config["use_directory_urls"]))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Links that leave docs/: assets/ to the site's copy, anything else to its repository path in code."""
    page_dir = posixpath.dirname(page.file.src_uri)
    depth = len([p for p in page_dir.split("/") if p])

    def fix(m: re.Match) -> str:
        bang, text, target = m.groups()
        if "://" in target or target.startswith(("#", "/", "mailto:")):
            return m.group(0)
        inside = posixpath.normpath(posixpath.join(page_dir, target.split("#")[0]))
        if not inside.startswith("../"):
            return m.group(0)
        repo_path = inside[3:]
        if repo_path.startswith(ASSETS + "/"):
            return f"{bang}[{text}]({'../' * depth}{repo_path})"
        return f"{text} (`{repo_path}`)" if text.strip("`") != repo_path else f"`{repo_path}`"

    return LINK.sub(fix, markdown)


def on_page_content(html: str, page, config, files) -> str:
    html = NBCONVERT_MATHJAX.sub("", html)
    html = CDN_MATHJAX.sub("", html)
    html = MERMAID_LOADER.sub("", html)
    html = WIDGET_OUTPUT.sub("", html)
    html = WIDGET_LOADER.sub("", html)
    return WIDGET_STATE.sub("", html)


def on_post_page(output: str, page, config) -> str:
    for hit in sorted({m.group(0)[:160] for m in EXTERNAL.finditer(output)}):
        if 'rel="canonical"' in hit:  # a link, not a fetch
            continue
        log.warning("%s loads from the internet: %s", page.file.src_path, hit)
    return output
