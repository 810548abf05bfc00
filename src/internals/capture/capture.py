"""`capture()`: the one call that runs a model over prompts and returns reduced hidden states."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import InternalsError
from .apply import Forward, Plan
from .backends import get_backend
from .backends.hooks import suspended
from .edits import as_edits
from .inputs import Batch, Prompt, encode
from .reducers import Moments, reducer
from .sites import Site, SiteSpecs, parse_sites, stop_block

if TYPE_CHECKING:
    from ..models import LoadedModel
    from .edits import EditsLike


class Activations(dict):
    """site name -> array, in the order the forward reaches the sites.

    Per reducer: `mean`/`last` -> [n, *feature]; `none` -> [n, tokens, *feature] and `norm` ->
    [n, tokens(, heads)], zero at padding, with `mask` [n, tokens] marking the real tokens of
    the span; `stats` -> a Moments (count, mean, var) per site over all tokens of all prompts.
    """

    def __init__(
        self,
        data: dict,
        reduce: str,
        mask: torch.Tensor | None = None,
        model: LoadedModel | str | None = None,
        edits: list | None = None,
    ) -> None:
        super().__init__(data)
        self.reduce = reduce
        self.mask = mask
        self._model = model  # a fingerprint, or the LoadedModel whose fingerprint is taken when first asked
        self.edits = edits or []  # describe() of the edits applied while capturing

    @property
    def model(self) -> str | None:
        """The fingerprint of the model that made these arrays (a patch source is checked against it)."""
        if self._model is not None and not isinstance(self._model, str):
            self._model = self._model.fingerprint
        return self._model

    def numpy(self) -> dict[str, np.ndarray]:
        """site -> the same array as numpy (every reducer but stats)."""
        return {k: v.numpy() for k, v in self.items() if isinstance(v, torch.Tensor)}


def capture(
    lm: LoadedModel,
    prompts: Sequence[Prompt] | str,
    sites: SiteSpecs,
    reduce: str = "mean",
    *,
    span: str = "all",
    backend: str = "hooks",
    batch_size: int = 8,
    stop_early: bool = True,
    max_tokens: int | None = None,
    progress: bool = False,
    edits: EditsLike = None,
    **backend_options: Any,
) -> Activations:
    """Run `lm` over `prompts` and return the reduced hidden states at `sites`.

    prompts: strings, token-id lists, or (input, output) pairs (span "input"/"output" pick a part).
    sites: site specs such as "resid_post.*", "attn_z.3-5", "embed" (see `internals.capture.sites`).
    reduce: none | mean | last | norm | stats, applied inside the hook.
    span: which real tokens the reducer sees: all | input | output | drop_last:N.
    backend: hooks (plain torch hooks) | transformer_lens | nnsight (nnsight also takes remote=True).
    stop_early: end the forward after the last block any site needs.
    edits: an Edit, EditSet or list (`internals.edits`) applied in the same forward; every site is
        read after the edits the forward makes before it. Edits attached with `lm.edit(...)` apply too.
    """
    if isinstance(prompts, str):
        prompts = [prompts]
    if len(prompts) == 0:
        raise InternalsError("no prompts given: pass a list of strings, token-id lists or (input, output) pairs")
    site_list = resolve_sites(lm, sites)
    run = get_backend(backend)
    reduce_fn = reducer(reduce)
    if batch_size < 1:
        raise InternalsError(f"batch_size must be >= 1, got {batch_size}")
    plan = edit_plan(lm, edits, backend)
    stop = stop_block(site_list) if stop_early else None
    with _untouched(lm), suspended(lm.model) if backend == "nnsight" else nullcontext():
        return _capture(
            lm,
            prompts,
            site_list,
            reduce,
            reduce_fn,
            span,
            run,
            batch_size,
            stop,
            max_tokens,
            progress,
            plan,
            edits,
            backend_options,
        )


def _capture(
    lm: LoadedModel,
    prompts: Sequence[Prompt],
    site_list: list[Site],
    reduce: str,
    reduce_fn: Callable,
    span: str,
    run: Callable,
    batch_size: int,
    stop: int | None,
    max_tokens: int | None,
    progress: bool,
    plan: Plan | None,
    edits: EditsLike,
    backend_options: dict[str, Any],
) -> Activations:
    parts: dict[str, list] = {s.name: [] for s in site_list}
    moments = {s.name: Moments() for s in site_list}
    masks = []
    starts = range(0, len(prompts), batch_size)
    for start in tqdm(starts, desc="capture", unit="batch", disable=not progress):
        batch = encode(lm.tokenizer, prompts[start : start + batch_size], span, max_tokens).to(lm.device)
        forward = Forward(0, start, batch.lengths, batch.input_lengths, check=True, tokens=batch.input_ids.shape[1])
        out = run_batch(
            lm, batch, site_list, reduce, reduce_fn, run, stop, {**backend_options, "edits": plan, "forward": forward}
        )
        for name, value in out.items():
            if reduce == "stats":
                moments[name] = moments[name].merge(value)
            else:
                parts[name].append(value)
        masks.append(batch.span_mask.cpu())
    # the fingerprint (identifying a patch source) is computed only when asked for
    model = lm._fingerprint or lm
    described = as_edits(edits).describe() + attached_described(lm)
    if reduce == "stats":
        return Activations({k: m.cpu() for k, m in moments.items()}, reduce, model=model, edits=described)
    if reduce in ("none", "norm"):
        padded = {k: _pad_cat(v) for k, v in parts.items()}
        return Activations(padded, reduce, _pad_cat(masks), model=model, edits=described)
    return Activations({k: _cat(v) for k, v in parts.items()}, reduce, model=model, edits=described)


@contextmanager
def _untouched(lm: LoadedModel) -> Iterator[None]:
    """Leave the user's tokenizer and model as they were: a backend may change them (nnsight sets the
    tokenizer's padding_side to "left"), and our batches are right-padded on purpose."""
    tok, model = lm.tokenizer, lm.model
    before = (
        tok.padding_side,
        getattr(tok, "truncation_side", None),
        model.training,
        getattr(model.config, "_attn_implementation", None),
    )
    try:
        yield
    finally:
        tok.padding_side = before[0]
        if before[1] is not None:
            tok.truncation_side = before[1]
        if model.training != before[2]:  # train() walks every module (~1 ms on SmolLM2): only when changed
            model.train(before[2])
        if before[3] is not None and getattr(model.config, "_attn_implementation", None) != before[3]:
            model.config._attn_implementation = before[3]


