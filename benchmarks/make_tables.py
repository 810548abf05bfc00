"""Render markdown tables from the committed result files, so every results table comes from them.

    python benchmarks/make_tables.py                  # every known file in benchmarks/results
    python benchmarks/make_tables.py path/to/a.json   # chosen files
    python benchmarks/make_tables.py --write          # rewrite every marked region of README.md and docs/*.md
    python benchmarks/make_tables.py --check          # name the regions that differ from the files (exit 1)

One renderer per kind of result file, picked by file-name prefix; files of other kinds are
listed as skipped, and unreadable files are reported, not fatal. A page marks a region
`<!-- results: NAME -->` ... `<!-- /results -->`; `page_tables.REGIONS[NAME]` renders it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parent.parent
REGION = re.compile(r"(<!-- results: (\S+) -->\n)(.*?)(<!-- /results -->)", re.S)
BACKENDS = ("hooks", "transformer_lens", "nnsight")


def _x(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}x"


def _iv(ci: list | None) -> str:
    """' [lo, hi]' of a time ratio's 95% bootstrap interval over repeats; '' for a file without one."""
    return f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""


def capture_overhead(doc: dict) -> str:
    """capture_overhead_<device>.json: time and peak-memory ratios to the plain forward ("-": not measured)."""
    m = doc.get("manifest", {})
    model = m.get("model", {}).get("name", "?")
    head = (
        f"### Capture overhead, {doc.get('device', '?')} ({m.get('device', '?')}, {model}, "
        f"{m.get('threads', '?')} thread(s), {doc.get('clock', 'wall')} clock, {m.get('date', '?')})\n\n"
    )
    mem = doc.get("peak_memory_ratio", {})
    rows = [
        "| regime | "
        + " | ".join(f"time {b}" for b in BACKENDS)
        + " | "
        + " | ".join(f"memory {b}" for b in BACKENDS)
        + " |",
        "|---" * (2 * len(BACKENDS) + 1) + "|",
    ]
    for reg, ratios in doc.get("regimes", {}).items():
        cells = [_x(ratios.get(b)) for b in BACKENDS]
        cells += [_x(mem[reg].get(b)) if reg in mem else "-" for b in BACKENDS]
        rows.append(f"| {reg} | " + " | ".join(cells) + " |")
    t = doc.get("targets", {})
    lines = [
        f"hooks, worst regime but stop: {_x(doc.get('hooks_worst'), 3)}{_iv(doc.get('hooks_worst_ci'))} (target <= "
        f"{t.get('hooks_worst', 1.03)}x); mid-layer stop: {_x(doc.get('mid_layer_stop'), 3)}"
        f"{_iv(doc.get('mid_layer_stop_ci'))} of a full forward (target <= {t.get('mid_layer_stop', 0.6)}x); "
        f"long peak memory: {_x(doc.get('long_peak_memory_hooks'), 3)} (target <= {t.get('long_peak_memory_hooks', 1.05)}x)"
    ]
    if doc.get("pooled_tokens_per_s") is not None:
        lines.append(
            f"pooled capture throughput: {doc['pooled_tokens_per_s']:.1%} of forward-only tokens/s "
            f"(target >= {t.get('pooled_tokens_per_s', 0.95):.0%} on GPU)"
        )
    lines += [f"n/a {k}: {v}" for k, v in doc.get("notes", {}).items()]
    return head + "\n".join(rows) + "\n\n" + "\n".join(f"- {line}" for line in lines) + "\n"


EDIT_VARIANTS = (
    "read",
    "steer_hooks",
    "steer_transformer_lens",
    "steer_nnsight",
    "patch_hooks",
    "patch_transformer_lens",
    "patch_nnsight",
)


