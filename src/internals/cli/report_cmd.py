"""`internals report`: run every analysis with quick settings and write one self-contained HTML page.

Example:
    internals report --out report            # the embedded SmolLM2, quick settings -> report/index.html
    internals report --model path/to/checkpoint --out report --sections capture depth
    internals report --model SmolLM2-135M-Instruct --model gemma3-270m --out report-compare
    internals report --compare report-compare/SmolLM2-135M-Instruct other/report --out report-compare

With several --model, each model's report goes to OUT/<model>/ and OUT/index.html shows them side
by side (figures on a relative-depth axis, each model's tables); --compare builds that page from
report folders already written, running no model.
"""

from __future__ import annotations


def register(sub) -> None:
    from ..report.registry import section_names

    p = sub.add_parser(
        "report",
        help="run the analyses with quick settings and write one HTML page",
        description=__doc__.split("\n\n")[0],
    )
    models = p.add_mutually_exclusive_group()
    models.add_argument(
        "--model",
        action="append",
        default=None,
        help="local HF checkpoint dir, hub name or bundled model (default: the embedded SmolLM2-135M-Instruct); "
        "repeat it to compare models: each report goes to OUT/<model>/, the comparison to OUT/index.html",
    )
    models.add_argument(
        "--compare",
        nargs="+",
        default=None,
        metavar="DIR",
        help="write only the comparison page OUT/index.html from these finished report folders (no model runs)",
    )
    p.add_argument(
        "--out",
        default="report",
        help="folder for index.html and report.json, or for the comparison (default: report)",
    )
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

    if args.compare:
        return _compare(args.compare, args.out)
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
    models = args.model or [None]
    if len(models) > 1:
        return _compare_models(models, args.out, settings, args.sections)
    report = build_report(models[0], args.out, settings, args.sections)
    _print_sections(report.sections)
    print(f"report written in {report.wall_s:.0f} s ({report.cpu_s:.0f} s CPU): {report.path}")
    if report.failed:
        print(
            f"internals: error: {len(report.failed)} section(s) failed ({', '.join(report.failed)}); "
            f"the page shows why: {report.path}",
            file=sys.stderr,
        )
        return 1
    return 0


def _print_sections(sections) -> None:
    import sys

    for s in sections:
        status = f"FAILED: {s.error}" if s.error else "ok"
        print(f"  {s.title}: {s.wall_s:.1f} s ({s.cpu_s:.1f} s CPU), {status}", file=sys.stderr)


def _compare_models(models, out, settings, sections) -> int:
    import time

    from ..report import compare_models

    def done(label, report):
        _print_sections(report.sections)
        print(f"{label}: report written in {report.wall_s:.0f} s ({report.cpu_s:.0f} s CPU): {report.path}")

    start = time.perf_counter()
    comparison = compare_models(models, out, settings, sections, on_report=done)
    print(f"comparison of {len(models)} models written in {time.perf_counter() - start:.0f} s: {comparison.path}")
    return _failures(comparison)


def _compare(dirs, out) -> int:
    from ..report.compare import load_reports, write_comparison

    comparison = write_comparison(load_reports(dirs), out)
    print(f"comparison written: {comparison.path}")
    return _failures(comparison)


def _failures(comparison) -> int:
    """Each model's failed sections on stderr; 1 when any failed."""
    import sys

    for label, failed in comparison.failed.items():
        print(f"  {label}: FAILED: {', '.join(failed)}", file=sys.stderr)
    if comparison.failed:
        print(
            f"internals: error: {len(comparison.failed)} model(s) with failures "
            f"({', '.join(comparison.failed)}); the page shows why: {comparison.path}",
            file=sys.stderr,
        )
        return 1
    return 0
