"""`internals report`: run every analysis with quick settings and write one self-contained HTML page.

Example:
    internals report --out report            # the embedded SmolLM2, quick settings -> report/index.html
    internals report --model path/to/checkpoint --out report --sections capture depth
"""

from __future__ import annotations


def register(sub) -> None:
    from ..report.registry import section_names

    p = sub.add_parser(
        "report",
        help="run the analyses with quick settings and write one HTML page",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--model",
        default=None,
        help="local HF checkpoint dir or hub name (default: the embedded SmolLM2-135M-Instruct)",
    )
    p.add_argument("--out", default="report", help="folder for index.html and report.json (default: report)")
    speed = p.add_mutually_exclusive_group()
    speed.add_argument(
        "--quick",
        dest="quick",
        action="store_true",
        default=True,
        help="small data and short contexts, minutes on a CPU (the default)",
    )
    speed.add_argument("--full", dest="quick", action="store_false", help="each section's larger defaults")
    p.add_argument(
        "--sections",
        nargs="+",
        default=None,
        metavar="NAME",
        help=f"only these sections (default: all of {', '.join(section_names())})",
    )
    p.add_argument(
        "--prompts",
        "--limit",
        dest="prompts",
        type=int,
        default=None,
        help="prompts (or examples) per section, overriding its default",
    )
    p.add_argument("--max-tokens", type=int, default=None, help="longest prompt or context, overriding each section's")
    p.add_argument("--seed", type=int, default=0, help="seed of data sampling and training (default: 0)")
    p.add_argument("--batch-size", type=int, default=8, help="prompts per forward (default: 8)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's; 1 is often fastest on a busy machine)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from ..report import ReportSettings, build_report

    settings = ReportSettings(
        quick=args.quick,
        prompts=args.prompts,
        max_tokens=args.max_tokens,
        seed=args.seed,
        batch_size=args.batch_size,
        device=args.device,
        threads=args.threads,
        progress=not args.quiet,
    )
    report = build_report(args.model, args.out, settings, args.sections)
    for s in report.sections:
        status = f"FAILED: {s.error}" if s.error else "ok"
        print(f"  {s.title}: {s.wall_s:.1f} s ({s.cpu_s:.1f} s CPU), {status}", file=sys.stderr)
    print(f"report written in {report.wall_s:.0f} s ({report.cpu_s:.0f} s CPU): {report.path}")
    if report.failed:
        print(
            f"internals: error: {len(report.failed)} section(s) failed ({', '.join(report.failed)}); "
            f"the page shows why: {report.path}",
            file=sys.stderr,
        )
        return 1
    return 0
