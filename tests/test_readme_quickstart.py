"""README's quickstart runs as printed, on the embedded model, and does what its comments say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parent.parent / "README.md"


def quickstart() -> str:
    text = README.read_text()
    section = text.split("## Quickstart", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block, "README lost its quickstart code block"
    return block.group(1)


def test_quickstart_uses_public_names_and_keyword_arguments():
    code = quickstart()
    assert "from internals import" in code and "._" not in code
    assert len(code.strip().splitlines()) <= 12
    for call in re.findall(r"capture\(lm, [^\n]*", code):
        assert "sites=" in call, call


@pytest.mark.real_model
def test_quickstart_runs(capsys):
    torch.set_num_threads(1)
    ns: dict = {}
    exec(compile(quickstart(), str(README), "exec"), ns)  # the README's own text
    assert tuple(ns["acts"]["resid_post.12"].shape) == (1, 576)
    assert tuple(ns["v"].shape) == (576,)
    assert capsys.readouterr().out.strip()  # the steered generation printed something
    assert set(ns["steered"]) == {f"resid_post.{i}" for i in range(30)}
