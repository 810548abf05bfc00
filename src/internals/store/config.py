"""What a store holds, and the hash that names its directory."""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

PACKAGES = ("internals", "torch", "transformers", "numpy", "safetensors", "transformer-lens", "nnsight")


@dataclass
class StoreConfig:
    """Everything that defines a store's arrays, plus what it was made with.

    Attributes:
        model: the model's `describe()` (name, path, model_type, n_layers, dtype, fingerprint).
        dataset: name, split, fingerprint (record content), n_rows, limit, seed, source and
            prompts_sha256 (the rendered prompts, i.e. dataset content + template + tokenizer).
        sites: expanded site names ("resid_post.0", ...), in forward order.
        reduce, span, template, max_tokens, backend: as given to `capture`.
        seed: the seed the dataset was drawn with.
        edits: `describe()` of the edits the capture ran under (its own and any attached to the
            model), tensors by digest; part of the identity, so a store is never resumed under others.
        versions: package versions; recorded, not hashed (a new torch does not move the store).
    """

    model: dict
    dataset: dict
    sites: list[str]
    reduce: str
    span: str = "all"
    template: str = "raw"
    max_tokens: int | None = None
    backend: str = "hooks"
    seed: int = 0
    versions: dict = field(default_factory=dict)
    edits: list = field(default_factory=list)

    def identity(self) -> dict:
        """The parts that determine the arrays: model weights, exact prompts, sites and reduction.

        The dataset's limit and seed are left out on purpose: the prompts' checksum already
        says exactly which rows were taken, so the same rows reached two ways share one store.
        """
        data = {k: self.dataset.get(k) for k in ("name", "split", "fingerprint", "n_rows", "prompts_sha256")}
        return {
            "model_fingerprint": self.model.get("fingerprint"),
            "dataset": data,
            "sites": list(self.sites),
            "reduce": self.reduce,
            "span": self.span,
            "template": self.template,
            "max_tokens": self.max_tokens,
            "backend": self.backend,
            # only when there are edits, so stores made without any keep their hash
            **({"edits": self.edits} if self.edits else {}),
        }

    def config_hash(self) -> str:
        """First 16 hex digits of the sha256 of `identity()` as canonical JSON."""
        canon = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canon.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict:
        return asdict(self)


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a capture depends on (None when not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def dataset_part(data: Any, prompts_sha: str, limit: int | None, seed: int) -> dict:
    """The manifest's dataset entry for a `Dataset` or a plain list of prompts."""
    is_dataset = hasattr(data, "fingerprint") and hasattr(data, "name")
    return {
        "name": data.name if is_dataset else None,
        "split": getattr(data, "split", None),
        "fingerprint": data.fingerprint if is_dataset else prompts_sha[:16],
        "source": getattr(data, "source", None),
        "n_rows": len(data),
        "limit": limit,
        "seed": seed,
        "prompts_sha256": prompts_sha,
    }
