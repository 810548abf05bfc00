"""Where `internals` keeps what it computes once: the converted default model, datasets, stores."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """The user cache dir (``$INTERNALS_CACHE``, default ``~/.cache/internals``), created on demand."""
    root = Path(os.environ.get("INTERNALS_CACHE") or Path.home() / ".cache" / "internals")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
