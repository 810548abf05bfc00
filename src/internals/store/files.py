"""The store's files on disk: atomic writes, safetensors shards read by memory map, the shard index.

Safetensors layout (https://github.com/huggingface/safetensors): 8 bytes little-endian header
length N, N bytes of JSON header ``{name: {"dtype", "shape", "data_offsets": [begin, end]}}``,
then the raw little-endian tensor bytes, offsets relative to byte 8 + N. That is simple enough
to map each tensor straight from the file with `np.memmap`, so reading one site of a store
touches only that site's bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InternalsError

DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so a reader (or a killed writer) sees the old file or the new one, never half."""
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Persist a rename in `path` (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode())


def write_shard(path: Path, arrays: dict[str, np.ndarray]) -> tuple[str, int]:
    """Write arrays as one safetensors file, atomically; returns (sha256 hex, size in bytes)."""
    from safetensors.numpy import save

    data = save({k: np.ascontiguousarray(v) for k, v in arrays.items()})
    atomic_write(path, data)
    return hashlib.sha256(data).hexdigest(), len(data)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_shard(path: Path, sha256: str, size: int) -> str | None:
    """None when the file is there with the recorded size and checksum, else what is wrong."""
    if not path.is_file():
        return "is missing"
    if path.stat().st_size != size:
        return f"has {path.stat().st_size} bytes, expected {size} (truncated or overwritten)"
    if sha256_file(path) != sha256:
        return "fails its sha256 checksum"
    return None


class Shard:
    """One safetensors file, its tensors mapped on demand."""

    def __init__(self, path: Path):
        self.path = path
        try:
            with open(path, "rb") as f:
                (n,) = struct.unpack("<Q", f.read(8))
                header = json.loads(f.read(n))
        except (OSError, struct.error, ValueError):
            raise InternalsError(
                f"store shard {path} is unreadable (missing, truncated or not safetensors): delete "
                "that file and run the same capture command again to re-capture its rows"
            ) from None
        header.pop("__metadata__", None)
        self.header = header
        self.data_start = 8 + n

    def names(self) -> list[str]:
        return list(self.header)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.header[name]["shape"])

    def array(self, name: str) -> np.ndarray:
        """The tensor `name` as a read-only memory map into the file."""
        info = self.header[name]
        dtype = DTYPES.get(info["dtype"])
        if dtype is None:
            raise InternalsError(f"{self.path}: tensor {name} has dtype {info['dtype']}, which this store cannot read")
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        if end == begin:
            return np.zeros(shape, dtype)
        return np.memmap(
            self.path, dtype=np.dtype(dtype).newbyteorder("<"), mode="r", offset=self.data_start + begin, shape=shape
        )


def append_jsonl(path: Path, entry: dict) -> None:
    """Append one line and fsync it, so a line once written survives a crash."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: Path) -> list[dict]:
    """Every complete line; a torn last line (a crash mid-append) is ignored, a bad line elsewhere is an error."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # no newline after it: the append never finished
                break
            raise InternalsError(
                f"{path}, line {i + 1} is not valid JSON: the store index is damaged; delete the store dir and capture again"
            ) from None
    return out


def rewrite_jsonl(path: Path, entries: list[dict]) -> None:
    """Replace an index with exactly `entries` (drops a torn tail and entries of lost shards)."""
    atomic_write(path, "".join(json.dumps(e) + "\n" for e in entries).encode())


def pad_concat(arrays: list[np.ndarray]) -> np.ndarray:
    """Concatenate along axis 0, zero-padding axis 1 (tokens) to the longest."""
    width = max(a.shape[1] for a in arrays)
    padded = [
        a if a.shape[1] == width else np.pad(a, [(0, 0), (0, width - a.shape[1])] + [(0, 0)] * (a.ndim - 2))
        for a in arrays
    ]
    return np.concatenate(padded)