def attached_described(lm: LoadedModel) -> list:
    """describe() of the edits attached to `lm`'s model now (lm.edit, LayerNorm Scaling)."""
    from .backends.hooks import attached

    return [e.describe() for e in attached(lm.model)]


def edit_plan(lm: LoadedModel, edits: EditsLike, backend: str) -> Plan | None:
    """The bound edits a backend applies itself (None: none). The hooks and nnsight backends run
    `lm.model`, on which attached edits already act; TransformerLens runs its own copy, so they
    are passed to it as well."""
    from .apply import bind
    from .backends.hooks import attached
    from .edits import as_edits

    chosen = as_edits(edits)
    if backend in ("transformer_lens", "nnsight"):
        chosen = as_edits(attached(lm.model)) | chosen
    if not chosen:
        return None
    return bind(lm.model, chosen, fingerprint=lm.fingerprint if any(e.op == "patch" for e in chosen) else None)


def resolve_sites(lm: LoadedModel, sites: SiteSpecs) -> list[Site]:
    """The Sites that `sites` names on `lm`, in forward order."""
    from .arch import architecture

    if sites and isinstance(sites, (list, tuple)) and isinstance(sites[0], Site):
        return sorted(sites)
    n_layers = architecture(lm.model).n_layers
    if isinstance(sites, str) or (isinstance(sites, (list, tuple)) and all(isinstance(s, str) for s in sites)):
        return list(_parsed(sites if isinstance(sites, str) else tuple(sites), n_layers))
    return parse_sites([str(s) for s in sites], n_layers)  # raises for what is not a site spec


@lru_cache(maxsize=256)
def _parsed(specs: str | tuple[str, ...], n_layers: int) -> tuple[Site, ...]:
    """parse_sites, memoised: capture is called per prompt batch in loops, with the same specs."""
    return tuple(parse_sites(specs if isinstance(specs, str) else list(specs), n_layers))


def run_batch(
    lm: LoadedModel,
    batch: Batch,
    sites: list[Site],
    reduce: str,
    reduce_fn: Callable,
    run: Callable,
    stop: int | None,
    options: dict[str, Any],
) -> dict:
    """One forward over one batch; returns site name -> reduced tensor on the CPU (or Moments)."""
    out: dict = {}

    def on_site(site: Site, x: torch.Tensor) -> torch.Tensor | Moments:
        value = Moments().add(x, batch.span_mask) if reduce == "stats" else reduce_fn(x, batch.span_mask)
        out[site.name] = value
        return value

    returned = run(lm, batch, sites, on_site, stop, **options)
    if returned:  # nnsight hands back its saved values (the only way they return from NDIF)
        out.update(returned)
    missing = [s.name for s in sites if s.name not in out]
    plan = options.get("edits")
    inside = [
        m
        for m in missing
        if plan is not None and any(m.endswith(f".{layer}") and plan.skip_all(layer) for layer in plan.skipped)
    ]
    if inside:
        raise InternalsError(
            f"sites {', '.join(inside)} are inside blocks that are skipped (they do not run): "
            "read resid_pre / resid_post around them"
        )
    if missing:
        raise InternalsError(
            f"sites {', '.join(missing)} were never reached in the forward: is the model's layout supported?"
        )
    if reduce == "stats":
        return out
    return _to_cpu(out)


_ONE_TRANSFER_BYTES = 64 * 2**20


def _to_cpu(out: dict) -> dict:
    """The reduced values on the CPU; small ones from a GPU in one transfer (one sync per batch, not
    one per site). Large ones (reduce none) go one by one rather than be copied twice on the GPU."""
    values = [v.detach() if v.requires_grad else v for v in out.values()]
    if all(v.device.type == "cpu" for v in values):
        return dict(zip(out, values))
    small = sum(v.numel() * v.element_size() for v in values) <= _ONE_TRANSFER_BYTES
    if len({v.dtype for v in values}) > 1 or not small:
        return {k: v.cpu() for k, v in zip(out, values)}
    flat = torch.cat([v.reshape(-1) for v in values]).cpu()
    # clone: each site gets its own storage (safetensors refuses tensors that share one)
    return {k: part.view(v.shape).clone() for k, part, v in zip(out, flat.split([v.numel() for v in values]), values)}


def _cat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors)  # one batch: no copy


def _pad_cat(tensors: list[torch.Tensor]) -> torch.Tensor:
    if len(tensors) == 1:
        return tensors[0]
    width = max(t.shape[1] for t in tensors)
    padded = [torch.nn.functional.pad(t, (0, 0) * (t.dim() - 2) + (0, width - t.shape[1])) for t in tensors]
    return torch.cat(padded)
