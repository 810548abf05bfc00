"""`internals figures`: redraw the pages' figures from saved results files, as PNG and PDF.

Example (in a clone: benchmarks/results/*.json -> assets/*.png|pdf):
    internals figures
    internals figures --results my_results --out figures --only depth --formats png pdf svg
    internals figures --only compare   # the default model beside gemma3-270m, on relative depth
"""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "figures",
        help="redraw the pages' figures from saved results files (no model run)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--results",
        default="benchmarks/results",
        help="the folder the benchmarks wrote their results JSON into (default: benchmarks/results)",
    )
    p.add_argument(
        "--root", default=".", help="the folder the benchmarks ran in: probe paths in the results are read from it"
    )
    p.add_argument("--out", default="assets", help="where the images go (default: assets)")
    p.add_argument(
        "--readme",
        default="README.md",
        help="a page whose assets/ images should all be made: a note names any not made (default: README.md, if present)",
    )
    p.add_argument("--formats", nargs="+", default=["png", "pdf"], help="any of png pdf svg html (default: png pdf)")
    p.add_argument("--only", nargs="+", default=None, metavar="NAME", help="only sources whose name starts with NAME")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..report.assets import readme_assets, regenerate

    outcomes = regenerate(args.results, args.out, tuple(args.formats), only=args.only, root=args.root)
    made = set()
    for o in outcomes:
        if o.skipped:
            print(f"skipped {o.source.name}: {o.skipped}", file=sys.stderr)
            continue
        made.update(o.stems)
        print(f"{o.source.name}: {len(o.stems)} figures")
        for path in o.written:
            print(f"  wrote {path}")
    readme = Path(args.readme)
    if not args.only:
        for stem in readme_assets(readme):  # none when there is no such page (outside a clone)
            if stem not in made:
                print(f"note: {readme.name} uses assets/{stem} but no saved results made it this time", file=sys.stderr)
    return 0
