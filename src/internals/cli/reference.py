"""The CLI reference pages, generated from the parser itself so that help and docs cannot drift:
docs/cli.md (an index of the commands) and one page per command under docs/cli/, written by
`python -m internals.cli.reference docs` (a test compares them with the parser)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


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


def _section(words: list[str], sub: argparse.ArgumentParser, help_text: str, level: str) -> list[str]:
    """One command's heading, help line and flag table."""
    out = [f"{level} internals {' '.join(words)}", "", _cell(help_text or sub.description or ""), ""]
    flags = _flags(sub)
    if not flags:
        return out
    out += ["| flag | default | what |", "|---|---|---|"]
    for a in flags:
        name = ", ".join(a.option_strings) or a.dest
        default = "" if a.default in (None, argparse.SUPPRESS) or a.required else f"`{a.default}`"
        if a.required:
            default = "required"
        out.append(f"| `{name}` | {_cell(default)} | {_cell(a.help or '')} |")
    return [*out, ""]


def pages() -> dict[str, str]:
    """Relative path under docs/ -> markdown: ``cli.md`` (the index) and ``cli/<command>.md`` for every
    top-level `internals` command, its subcommands as sections of its page."""
    from . import build_parser

    commands = list(_commands(build_parser(), []))
    top = [(words[0], help_text) for words, _, help_text in commands if len(words) == 1]
    index = [
        "# CLI reference",
        "",
        "Generated from the parser (`python -m internals.cli.reference docs`): one page per command.",
        "Every error a user can meet prints one line, `internals: error: ...`, and exits 2.",
        "",
        "| command | what |",
        "|---|---|",
        *[f"| [`internals {name}`](cli/{name}.md) | {_cell(help_text)} |" for name, help_text in top],
    ]
    out = {"cli.md": "\n".join(index) + "\n"}
    for name, _ in top:
        body: list[str] = []
        for words, sub, help_text in commands:
            if words[0] == name:
                body += _section(words, sub, help_text, "#" if len(words) == 1 else "##")
        out[f"cli/{name}.md"] = "\n".join(body).rstrip() + "\n"
    return out


def reference() -> str:
    """Every CLI page joined, index first (what `python -m internals.cli.reference` prints)."""
    return "\n".join(pages().values())


def write_pages(docs: str | Path) -> list[Path]:
    """Write `pages()` under the docs directory; returns the paths written."""
    written = []
    for rel, text in pages().items():
        path = Path(docs) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def all_flags() -> dict[str, set[str]]:
    """command words joined by spaces -> its option strings."""
    from . import build_parser

    return {" ".join(w): {s for a in _flags(p) for s in a.option_strings} for w, p, _ in _commands(build_parser(), [])}


if __name__ == "__main__":
    if len(sys.argv) > 1:
        for written in write_pages(sys.argv[1]):
            print(written)
    else:
        print(reference(), end="")
