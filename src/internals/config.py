"""Reading a dataclass config from TOML: the one reader behind every `from_toml` (probe and cutoff configs).

>>> from internals.config import read_toml_config
>>> table = read_toml_config("probes/qa_wikidata.toml", ProbeConfig, section="probe")
>>> ProbeConfig(**table)
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from .errors import InternalsError

__all__ = ["read_toml_config"]


def read_toml_config(path: str | Path, cls: type, *, section: str | None = None) -> dict[str, Any]:
    """The settings table of the TOML file `path` for the dataclass `cls`.

    With `section`, the file's `[section]` table when it has one, else its top level. Raises
    `InternalsError` when the file is missing or not TOML, and when a key is not a field of `cls`
    (a typo must not silently do nothing); the message lists the known keys.
    """
    path = Path(path)
    if not path.is_file():
        raise InternalsError(f"config file {path} does not exist: give the path of a TOML file")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise InternalsError(f"{path} is not valid TOML ({err}): fix the file") from None
    table = doc.get(section, doc) if section else doc
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise InternalsError(f"unknown key(s) {', '.join(unknown)} in {path}: use {', '.join(sorted(known))}")
    return dict(table)
