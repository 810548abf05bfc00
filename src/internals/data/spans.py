"""Locate a gold answer inside its passage: the evidence span the context-cutoff analysis needs."""

from __future__ import annotations

import re


def find_span(answer: str, context: str) -> tuple[int, int] | None:
    """Character offsets ``[start, end)`` of the first occurrence of ``answer`` in ``context``.

    An exact occurrence wins. Failing that, whitespace is ignored: some sources tokenise
    their passages ("40 , 000", "Earth ' s") but not their answers ("40,000"), so every
    character of the answer may be separated by whitespace in the passage. Returns None
    when the answer is empty or absent.
    """
    needle = answer.strip()
    if not needle:
        return None
    start = context.find(needle)
    if start >= 0:
        return start, start + len(needle)
    pattern = r"\s*".join(re.escape(ch) for ch in needle if not ch.isspace())
    match = re.search(pattern, context)
    return (match.start(), match.end()) if match else None
