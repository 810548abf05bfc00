"""Fixture shared by the tests/test_data_*.py modules: point the data loaders at the committed slices.

Imported by name in each module (``from _data_env import data_env``) so that it applies there
only; it never downloads anything.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
BIGBENCH_SLICES = DATA / "bigbench"
FANOUTQA_SLICE = DATA / "fanoutqa" / "fanout-final-dev.json"


@pytest.fixture(autouse=True)
def data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Slices instead of downloads, and a fresh empty user cache; returns the cache dir."""
    monkeypatch.setenv("INTERNALS_BIGBENCH_DIR", str(BIGBENCH_SLICES))
    monkeypatch.setenv("INTERNALS_FANOUTQA_FILE", str(FANOUTQA_SLICE))
    monkeypatch.setenv("INTERNALS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
