"""`internals figures`: redraw every figure README uses from the saved results, as PNG and PDF.

Example:
    internals figures                      # benchmarks/results/*.json -> assets/*.png|pdf
    internals figures --only depth --formats png pdf svg
"""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "figures",
        help="redraw the README figures in assets/ from saved results (no model run)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--root", default=".", help="the repository root holding benchmarks/results and README.md (default: .)"
    )
    p.add_argument("--out", default=None, help="where the images go (default: ROOT/assets)")
    p.add_argument("--formats", nargs="+", default=["png", "pdf"], help="any of png pdf svg html (default: png pdf)")
    p.add_argument("--only", nargs="+", default=None, metavar="NAME", help="only sources whose name starts with NAME")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..report.assets import readme_assets, regenerate

    root = Path(args.root)
    outcomes = regenerate(root, args.out, tuple(args.formats), only=args.only)
    made = set()
    for o in outcomes:
        if o.skipped:
            print(f"skipped {o.source.name}: {o.skipped}", file=sys.stderr)
            continue
        made.update(o.stems)
        print(f"{o.source.name}: {len(o.stems)} figures")
        for path in o.written:
            print(f"  wrote {path}")
    if not args.only:
        for stem in readme_assets(root / "README.md"):
            if stem not in made:
                print(f"note: README.md uses assets/{stem} but no saved results made it this time", file=sys.stderr)
    return 0
