"""Reading and writing are one mechanism: no module outside `internals/capture/` registers a hook
or replaces a module's `forward` (analyses ask the capture layer for edits instead)."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "internals"
PATTERNS = re.compile(
    r"register_(forward_pre_hook|forward_hook|full_backward_hook|full_backward_pre_hook|backward_hook|"
    r"module_forward_hook|module_forward_pre_hook)\b|\.register_hook\(|\.forward\s*=(?!=)|"
    r"run_with_hooks|add_hook\(|\.output\s*=(?!=)|\.input\s*=(?!=)"
)


def offending_lines(root: Path = SRC) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        if (root / "capture") in path.parents:
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if PATTERNS.search(code):
                out.append(f"{path.relative_to(root)}:{i}: {line.strip()}")
    return out


def test_no_hooks_outside_the_capture_layer():
    assert offending_lines() == []


def test_the_grep_finds_what_it_looks_for(tmp_path):
    (tmp_path / "capture").mkdir()
    (tmp_path / "capture" / "ok.py").write_text("m.register_forward_hook(f)\n")
    (tmp_path / "bad.py").write_text("x = 1\nblock.forward = passthrough\nh = m.register_forward_pre_hook(f)\n")
    assert [line.split(":")[1] for line in offending_lines(tmp_path)] == ["2", "3"]
