"""How a built-in dataset declares itself to the registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .records import Record

KINDS = ("qa", "context_qa", "mc", "yesno")
"""qa: closed-book question with answer aliases; context_qa: question + passage (+ evidence span);
mc: multiple choice (``choices`` + ``target``); yesno: multiple choice with choices ("Yes", "No")."""


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset the registry can find by name.

    Attributes:
        name: registry name.
        kind: one of `KINDS`.
        description: one line.
        licence: the data's licence (the source's, where the container is licensed differently).
        load: parses the whole dataset (downloading it first if needed), in source order.
        source: where the data is read from, without downloading anything.
        cached: whether ``load`` can run without a download.
    """

    name: str
    kind: str
    description: str
    licence: str
    load: Callable[[], list[Record]]
    source: Callable[[], str]
    cached: Callable[[], bool]
