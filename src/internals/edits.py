"""Edits at the sites of the grammar (`internals.capture.edits`), importable as `internals.edits`."""

from .capture.edits import (
    Edit,
    EditSet,
    add,
    as_edits,
    from_json,
    layernorm_scaling,
    load,
    mean_ablate,
    mean_of,
    patch,
    replace,
    scale,
    skip,
    with_positions,
    zero,
)

__all__ = [
    "Edit",
    "EditSet",
    "add",
    "as_edits",
    "from_json",
    "layernorm_scaling",
    "load",
    "mean_ablate",
    "mean_of",
    "patch",
    "replace",
    "scale",
    "skip",
    "with_positions",
    "zero",
]
