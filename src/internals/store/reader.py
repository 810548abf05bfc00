"""`Store`: open a captured store, verify it, read one site at a time from memory-mapped shards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..capture.reducers import Moments
from ..errors import InternalsError
from .files import Shard, check_shard, read_jsonl

MANIFEST = "manifest.json"
ROW_IDS = "row_ids.json"
SHARDS = "shards"


def load_json(path: Path) -> Any:
    """The parsed file, or None when it does not exist."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise InternalsError(
            f"{path} is not valid JSON: the store is damaged; delete its dir and capture again"
        ) from None


def index_files(root: Path) -> list[Path]:
    """The per-rank shard indexes, `index-r<rank>.jsonl`."""
    return sorted(root.glob("index-r*.jsonl"))


@dataclass
class _Part:
    shard: Shard
    rows: np.ndarray  # int64 [n]: dataset positions of this shard's rows, in shard order


class Store:
    """A captured activation store (see `internals.store` for the layout).

    `store[site]` is an array over the stored rows in dataset order: [n, *feature] for mean/last,
    [n, tokens, *feature] for none and [n, tokens(, heads)] for norm (zero past each row's
    tokens, `store.mask` [n, tokens] marks the real ones), a Moments for stats.
    """

    def __init__(self, path: Path, manifest: dict, parts: list[_Part], ids: list):
        self.path = path
        self.manifest = manifest
        self._parts = sorted(parts, key=lambda p: int(p.rows[0]))
        self._ids = ids
        all_rows = np.concatenate([p.rows for p in self._parts]) if self._parts else np.zeros(0, np.int64)
        self._rows = np.sort(all_rows)
        self._pos = [np.searchsorted(self._rows, p.rows) for p in self._parts]

    @classmethod
    def open(cls, path: str | Path, *, verify: bool = True, allow_incomplete: bool = False) -> Store:
        """Open the store at `path` (its dir, or an --out dir holding exactly one store).

        verify: check every shard's size and sha256 against the index (reads each file once).
        allow_incomplete: open a store whose capture has not finished (only its rows so far).
        """
        root = _find_root(Path(path))
        manifest = load_json(root / MANIFEST)
        entries = [e for index in sorted(root.glob("index-r*.jsonl")) for e in read_jsonl(index)]
        if manifest.get("status") != "complete" and not allow_incomplete:
            # the manifest's count is from the run's start; the index files hold what is on disk now
            on_disk = len({r for e in entries for r in e["rows"]})
            raise InternalsError(
                f"store {root} is incomplete: {on_disk} of {manifest.get('n_rows')} rows are on disk "
                "(its capture was stopped, or is still running): run the same capture command again "
                "to resume from there, or Store.open(path, allow_incomplete=True) to read those rows"
            )
        parts = []
        for e in entries:
            file = root / e["shard"]
            problem = check_shard(file, e["sha256"], e["bytes"]) if verify else None
            if problem is not None:
                raise InternalsError(
                    f"store shard {file} {problem}: delete that file and run the same capture "
                    f"command again to re-capture its {len(e['rows'])} rows"
                )
            parts.append(_Part(Shard(file), np.asarray(e["rows"], dtype=np.int64)))
        ids = load_json(root / ROW_IDS) or list(range(manifest.get("n_rows", 0)))
        return cls(root, manifest, parts, ids)

    @property
    def sites(self) -> list[str]:
        return list(self.manifest["config"]["sites"])

    @property
    def reduce(self) -> str:
        return self.manifest["config"]["reduce"]

    @property
    def config_hash(self) -> str:
        return self.manifest["config_hash"]

    @property
    def complete(self) -> bool:
        return self.manifest.get("status") == "complete"

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, rows={len(self)}, sites={len(self.sites)}, reduce={self.reduce!r})"

    def row_index(self) -> np.ndarray:
        """int64 [n]: the dataset positions of the stored rows, ascending (the order of every array)."""
        return self._rows.copy()

    def rows(self) -> list:
        """The ids of the stored rows in order: record ids for a Dataset, positions for plain prompts."""
        return [self._ids[i] for i in self._rows]

    def __getitem__(self, site: str) -> np.ndarray | Moments:
        return self.site(site)

    def site(self, name: str) -> np.ndarray | Moments:
        """One site over all rows; only that site's bytes are read (a single in-order shard is returned as its memmap)."""
        if name not in self.sites:
            raise InternalsError(f"site {name!r} is not in store {self.path.name}: it has {', '.join(self.sites)}")
        if self.reduce == "stats":
            return self._moments(name)
        return self._assemble(name)

    @property
    def mask(self) -> np.ndarray | None:
        """bool [n, tokens]: the tokens each row's none/norm arrays cover (None for other reducers)."""
        return self._assemble("mask") if self.reduce in ("none", "norm") else None

    def shards(self, name: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (row positions [k], memmap [k, ...]) per shard: process a site larger than memory piece by piece."""
        for part in self._parts:
            yield part.rows, part.shard.array(name)

    def _assemble(self, name: str) -> np.ndarray:
        if not self._parts:
            return np.zeros((0,), np.float32)
        arrays = [p.shard.array(name) for p in self._parts]
        padded = self.reduce in ("none", "norm")
        width = max(a.shape[1] for a in arrays) if padded else 0  # 0: unused (no padding)
        if (
            len(arrays) == 1
            and np.all(self._pos[0] == np.arange(len(self)))
            and (not padded or arrays[0].shape[1] == width)
        ):
            return arrays[0]
        tail = ((width,) + arrays[0].shape[2:]) if padded else arrays[0].shape[1:]
        out = np.zeros((len(self),) + tail, dtype=arrays[0].dtype)
        for pos, a in zip(self._pos, arrays):
            if padded:
                out[pos, : a.shape[1]] = a
            else:
                out[pos] = a
        return out

    def _moments(self, name: str) -> Moments:
        """Merge the shards' partial moments in row order (Chan et al.; float64)."""
        total = Moments()
        for part in self._parts:
            count = int(part.shard.array(f"{name}/count")[0])
            if count:
                mean = torch.from_numpy(np.array(part.shard.array(f"{name}/mean")))
                m2 = torch.from_numpy(np.array(part.shard.array(f"{name}/m2")))
                total = total.merge(Moments(count, mean, m2))
        return total


def _find_root(path: Path) -> Path:
    if (path / MANIFEST).is_file():
        return path
    if not path.is_dir():
        raise InternalsError(f"store {path} does not exist: give the dir that `internals capture` printed")
    found = [p for p in sorted(path.iterdir()) if (p / MANIFEST).is_file()]
    if len(found) == 1:
        return found[0]
    if not found:
        raise InternalsError(f"{path} is not a store (no {MANIFEST}): give the dir that `internals capture` printed")
    raise InternalsError(f"{path} holds {len(found)} stores ({', '.join(p.name for p in found)}): give one of them")
