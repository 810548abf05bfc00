"""The committed data slices; the `data_env` fixture (in conftest.py) points the data loaders at them.

A module uses it with ``pytestmark = pytest.mark.usefixtures("data_env")`` so that it applies there
only; it never downloads anything.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"
BIGBENCH_SLICES = DATA / "bigbench"
FANOUTQA_SLICE = DATA / "fanoutqa" / "fanout-final-dev.json"
