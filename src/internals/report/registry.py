"""The report's sections, by name, in page order.

Each entry names a module with `TITLE` and `section(lm, settings) -> Section`. A section calls
its analysis's public functions; an analysis plugs into the report by adding one module here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

from ..errors import InternalsError

SECTIONS: dict[str, str] = {
    "capture": "internals.report.capture_section",
    "factcheckmate": "internals.report.factcheckmate_section",
    "cutoff": "internals.report.cutoff_section",
    "voids": "internals.report.voids_section",
    "depth": "internals.report.depth_section",
}
"""Report section name -> the module whose `section(lm, settings)` builds it, in page order."""


def section_names() -> list[str]:
    """The report's section names in page order (`internals report --sections` accepts these)."""
    return list(SECTIONS)


def get_section(name: str) -> Callable:
    """The `section(lm, settings)` function registered as `name`."""
    if name not in SECTIONS:
        raise InternalsError(f"unknown report section {name!r}: use one of {', '.join(SECTIONS)}")
    return importlib.import_module(SECTIONS[name]).section


def select(only: Sequence[str] | None) -> list[str]:
    """The names to run: `only` (checked, in page order) or all."""
    if not only:
        return section_names()
    unknown = [n for n in only if n not in SECTIONS]
    if unknown:
        raise InternalsError(f"unknown report section {unknown[0]!r}: use one of {', '.join(SECTIONS)}")
    return [n for n in SECTIONS if n in only]
