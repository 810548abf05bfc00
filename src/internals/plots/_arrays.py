"""Turning user input into float arrays of a checked shape, with one-line errors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from internals.errors import InternalsError


def _shape(x) -> str:
    shape = getattr(x, "shape", None)
    if shape is not None:
        return str(tuple(int(d) for d in shape))
    try:
        return str(np.shape(x))
    except ValueError:
        return "(ragged)"


def as_array(x, name: str, expected: str, ndims: Sequence[int]) -> np.ndarray:
    """`x` (array, tensor, nested list) as a float64 array with one of `ndims` dimensions.

    expected: the shape in words for the message, e.g. "[layers] or [layers, samples]".
    """
    if hasattr(x, "detach"):  # torch tensor, possibly on an accelerator or in bf16
        x = x.detach().float().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise InternalsError(f"{name} must be a numeric array {expected}, got shape {_shape(x)}") from None
    if arr.ndim not in ndims or 0 in arr.shape:
        raise InternalsError(f"{name} must be {expected}, got shape {tuple(arr.shape)}")
    return arr


def as_vector(x, name: str, length: int | None = None, what: str = "n") -> np.ndarray:
    """A non-empty 1-d float array, of `length` when given."""
    arr = as_array(x, name, f"[{what}]", (1,))
    if length is not None and arr.shape[0] != length:
        raise InternalsError(f"{name} must be [{what}] with {what} = {length}, got shape {tuple(arr.shape)}")
    return arr


def as_labels(labels, name: str, length: int) -> list[str] | None:
    """`labels` as `length` strings, or None."""
    if labels is None:
        return None
    if isinstance(labels, str):
        raise InternalsError(f"{name} must be a sequence of {length} labels, got a single string")
    out = [str(v) for v in labels]
    if len(out) != length:
        raise InternalsError(f"{name} must have {length} labels, got {len(out)}")
    return out


def as_series(series, name: str) -> dict[str, object]:
    """A non-empty mapping name -> data (a bare array becomes {"": array})."""
    if not isinstance(series, dict):
        return {"": series}
    if not series:
        raise InternalsError(f"{name} is empty: give at least one name -> array")
    return {str(k): v for k, v in series.items()}


def check_choice(value, name: str, choices: Sequence) -> None:
    if value not in choices:
        raise InternalsError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def rgba(hex_colour: str, alpha: float) -> str:
    """'#RRGGBB' -> 'rgba(r,g,b,alpha)' for translucent bands."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"
