"""What a report section is: its settings in, its figures, tables and manifest out."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import InternalsError


@dataclass(frozen=True)
class ReportSettings:
    """How much each section runs. `quick` picks the small defaults every section declares;
    `prompts` / `max_tokens` override them for all sections (tests shrink them further).

    Attributes:
        quick: small data and short contexts (a few dozen prompts per section).
        prompts: if set, the number of prompts (or examples) every section uses.
        max_tokens: if set, the longest prompt or context every section reads.
        seed: seeds dataset sampling and any training.
        batch_size: prompts per forward.
        device: "auto" | "cpu" | "cuda" | "cuda:N".
        threads: torch CPU threads (None: torch's default; 1 is often fastest on a busy machine).
        progress: tqdm bars on stderr.
    """

    quick: bool = True
    prompts: int | None = None
    max_tokens: int | None = None
    seed: int = 0
    batch_size: int = 8
    device: str = "auto"
    threads: int | None = None
    progress: bool = True

    def __post_init__(self):
        for name in ("prompts", "max_tokens", "threads"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise InternalsError(f"{name} must be a positive integer or None, got {value!r}")
        if self.batch_size < 1:
            raise InternalsError(f"batch_size must be >= 1, got {self.batch_size}")

    def n(self, quick: int, full: int) -> int:
        """Prompts for a section whose defaults are `quick` (quick report) and `full`."""
        return self.prompts or (quick if self.quick else full)

    def tokens(self, quick: int, full: int) -> int:
        """Tokens per prompt for a section whose defaults are `quick` and `full`."""
        return self.max_tokens or (quick if self.quick else full)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Table:
    """A small table: `rows` are lists of cells (str, int, float or None), one per column."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""

    def __post_init__(self):
        bad = [i for i, r in enumerate(self.rows) if len(r) != len(self.columns)]
        if bad:
            raise InternalsError(
                f"table {self.title!r}: row {bad[0]} has {len(self.rows[bad[0]])} cells for {len(self.columns)} columns"
            )

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Section:
    """One analysis in the report.

    title: the heading; text: a paragraph saying what was run and how to read it;
    figures: caption -> plotly Figure; tables: `Table`s; manifest: what was run (datasets
    with fingerprints, settings, sites ...), written into the page and report.json;
    data: the numbers behind the figures that a comparison of models redraws (per-layer lists,
    JSON-safe), written into report.json only (`report.compare`).
    """

    title: str
    figures: dict = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)
    text: str = ""
    data: dict = field(default_factory=dict)
    error: str | None = None  # set by the builder when the section raised
    wall_s: float | None = None
    cpu_s: float | None = None  # CPU seconds of this process (all its threads)


def plain(values: Any, digits: int = 6) -> Any:
    """`values` (numpy arrays and scalars, nested in lists, tuples and dicts) as JSON-safe Python:
    lists, floats to `digits` significant digits, NaN and inf as None (JSON has no NaN)."""
    if isinstance(values, dict):
        return {str(k): plain(v, digits) for k, v in values.items()}
    if isinstance(values, np.ndarray) and values.ndim == 0:
        return plain(values.item(), digits)
    if isinstance(values, (list, tuple, np.ndarray)):
        return [plain(v, digits) for v in values]
    if isinstance(values, (bool, np.bool_)):
        return bool(values)
    if isinstance(values, (int, np.integer)):
        return int(values)
    if isinstance(values, (float, np.floating)):
        v = float(values)
        return float(f"{v:.{digits}g}") if math.isfinite(v) else None
    return values
