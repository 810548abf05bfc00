"""`internals ...`: one CLI for every analysis. Each subcommand lives in its own module here and
exposes `register(subparsers)`; errors a user can meet print on one line and exit 2."""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import InternalsError

# Subcommand modules, in the order `internals --help` lists them. A module that is not there yet
# (an analysis still being built) is skipped.
COMMANDS = ("models", "data", "capture", "probe", "cutoff", "voids", "depth", "patch", "figures", "report")


class Parser(argparse.ArgumentParser):
    """argparse with the project's error style: one line on stderr, exit status 2 (no usage dump)."""

    def error(self, message: str):
        self.exit(2, f"internals: error: {self.prog}: {message} (see {self.prog} --help)\n")


# Count-like options that must be >= 1, and those that may also be 0, checked for every command at
# the edge, before a model or dataset is loaded (a negative --max-tokens once cut tokens silently).
POSITIVE = (
    "limit",
    "max_tokens",
    "batch_size",
    "shard_rows",
    "n",
    "chunk_size",
    "threads",
    "prompts",
    "ablation_tokens",
    "steps",
    "pairs",
)
NON_NEGATIVE = ("seed", "offset", "ablation_texts", "max_new_tokens")


def check_counts(args: argparse.Namespace) -> None:
    """Raise InternalsError for a count option out of range."""
    for name in POSITIVE + NON_NEGATIVE:
        value = getattr(args, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            low = 1 if name in POSITIVE else 0
            if value < low:
                flag = "--" + name.replace("_", "-")
                raise InternalsError(f"{flag} must be >= {low}, got {value}")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = Parser(prog="internals", description="Model-internals workbench for causal LMs.")
    parser.add_argument("--version", action="version", version=f"internals {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
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
        check_counts(args)
        return int(args.func(args) or 0)
    except InternalsError as err:
        print(f"internals: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("internals: interrupted (a resumable command continues where it stopped when run again)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
