"""Edits: writes to sites of the grammar, as data. The capture layer applies them; nothing else hooks.

    from internals import edits
    steer = edits.add("resid_post.4", vector, scale=16.0)        # every position of every forward
    ablate = edits.zero("attn_z.3", heads=[2, 5]) | edits.skip("block.12-13")
    with lm.edit(steer, ablate):                                  # generate's decode steps too
        text = lm.generate("Who wrote The Things They Carried?", max_new_tokens=12)
    acts = capture(lm, prompts, "resid_post.*", edits=[steer], backend="nnsight")
    steer.to_json()                                               # tensors as safetensors, never pickles

| edit                          | what the site's value becomes (at the chosen positions)          |
|-------------------------------|-------------------------------------------------------------------|
| `add(site, v, scale=1)`       | x + scale * v (v: [d], or [heads, d_head] / [d_head] with heads=) |
| `replace(site, value)`        | a tensor (broadcast over positions, or [n, tokens, ...] per row)  |
| `replace(site, fn)`           | fn(x) (any shape-keeping function; not saveable)                  |
| `zero(site, heads=None)`      | 0 (per head for attn_z)                                           |
| `mean_ablate(site, mean)`     | a mean activation (per head for attn_z); `mean_of` computes one   |
| `scale(site, factor)`         | x * factor (a number, or one per layer the site names: LNS)       |
| `skip("block.L")`             | the block's output is its input; with every position the block does not run |
| `patch(site, source)`         | the same site and positions of a stored run (`capture(..., reduce="none")`) |

Positions: "all" (default), a span as the reducers use them ("input", "output", "drop_last:N"),
explicit token indices (absolute positions: [3] or [-1] for the last prompt token), or a bool
mask [batch, tokens] (for batched patching). Sites: every site of the grammar
(`internals.capture.sites`), plus `block.L` for skip.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as _dc_replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import torch

from ..errors import InternalsError

if TYPE_CHECKING:
    import numpy as np

    from ..models import LoadedModel
    from .capture import Activations
    from .inputs import Prompt

OPS = ("add", "replace", "zero", "mean", "scale", "skip", "patch")
SPAN_NAMES = ("all", "input", "output")
Positions = str | Sequence[int] | torch.Tensor
# a vector or array an edit writes: a tensor, a numpy array or a list of numbers
Vector: TypeAlias = "torch.Tensor | np.ndarray | Sequence[float]"
# attn_z heads an edit touches: one index, several, or None for all
Heads: TypeAlias = "int | Sequence[int] | None"
# what `edits=` takes: None, an Edit, an EditSet, or a list of them
EditsLike: TypeAlias = "Edit | EditSet | Iterable[Edit | EditSet] | None"


@dataclass(frozen=True, eq=False)
class Edit:
    """One write: `op` at every site `site` names, at `positions`. Combine with `|` into an EditSet."""

    op: str
    site: str
    positions: Any = "all"
    heads: tuple[int, ...] | None = None
    scale: float = 1.0
    value: torch.Tensor | None = None
    factor: tuple[float, ...] | None = None
    fn: Callable | None = field(default=None, repr=False)
    source: Any = field(default=None, repr=False)  # patch: Activations of the clean run
    source_model: str | None = None
    source_lengths: tuple[int, ...] | None = None  # patch: real tokens per prompt of the clean run

    def __or__(self, other: EditsLike) -> EditSet:
        return EditSet([self]) | other

    def __iter__(self) -> Iterator[Edit]:
        return iter((self,))

    def to_dict(self) -> dict:
        """A JSON-able dict; tensors go in as base64 safetensors. Function edits cannot be saved."""
        if self.fn is not None:
            raise InternalsError(
                f"edit replace({self.site!r}, fn) holds a Python function and cannot be saved: "
                "replace by a tensor instead"
            )
        out: dict = {"op": self.op, "site": self.site, "positions": _positions_json(self.positions)}
        if self.heads is not None:
            out["heads"] = list(self.heads)
        if self.op == "add":
            out["scale"] = self.scale
        if self.factor is not None:
            out["factor"] = list(self.factor)
        tensors = {}
        if self.value is not None:
            tensors["value"] = self.value
        if self.op == "patch":
            tensors["source"] = self.source
            out["source_model"] = self.source_model
            out["source_lengths"] = list(self.source_lengths) if self.source_lengths is not None else None
        if tensors:
            from safetensors.torch import save

            out["tensors"] = base64.b64encode(
                save({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
            ).decode()
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def save(self, path: str | Path) -> Path:
        """Write this edit as a one-edit JSON file (`edits.load` reads it back)."""
        return EditSet([self]).save(path)

    def describe(self) -> dict:
        """What a manifest records: the edit without its tensors, with a digest of each."""
        out = {"op": self.op, "site": self.site, "positions": _positions_json(self.positions, digest=True)}
        if self.heads is not None:
            out["heads"] = list(self.heads)
        if self.op == "add":
            out["scale"] = self.scale
        if self.factor is not None:
            out["factor"] = list(self.factor)
        for name, t in (("value", self.value), ("source", self.source if self.op == "patch" else None)):
            if t is not None:
                out[f"{name}_sha256"] = _digest(t)
                out[f"{name}_shape"] = list(t.shape)
        if self.fn is not None:
            out["fn"] = getattr(self.fn, "__qualname__", repr(self.fn))
        if self.source_model:
            out["source_model"] = self.source_model
        return out


class EditSet(tuple):
    """An ordered tuple of Edits (applied in this order where two write one site)."""

    def __new__(cls, items: Iterable = ()) -> EditSet:
        flat: list[Edit] = []
        for item in items:
            if isinstance(item, Edit):
                flat.append(item)
            elif isinstance(item, (EditSet, list, tuple)):
                flat.extend(EditSet(item))
            else:
                raise InternalsError(f"not an edit: {item!r}: build edits with internals.edits (add, zero, skip, ...)")
        return super().__new__(cls, flat)

    def __or__(self, other: EditsLike) -> EditSet:
        return EditSet([*self, *EditSet(other if isinstance(other, (list, tuple)) else [other])])

    def to_json(self) -> str:
        return json.dumps([e.to_dict() for e in self])

    def describe(self) -> list[dict]:
        return [e.describe() for e in self]

    def digest(self) -> str:
        """A short hash of `describe()`: equal for the same edits, tensors included."""
        return hashlib.sha256(json.dumps(self.describe(), sort_keys=True).encode()).hexdigest()[:16]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json())
        return path


def as_edits(edits: EditsLike) -> EditSet:
    """None, an Edit, an EditSet or a list of them -> EditSet."""
    if edits is None:
        return EditSet()
    if isinstance(edits, Edit):
        return EditSet([edits])
    return EditSet(edits)


# -- constructors ------------------------------------------------------------------------------


def _vector(value: Any, what: str) -> torch.Tensor:
    try:
        t = torch.as_tensor(value.detach() if isinstance(value, torch.Tensor) else value)
    except Exception as err:  # noqa: BLE001 - any unconvertible input
        raise InternalsError(f"{what}: not a tensor or array ({type(value).__name__}): {err}") from None
    return t.float() if not t.is_floating_point() else t


def _heads(heads: Heads) -> tuple[int, ...] | None:
    if heads is None:
        return None
    if isinstance(heads, int):
        heads = [heads]
    return tuple(int(h) for h in heads)


def _check_positions(positions: Any) -> Any:
    if isinstance(positions, str):
        if positions in SPAN_NAMES or re.fullmatch(r"drop_last:\d+", positions):
            return positions
        raise InternalsError(
            f"unknown positions {positions!r}: use all, input, output, drop_last:N, token indices or a bool mask"
        )
    if isinstance(positions, torch.Tensor) and positions.dtype == torch.bool:
        return positions
    try:
        return tuple(int(p) for p in positions)
    except TypeError:
        return (int(positions),)


def add(site: str, vector: Vector, scale: float = 1.0, *, positions: Positions = "all", heads: Heads = None) -> Edit:
    """x + scale * vector at `site` (every layer it names). vector [d], or [d_head] / [heads, d_head] for attn_z."""
    return Edit(
        "add", site, _check_positions(positions), _heads(heads), float(scale), _vector(vector, f"add({site!r})")
    )


def replace(
    site: str,
    value: Vector | Callable[[torch.Tensor], torch.Tensor],
    *,
    positions: Positions = "all",
    heads: Heads = None,
) -> Edit:
    """The value becomes `value`: a tensor (broadcast, or [n, tokens, ...] indexed by row and position) or fn(x)."""
    if callable(value) and not isinstance(value, torch.Tensor):
        return Edit("replace", site, _check_positions(positions), _heads(heads), fn=value)
    return Edit("replace", site, _check_positions(positions), _heads(heads), value=_vector(value, f"replace({site!r})"))


def zero(site: str, *, heads: Heads = None, positions: Positions = "all") -> Edit:
    """Zero-ablate `site` (only `heads` of attn_z when given)."""
    return Edit("zero", site, _check_positions(positions), _heads(heads))


def mean_ablate(site: str, mean: Vector, *, heads: Heads = None, positions: Positions = "all") -> Edit:
    """Replace `site` by a mean activation ([d], or [heads, d_head] for attn_z); see `mean_of`."""
    return Edit("mean", site, _check_positions(positions), _heads(heads), value=_vector(mean, f"mean_ablate({site!r})"))


def scale(site: str, factor: float | Sequence[float], *, positions: Positions = "all") -> Edit:
    """Multiply `site` by `factor`: one number, or one per layer the site names (in layer order)."""
    factors = (float(factor),) if isinstance(factor, (int, float)) else tuple(float(f) for f in factor)
    return Edit("scale", site, _check_positions(positions), factor=factors)


def skip(blocks: str | Iterable[int], *, positions: Positions = "all") -> Edit | EditSet:
    """Skip decoder blocks ("block.12", "block.3-5", or a list of indices): output = input. With
    positions "all" the block does not run at all on the hooks and nnsight backends (it writes no
    KV cache: skip it at every decode step). An empty list is no edit."""
    if not isinstance(blocks, str):
        indices = sorted({_block_index(b) for b in blocks})
        if not indices:
            return EditSet()
        blocks = "block." + ",".join(str(i) for i in indices)
    if not blocks.startswith("block."):
        raise InternalsError(f"skip takes blocks, e.g. 'block.12' or 'block.3-5', not {blocks!r}")
    return Edit("skip", blocks, _check_positions(positions))


def _block_index(b: Any) -> int:
    if isinstance(b, bool) or not isinstance(b, int) or b < 0:
        raise InternalsError(f"block index {b!r} is not a layer number: pass 0-based block indices")
    return b


def patch(site: str, source: Activations | Vector, *, positions: Positions = "all") -> Edit:
    """Patch `site` from a stored run: `source` is the `capture(..., reduce="none")` result of the
    clean prompts (same number of prompts and tokens) or its tensor [n, tokens, *feature]."""
    model = getattr(source, "model", None)
    mask = getattr(source, "mask", None)
    lengths = tuple(int(n) for n in mask.sum(1)) if isinstance(mask, torch.Tensor) else None
    if hasattr(source, "reduce"):  # Activations, or anything shaped like it
        acts: Any = source
        if acts.reduce != "none":
            raise InternalsError(f"a patch source needs reduce='none' (per-token values), not {acts.reduce!r}")
        if site not in acts:
            raise InternalsError(f"the patch source has no site {site!r} (it has {', '.join(acts)}): capture that site")
        source = acts[site]
    return Edit(
        "patch",
        site,
        _check_positions(positions),
        source=_vector(source, f"patch({site!r})"),
        source_model=model,
        source_lengths=lengths,
    )


def layernorm_scaling(n_layers: int) -> EditSet:
    """LayerNorm Scaling ("The Curse of Depth in LLMs", the authors' NORM_TYPE=LNS): the outputs of
    block i's pre-attention and pre-MLP norms times 1/sqrt(i+1) (0-based i); the final norm untouched."""
    factors = [1.0 / (i + 1) ** 0.5 for i in range(n_layers)]
    return scale("attn_in.*", factors) | scale("mlp_in.*", factors)


def mean_of(lm: LoadedModel, prompts: Sequence[Prompt], site: str, **capture_options: Any) -> torch.Tensor:
    """The mean activation [*feature] of `site` over every token of `prompts` (for `mean_ablate`)."""
    from .capture import capture

    return capture(lm, prompts, site, reduce="stats", **capture_options)[site].mean


# -- JSON --------------------------------------------------------------------------------------


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def _positions_json(positions: Any, digest: bool = False) -> Any:
    if isinstance(positions, torch.Tensor):
        if digest:
            return {"mask_sha256": _digest(positions), "shape": list(positions.shape)}
        return {"mask": positions.int().tolist()}
    return positions if isinstance(positions, str) else list(positions)


def from_dict(d: dict) -> Edit:
    """An Edit from `Edit.to_dict()`."""
    if not isinstance(d, dict) or d.get("op") not in OPS or not isinstance(d.get("site"), str):
        raise InternalsError(f"not an edit: {str(d)[:80]!r} (each edit needs op in {', '.join(OPS)} and a site)")
    tensors = {}
    if "tensors" in d:
        from safetensors.torch import load

        try:
            tensors = load(base64.b64decode(d["tensors"]))
        except Exception as err:  # noqa: BLE001 - corrupt payload
            raise InternalsError(f"the tensors of edit {d['op']}({d['site']!r}) do not parse: {err}") from None
    pos = d.get("positions", "all")
    pos = torch.tensor(pos["mask"], dtype=torch.bool) if isinstance(pos, dict) else pos
    heads = _heads(d.get("heads"))
    factor = tuple(d["factor"]) if d.get("factor") is not None else None
    lengths = d.get("source_lengths")
    return Edit(
        d["op"],
        d["site"],
        _check_positions(pos),
        heads,
        float(d.get("scale", 1.0)),
        tensors.get("value"),
        factor,
        source=tensors.get("source"),
        source_model=d.get("source_model"),
        source_lengths=tuple(lengths) if lengths is not None else None,
    )


def from_json(text: str) -> EditSet:
    """An EditSet from `to_json()` text (one edit or a list)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InternalsError(
            f"edit file does not parse as JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    return EditSet([from_dict(d) for d in (data if isinstance(data, list) else [data])])


def load(path: str | Path) -> EditSet:
    """Edits saved with `EditSet.save` (or any `to_json()` text in a file)."""
    p = Path(path)
    if not p.is_file():
        raise InternalsError(f"edit file {p} does not exist")
    return from_json(p.read_text())


def with_positions(edit: Edit, positions: Positions) -> Edit:
    """A copy of `edit` acting at other positions."""
    return _dc_replace(edit, positions=_check_positions(positions))
