"""The CLI reference page (docs/cli.md), generated from the parser itself so that help and docs
cannot drift: `python -m internals.cli.reference > docs/cli.md` (a test compares them)."""

from __future__ import annotations

import argparse


def _commands(parser: argparse.ArgumentParser, prefix: list[str]):
    """(command words, parser, its help) for every subcommand, depth first, in --help order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {c.dest: c.help for c in action._choices_actions}
            for name, sub in action.choices.items():
                yield [*prefix, name], sub, helps.get(name) or ""
                yield from _commands(sub, [*prefix, name])


def _flags(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def reference() -> str:
    """The markdown reference of every `internals` subcommand and flag."""
    from . import build_parser

    parser = build_parser()
    out = [
        "# CLI reference",
        "",
        "Generated from the parser (`python -m internals.cli.reference > docs/cli.md`).",
        "Every error a user can meet prints one line, `internals: error: ...`, and exits 2.",
        "",
    ]
    for words, sub, help_text in _commands(parser, []):
        flags = _flags(sub)
        out += [f"## internals {' '.join(words)}", "", _cell(help_text or sub.description or ""), ""]
        if not flags:
            continue
        out += ["| flag | default | what |", "|---|---|---|"]
        for a in flags:
            name = ", ".join(a.option_strings) or a.dest
            default = "" if a.default in (None, argparse.SUPPRESS) or a.required else f"`{a.default}`"
            if a.required:
                default = "required"
            out.append(f"| `{name}` | {_cell(default)} | {_cell(a.help or '')} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def all_flags() -> dict[str, set[str]]:
    """command words joined by spaces -> its option strings."""
    from . import build_parser

    return {" ".join(w): {s for a in _flags(p) for s in a.option_strings} for w, p, _ in _commands(build_parser(), [])}


if __name__ == "__main__":
    print(reference(), end="")