def edit_cost(doc: dict) -> str:
    """edit_cost_<device>.json: time ratios of captures with edits to a plain forward (decode: plain generate)."""
    m = doc.get("manifest", {})
    model = m.get("model", {}).get("name", "?")
    head = (
        f"### Edit cost, {doc.get('device', '?')} ({m.get('device', '?')}, {model}, {m.get('threads', '?')} thread(s), "
        f"{doc.get('clock', 'wall')} clock, {m.get('date', '?')})\n\n"
    )
    rows = [
        "| regime | " + " | ".join(v.replace("_", " ").replace("transformer lens", "TL") for v in EDIT_VARIANTS) + " |",
        "|---" * (len(EDIT_VARIANTS) + 1) + "|",
    ]
    for reg, ratios in doc.get("regimes", {}).items():
        rows.append(f"| {reg} | " + " | ".join(_x(ratios.get(v)) for v in EDIT_VARIANTS) + " |")
    target = doc.get("targets", {}).get("steer_hooks", 1.03)
    met = doc.get("target_met")
    lines = [
        f"ratios to {doc.get('denominator', 'a plain forward')}",
        f"steer through hooks, worst regime: {_x(doc.get('steer_hooks_worst'), 3)}"
        f"{_iv(doc.get('steer_hooks_worst_ci'))} (target <= {target}x: "
        f"{'n/a' if met is None else 'met' if met else 'missed'})",
    ]
    over_read = {reg: r["steer_hooks"] for reg, r in doc.get("vs_read", {}).items() if r.get("steer_hooks") is not None}
    if over_read:
        lines.append(
            "steer through hooks over the same capture without edits (the edit's own cost): "
            + ", ".join(f"{reg} {_x(v, 3)}" for reg, v in over_read.items())
        )
    checks = doc.get("checks", {})
    for reg, c in checks.items():
        if "steer_change" in c:
            lines.append(
                f"{reg} checks: the steer moves the last-token logits by up to {c['steer_change']:.3g}; "
                f"TL and nnsight steer within {max(c['steer_backends'].values()):.1g} of hooks; "
                f"patched logits within {max(c['patch_vs_clean'].values()):.1g} of the clean run's"
            )
        elif "steer_tokens_changed" in c:
            lines.append(
                f"{reg} checks: the steer changes {c['steer_tokens_changed']} of {c['generated_tokens']} generated tokens"
            )
    seen = set()
    for why in doc.get("notes", {}).values():
        if why not in seen:  # one line per reason, naming every variant it covers
            seen.add(why)
            names = ", ".join(k for k, w in doc["notes"].items() if w == why)
            lines.append(f"n/a {names}: {why}")
    return head + "\n".join(rows) + "\n\n" + "\n".join(f"- {line}" for line in lines) + "\n"


RENDERERS = {"capture_overhead_": capture_overhead, "edit_cost_": edit_cost}


def render(path: Path) -> str | None:
    """The markdown for one result file, or None when no renderer knows its kind."""
    kind = next((prefix for prefix in RENDERERS if path.name.startswith(prefix)), None)
    if kind is None:
        return None
    return RENDERERS[kind](json.loads(path.read_text()))


def pages(root: Path | None = None) -> list[Path]:
    """The pages whose marked regions are rendered: README.md and every docs/**/*.md."""
    root = root or ROOT
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def rerender(text: str, page: str = "page") -> tuple[str, list[str]]:
    """`text` with every marked region re-rendered, and the names of the regions that changed.
    An unknown region name raises KeyError naming the page."""
    from page_tables import REGIONS

    changed: list[str] = []

    def one(m: re.Match) -> str:
        name = m.group(2)
        if name not in REGIONS:
            raise KeyError(f"{page}: unknown results region {name!r} (known: {', '.join(REGIONS)})")
        body = REGIONS[name]().strip() + "\n"
        if body != m.group(3):
            changed.append(name)
        return m.group(1) + body + m.group(4)

    return REGION.sub(one, text), changed


def drift(root: Path | None = None, write: bool = False) -> list[str]:
    """'page: region' for every marked region that differs from what the result files say;
    with write=True the pages are rewritten in place."""
    root = root or ROOT
    out = []
    for page in pages(root):
        if not page.exists():
            continue
        text = page.read_text()
        new, changed = rerender(text, str(page.relative_to(root)))
        out += [f"{page.relative_to(root)}: {name}" for name in changed]
        if write and new != text:
            page.write_text(new)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="markdown tables from benchmark result files")
    p.add_argument("files", nargs="*", type=Path, help=f"result files (default: {RESULTS}/*.json)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the marked regions of README.md and docs/")
    mode.add_argument("--check", action="store_true", help="list regions that differ from the files; exit 1 if any")
    args = p.parse_args(argv)
    if args.write or args.check:
        stale = drift(write=args.write)
        verb = "rewrote" if args.write else "stale"
        for line in stale:
            print(f"make_tables: {verb} {line}", file=sys.stderr)
        return 1 if stale and args.check else 0
    files = args.files or sorted(RESULTS.glob("*.json"))
    skipped = []
    for path in files:
        try:
            text = render(path)
        except (OSError, ValueError, AttributeError, TypeError) as err:
            print(f"make_tables: cannot read {path}: {err}", file=sys.stderr)
            continue
        if text is None:
            skipped.append(path.name)
        else:
            print(text)
    if skipped:
        print(
            f"make_tables: no whole-file renderer for {', '.join(skipped)} (their tables are page regions: "
            "--write renders them; page_tables.REGIONS)",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
