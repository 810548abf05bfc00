"""One self-contained HTML page: plotly.js inlined once, each figure a plotly div, tables, manifest.

Nothing is loaded from the network: the page opens offline and from a file:// URL.
"""

from __future__ import annotations

import html
import json
import math
import re

from .section import Section, Table

CSS = """
body { font-family: "Source Serif 4", Georgia, "Times New Roman", serif; margin: 2rem auto; max-width: 1500px;
       padding: 0 1.5rem; color: #111; line-height: 1.45; }
h1 { font-size: 1.7rem; margin-bottom: .2rem; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2rem; margin-top: 2.5rem; }
.meta, figcaption, .note { color: #555; font-size: .9rem; }
nav ol { columns: 2; } .figures { display: flex; flex-wrap: wrap; gap: 1.2rem; align-items: flex-start; }
figure { margin: 0; border: 1px solid #e4e4e4; padding: .4rem; } figcaption { max-width: 680px; margin-top: .3rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .88rem; }
th, td { border: 1px solid #ddd; padding: .2rem .55rem; text-align: left; } th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } caption { text-align: left; font-weight: bold; padding: .2rem 0; }
pre { background: #f7f7f7; padding: .8rem; overflow-x: auto; font-size: .8rem; max-height: 36rem; }
.error { border-left: 4px solid #d55e00; background: #fff4ee; padding: .6rem 1rem; white-space: pre-wrap; }
"""


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        return f"{value:.4g}"
    return html.escape(str(value))


def _td(value) -> str:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f'<td class="num">{_cell(value)}</td>' if numeric else f"<td>{_cell(value)}</td>"


def table_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(_td(v) for v in row) + "</tr>" for row in table.rows)
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return (
        f"<table><caption>{html.escape(table.title)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>{note}"
    )


def figure_html(fig, div_id: str, caption: str) -> str:
    """One figure as a plotly div (plotly.js is inlined once by `page`) with its caption."""
    import plotly.io as pio

    div = pio.to_html(
        fig,
        full_html=False,
        include_plotlyjs=False,
        include_mathjax=False,
        div_id=div_id,
        config=dict(displayModeBar=False, displaylogo=False),
    )  # no mode bar over titles and legends
    return f'<figure class="report-figure">{div}<figcaption>{html.escape(caption)}</figcaption></figure>'


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"


def section_html(section: Section, index: int) -> str:
    parts = [f'<section id="{slug(section.title)}"><h2>{index}. {html.escape(section.title)}</h2>']
    if section.wall_s is not None:
        cpu = f" ({section.cpu_s:.1f} s CPU)" if section.cpu_s is not None else ""
        parts.append(f'<p class="meta">ran in {section.wall_s:.1f} s{cpu}</p>')
    if section.error:
        parts.append(f'<div class="error">This section failed: {html.escape(section.error)}</div>')
    if section.text:
        parts.append(f"<p>{html.escape(section.text)}</p>")
    if section.figures:
        figs = [
            figure_html(fig, f"fig-{index}-{i}", caption) for i, (caption, fig) in enumerate(section.figures.items())
        ]
        parts.append(f'<div class="figures">{"".join(figs)}</div>')
    parts.extend(table_html(t) for t in section.tables)
    if section.manifest:
        parts.append(f"<details><summary>What was run</summary><pre>{json_block(section.manifest)}</pre></details>")
    parts.append("</section>")
    return "\n".join(parts)


def json_block(obj) -> str:
    """`obj` as indented JSON, escaped for a <pre>."""
    return html.escape(json.dumps(obj, indent=1, default=str))


def render_page(title: str, subtitle: str, sections: list[Section], manifest: dict) -> str:
    """The whole page as a string."""
    toc = "".join(
        f'<li><a href="#{slug(s.title)}">{html.escape(s.title)}</a>{" (failed)" if s.error else ""}</li>'
        for s in sections
    )
    body = "\n".join(section_html(s, i + 1) for i, s in enumerate(sections))
    body += f"""
<section id="manifest"><h2>Manifest</h2>
<p>The model, settings, package versions and seed of this report; each section lists its own data above.</p>
<pre>{json_block(manifest)}</pre></section>"""
    return page(title, subtitle, toc, body)


def page(title: str, subtitle: str, toc: str, body: str, css: str = "") -> str:
    """A self-contained page: the style, plotly.js inlined once, a header, `toc` (<li> items) and `body`."""
    from plotly.offline import get_plotlyjs

    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{CSS}{css}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head><body>
<header><h1>{html.escape(title)}</h1><p class="meta">{html.escape(subtitle)}</p></header>
<nav><ol>{toc}</ol></nav>
{body}
</body></html>
"""
