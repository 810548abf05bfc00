"""Edits bound to one model: checked once (sites, widths, heads), then applied by any backend.

`bind(model, edits)` resolves each edit's site spec to Sites and checks its tensors; a backend
calls `plan.apply(site, x, forward)` where it reads the site, and reads the returned value, so a
read sees the edits made before it in the forward. `Forward` says where the tokens of the
current forward sit (the position offset of a KV-cache step, the rows of a capture batch), which
positions other than "all" need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch

from ..errors import InternalsError
from .edits import Edit, EditSet, as_edits
from .sites import Site, make_site, parse_layers, parse_sites


@dataclass
class Forward:
    """Where the current forward's tokens are: `offset` (absolute position of its first token),
    `rows` (the batch's first row in the prompt list, for per-row tensors), `lengths` /
    `input_lengths` [batch] (real tokens and input tokens per row, when a capture batch is known),
    `prompt_length` (generation: the tokens of the forward at offset 0)."""

    offset: int = 0
    rows: int = 0
    lengths: torch.Tensor | None = None
    input_lengths: torch.Tensor | None = None
    prompt_length: int | None = None
    check: bool = False  # capture: a position past a prompt is an error
    tokens: int | None = None  # capture: the batch's (padded) width
    _masks: dict = field(default_factory=dict)

    def start(self, offset: int, tokens: int) -> None:
        """A new forward of `tokens` tokens at `offset` (generation steps)."""
        self.offset = offset
        if offset == 0:
            self.prompt_length = tokens
        self._masks.clear()

    def mask(self, positions, x: torch.Tensor) -> torch.Tensor | None:
        """[batch, tokens] bool of the positions to edit in x, or None for every position."""
        if isinstance(positions, str) and positions == "all":
            return None
        key = id(positions) if isinstance(positions, torch.Tensor) else positions
        cached = self._masks.get((key, x.shape[:2]))
        if cached is not None:
            return cached
        m = self._compute(positions, x.shape[0], x.shape[1], x.device)
        self._masks[(key, x.shape[:2])] = m
        return m

    def _absolute(self, n: int, device) -> torch.Tensor:
        return torch.arange(self.offset, self.offset + n, device=device)

    def _row_lengths(self, batch: int, device, which: str) -> torch.Tensor:
        lengths = self.input_lengths if which == "input" else self.lengths
        if lengths is None:
            lengths = torch.full((batch,), self.prompt_length if self.prompt_length is not None else 0)
        return lengths.to(device)

    def _compute(self, positions, batch: int, n: int, device) -> torch.Tensor:
        pos = self._absolute(n, device)[None, :].expand(batch, n)
        if isinstance(positions, torch.Tensor):
            rows = slice(self.rows, self.rows + batch)
            if positions.dim() != 2 or positions.shape[0] < self.rows + batch or positions.shape[1] < self.offset + n:
                raise InternalsError(
                    f"a position mask of shape {tuple(positions.shape)} does not cover rows "
                    f"{self.rows}-{self.rows + batch - 1} and positions 0-{self.offset + n - 1}"
                )
            return positions[rows, self.offset : self.offset + n].to(device)
        if isinstance(positions, str):
            inputs = self._row_lengths(batch, device, "input")[:, None]
            if positions == "input":
                return pos < inputs
            if positions == "output":
                return pos >= inputs
            m = re.fullmatch(r"drop_last:(\d+)", positions)
            assert m is not None  # Edit checked the spelling when it was made
            return pos < (inputs - int(m.group(1))).clamp(min=1)
        lengths = self._row_lengths(batch, device, "all")[:, None]
        out = torch.zeros(batch, n, dtype=torch.bool, device=device)
        for p in positions:
            target = lengths + p if p < 0 else torch.full_like(lengths, p)
            if self.check and bool(((target >= lengths) | (target < 0)).any()):
                short = int(lengths.min())
                raise InternalsError(
                    f"edit position {p} is past the prompt: the shortest prompt here has {short} tokens "
                    f"(positions 0-{short - 1}, or -1 for the last)"
                )
            out |= pos == target
        return out


@dataclass
class Bound:
    """One edit at one site, its tensors checked and moved to the model's device and dtype."""

    edit: Edit
    site: Site
    value: torch.Tensor | None = None
    factor: float = 1.0
    head_mask: torch.Tensor | None = None  # [heads] bool, attn_z only

    def to(self, device, dtype) -> None:
        if self.value is not None and (self.value.device != device or self.value.dtype != dtype):
            self.value = self.value.to(device, dtype)
        if self.head_mask is not None:
            self.head_mask = self.head_mask.to(device)

    def new_value(self, x: torch.Tensor, forward: Forward) -> torch.Tensor:
        op = self.edit.op
        if op == "scale":
            return x * self.factor
        if op == "zero":
            return torch.zeros_like(x)
        if op == "replace" and self.edit.fn is not None:
            new = self.edit.fn(x)
            if not isinstance(new, torch.Tensor) or new.shape != x.shape:
                raise InternalsError(
                    f"replace({self.site.name!r}, fn): fn must return a tensor of shape {tuple(x.shape)}"
                )
            return new
        value = self.value
        if value is None:  # bind() gives every add / replace / patch its tensor
            raise InternalsError(f"{op} at {self.site.name} has no value: give the edit a tensor")
        if op == "add":
            return x + value
        if value.dim() == x.dim():  # per row and position: [n, tokens, *feature] ([1, ...]: the same for every row)
            b, n = x.shape[:2]
            self._check_lengths(forward, b)
            rows = slice(0, 1) if value.shape[0] == 1 else slice(forward.rows, forward.rows + b)
            if (value.shape[0] != 1 and value.shape[0] < forward.rows + b) or value.shape[1] < forward.offset + n:
                raise InternalsError(
                    f"{op} at {self.site.name}: the stored values {tuple(value.shape)} do not cover rows "
                    f"{forward.rows}-{forward.rows + b - 1} and positions 0-{forward.offset + n - 1}: "
                    "patch between runs of the same prompts and lengths"
                )
            value = value[rows, forward.offset : forward.offset + n]
        return value.expand_as(x) if value.shape != x.shape else value

    def _check_lengths(self, forward: Forward, b: int) -> None:
        want, have = self.edit.source_lengths, forward.lengths
        if want is None or have is None or not forward.check:
            return
        for i in range(b):
            row = forward.rows + i
            if row < len(want) and want[row] != int(have[i]):
                raise InternalsError(
                    f"patch at {self.site.name}: prompt {row} has {int(have[i])} tokens but the patch source's "
                    f"has {want[row]}: patch between runs of the same prompts and lengths"
                )

    def apply(self, x: torch.Tensor, forward: Forward) -> torch.Tensor:
        new = self.new_value(x, forward)
        if self.head_mask is not None:
            new = torch.where(self.head_mask[:, None], new, x)
        mask = forward.mask(self.edit.positions, x)
        if mask is not None:
            new = torch.where(mask.reshape(mask.shape + (1,) * (x.dim() - 2)), new, x)
        return new


@dataclass
class Plan:
    """Bound edits by site (in the order given), and the blocks skipped at every position."""

    by_site: dict[Site, list[Bound]]
    skipped: dict[int, list[Bound]]
    edits: EditSet

    @property
    def empty(self) -> bool:
        return not self.by_site and not self.skipped

    @property
    def positional(self) -> bool:
        """Whether some edit needs to know the positions of a forward."""
        bounds = [b for v in (*self.by_site.values(), *self.skipped.values()) for b in v]
        return any(
            not (isinstance(b.edit.positions, str) and b.edit.positions == "all")
            or (b.value is not None and b.value.dim() >= 3 and b.edit.op in ("replace", "patch"))
            for b in bounds
        )

    def sites(self) -> list[Site]:
        return sorted(self.by_site)

    def apply(self, site: Site, x: torch.Tensor, forward: Forward) -> torch.Tensor:
        for bound in self.by_site.get(site, ()):
            bound.to(x.device, x.dtype)
            x = bound.apply(x, forward)
        return x

    def skip_all(self, layer: int) -> bool:
        """Whether block `layer` is skipped at every position (it need not run)."""
        return any(b.edit.positions == "all" for b in self.skipped.get(layer, ()))


def bind(model: torch.nn.Module, edits, fingerprint: str | None = None) -> Plan:
    """Resolve and check `edits` for `model`; raises InternalsError in one line for a bad edit."""
    from .arch import architecture

    arch = architecture(model)
    edit_set = as_edits(edits)
    by_site: dict[Site, list[Bound]] = {}
    skipped: dict[int, list[Bound]] = {}
    for edit in edit_set:
        if edit.op == "skip":
            _, _, layers = edit.site.partition(".")
            for layer in parse_layers(layers, arch.n_layers, edit.site):
                skipped.setdefault(layer, []).append(Bound(edit, make_site("resid_post", layer)))
            continue
        if edit.op == "patch" and fingerprint and edit.source_model and edit.source_model != fingerprint:
            raise InternalsError(
                f"patch source for {edit.site} was captured from another model (fingerprint "
                f"{edit.source_model}, this model {fingerprint}): capture the clean run with this model"
            )
        sites = parse_sites(edit.site, arch.n_layers)
        if edit.factor is not None and len(edit.factor) not in (1, len(sites)):
            raise InternalsError(
                f"scale({edit.site!r}) has {len(edit.factor)} factors for {len(sites)} sites: give one, or one per site"
            )
        for i, site in enumerate(sites):
            by_site.setdefault(site, []).append(_bind_one(edit, site, arch, i))
    return Plan(by_site, skipped, edit_set)


def _feature_shape(site: Site, arch, model) -> tuple[int, ...]:
    if site.kind == "attn_z":
        return (arch.n_heads, arch.d_head)
    if site.kind == "logits":
        return (model.get_output_embeddings().weight.shape[0],)
    return (arch.d_model,)


def _bind_one(edit: Edit, site: Site, arch, index: int) -> Bound:
    from .arch import _get  # noqa: F401 - keeps arch helpers in one place

    bound = Bound(edit, site)
    if edit.factor is not None:
        bound.factor = edit.factor[index if len(edit.factor) > 1 else 0]
    heads = edit.heads
    if heads is not None:
        if site.kind != "attn_z":
            raise InternalsError(f"heads= applies to attn_z sites only, not {site.name}")
        bad = [h for h in heads if not 0 <= h < arch.n_heads]
        if bad:
            raise InternalsError(
                f"head {bad[0]} out of range at {site.name}: this model has {arch.n_heads} heads (0-{arch.n_heads - 1})"
            )
        bound.head_mask = torch.zeros(arch.n_heads, dtype=torch.bool)
        bound.head_mask[list(heads)] = True
    tensor = edit.source if edit.op == "patch" else edit.value
    if tensor is not None:
        bound.value = _shape_value(edit, site, arch, tensor)
    return bound


def _shape_value(edit: Edit, site: Site, arch, t: torch.Tensor) -> torch.Tensor:
    """The edit's tensor shaped to broadcast over the site: [*feature], or [n, tokens, *feature]."""
    what = f"{edit.op}({edit.site!r})"
    if site.kind == "attn_z":
        h, d = arch.n_heads, arch.d_head
        if t.dim() >= 3 and t.shape[-2:] == (h, d):
            value = t
        elif t.dim() >= 3 and t.shape[-1] == h * d:
            value = t.unflatten(-1, (h, d))
        elif t.shape == (h, d):
            value = t
        elif t.dim() == 1 and t.shape[0] == h * d:
            value = t.view(h, d)
        elif t.dim() == 1 and t.shape[0] == d:
            value = t.expand(h, d)
        elif edit.heads is not None and t.shape == (len(edit.heads), d):
            value = torch.zeros(h, d, dtype=t.dtype)
            value[list(edit.heads)] = t
        else:
            raise InternalsError(
                f"{what}: a tensor of shape {tuple(t.shape)} does not fit {site.name} "
                f"({h} heads x {d}: give [{d}], [{h}, {d}] or [{h * d}])"
            )
    else:
        width = arch.d_model if site.kind != "logits" else None
        if width is not None and t.shape[-1] != width:
            raise InternalsError(f"{what}: the vector has width {t.shape[-1]} but {site.name} has width {width}")
        if t.dim() == 2:
            raise InternalsError(
                f"{what}: give a vector [{t.shape[-1]}] or per-row values [n, tokens, {t.shape[-1]}], "
                f"not {tuple(t.shape)}"
            )
        value = t
    if edit.op == "add":
        value = value * edit.scale
    return value
