"""`internals ...`: one CLI for every analysis. Each subcommand lives in its own module here and
exposes `register(subparsers)`; errors a user can meet print on one line and exit 2."""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import InternalsError

# Subcommand modules, in the order `internals --help` lists them. A module that is not there yet
# (an analysis still being built) is skipped.
COMMANDS = ("models", "data", "capture", "probe", "cutoff", "voids", "depth", "figures", "report")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="internals", description="Model-internals workbench for causal LMs.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}_cmd")
        except ModuleNotFoundError as err:
            if err.name == f"{__name__}.{name}_cmd":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InternalsError as err:
        print(f"internals: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("internals: interrupted (a resumable command continues where it stopped when run again)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
