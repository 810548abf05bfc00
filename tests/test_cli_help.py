"""Every subcommand and flag has help; docs/cli.md and docs/cli/*.md are the parser's own reference;
every flag the README and the docs show for an `internals ...` command exists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from internals.cli import build_parser
from internals.cli.reference import _commands, _flags, all_flags, pages, reference

ROOT = Path(__file__).resolve().parent.parent


def test_every_command_and_flag_has_help():
    missing = []
    for words, sub, help_text in _commands(build_parser(), []):
        if not help_text:
            missing.append(" ".join(words))
        missing += [f"{' '.join(words)} {a.option_strings or a.dest}" for a in _flags(sub) if not a.help]
    assert missing == []


def test_cli_reference_pages_are_current():
    docs = ROOT / "docs"
    stale = [rel for rel, text in pages().items() if not (docs / rel).is_file() or (docs / rel).read_text() != text]
    extra = sorted(
        str(p.relative_to(docs)) for p in (docs / "cli").glob("*.md") if str(p.relative_to(docs)) not in pages()
    )
    assert stale == [] and extra == [], (
        f"CLI pages stale {stale} or orphaned {extra}: python -m internals.cli.reference docs"
    )
    assert reference().startswith(pages()["cli.md"])
    nav = (ROOT / "mkdocs.yml").read_text()
    assert [rel for rel in pages() if f" {rel}\n" not in nav] == [], "a CLI page missing from mkdocs.yml's nav"


def _documented_commands(text: str):
    """(command words, flags) of every `internals ...` command line in code blocks of a page."""
    flags = all_flags()
    blocks, current, lang = [], None, ""
    for line in text.splitlines():
        if line.startswith("```"):
            if current is None:
                current, lang = [], line[3:].strip()
            else:
                if lang in ("", "bash", "sh", "console", "shell"):
                    blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    for block in blocks:
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line.startswith("internals "):
                continue
            words = shlex.split(line)[1:]
            cmd = []
            while words and not words[0].startswith("-") and " ".join(cmd + [words[0]]) in flags:
                cmd.append(words.pop(0))
            yield " ".join(cmd), [w.split("=")[0] for w in words if w.startswith("--")]


def test_readme_and_docs_flags_exist():
    known = all_flags()
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    unknown = []
    for page in docs:
        for cmd, used in _documented_commands(page.read_text()):
            if cmd in known:
                unknown += [f"{page.name}: internals {cmd} {f}" for f in used if f not in known[cmd] | {"--help"}]
    assert unknown == []
