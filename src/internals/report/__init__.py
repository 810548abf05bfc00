"""One HTML page across the analyses: `internals report --model ... --out DIR`.

    from internals.report import ReportSettings, build_report
    report = build_report(None, "report", ReportSettings(quick=True))   # report.path: report/index.html

Each analysis contributes a section (`registry.SECTIONS`): a function
`section(lm, settings) -> Section(title, figures, tables, manifest)` that calls the analysis's
public API with small settings. The page inlines plotly.js once and every figure as a plotly div.

Several models: `compare_models(["SmolLM2-135M-Instruct", "gemma3-270m"], "report-compare")` writes
each model's report into its own folder and one page with both side by side (`compare`).
"""

from .build import Report, build_report, run_section
from .compare import Comparison, compare_models, write_comparison
from .registry import SECTIONS, get_section, section_names
from .section import ReportSettings, Section, Table

__all__ = [
    "Comparison",
    "Report",
    "ReportSettings",
    "SECTIONS",
    "Section",
    "Table",
    "build_report",
    "compare_models",
    "get_section",
    "run_section",
    "section_names",
    "write_comparison",
]
