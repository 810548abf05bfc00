"""nnsight 0.8 backend: `TransformersModel(model, tokenizer)` traced with `.output` / `.input`.

The reducer runs inside the trace body (nnsight 0.8 runs it interleaved with the real forward),
so only reduced tensors leave the trace. `remote=True` sends the same trace to NDIF
(https://nnsight.net), for models no local machine holds: the model is then named by its hub id
and only the request is built here. An NDIF API key comes from `api_key` or nnsight's config.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ...errors import InternalsError
from ..apply import Forward
from ..arch import architecture
from ..sites import Site, make_site


def _visit_order(sites: list[Site], plan) -> list[Site]:
    """Read and edited sites in forward order; a skipped block is visited in place of its sites."""
    from ..sites import Site as _Site

    wanted = set(sites) | (set(plan.by_site) if plan is not None else set())
    skipped = set(plan.skipped) if plan is not None else set()
    whole = {layer for layer in skipped if plan.skip_all(layer)}  # these blocks do not run: nothing inside is reached
    out = [
        s
        for s in wanted
        if not ((s.layer in whole and s.kind != "resid_pre") or (s.layer in skipped and s.kind == "resid_post"))
    ]
    out += [_Site(layer + (0.05 if layer in whole else 0.8), "skip", layer) for layer in skipped]
    return sorted(out)


def wrapped(lm):
    """The nnsight TransformersModel wrapping `lm`'s model (built on first use)."""
    if "nnsight" not in lm._backends:
        from nnsight.modeling.transformers import TransformersModel

        try:
            lm._backends["nnsight"] = TransformersModel(lm.model, tokenizer=lm.tokenizer)
        except Exception as err:  # noqa: BLE001 - nnsight raises many kinds for a model it cannot wrap
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
            raise InternalsError(
                f"the nnsight backend cannot wrap {type(lm.model).__name__}: {first} (use backend='hooks')"
            ) from None
    return lm._backends["nnsight"]


def _envoy(root, path: str):
    for part in path.split("."):
        root = getattr(root, part)
    return root


def _first(x):
    return x[0] if isinstance(x, (tuple, list)) else x


def _point(nn_model, arch, site: Site):
    """(envoy, "input" | "output") where a site lives."""
    if site.kind == "embed":
        return _envoy(nn_model, arch.embed_path), "output"
    if site.kind == "final_norm":
        return _envoy(nn_model, arch.norm_path), "output"
    if site.kind == "logits":
        return _envoy(nn_model, _lm_head_path(nn_model, arch)), "output"
    block = _envoy(nn_model, arch.layers_path)[site.layer]
    if site.kind == "resid_pre":
        return block, "input"
    if site.kind == "resid_post":
        return block, "output"
    if site.kind == "attn_in":
        if arch.attn_norm_name is None:  # no pre-norm: what attention reads
            return _envoy(block, arch.attn_name), "input"
        return _envoy(block, arch.attn_norm_name), "output"
    if site.kind == "mlp_in":
        if arch.mlp_norm_name is None:
            return _envoy(block, arch.mlp_name), "input"
        return _envoy(block, arch.mlp_norm_name), "output"
    if site.kind == "attn_out":
        return _envoy(block, arch.attn_out_name or arch.attn_name), "output"
    if site.kind == "mlp_out":
        return _envoy(block, arch.mlp_out_name or arch.mlp_name), "output"
    return _envoy(block, f"{arch.attn_name}.{arch.out_proj_name}"), "input"


def _lm_head_path(nn_model, arch) -> str:
    model = nn_model._module
    head = model.get_output_embeddings()
    return next(n for n, m in model.named_modules() if m is head)


def edit_site(nn_model, arch, site: Site, plan, forward):
    """Read a site inside a trace, apply the plan's edits to it, write it back; returns the value."""
    envoy, where = _point(nn_model, arch, site)
    raw = getattr(envoy, where)
    x = _first(raw)
    flat = arch.flat_mlp and site.kind in ("mlp_in", "mlp_out")
    if site.kind == "attn_z":
        x = x.reshape(*x.shape[:-1], arch.n_heads, arch.d_head)
    elif flat:  # OPT's MLP runs on [batch * tokens, d]
        x = x.view(-1, forward.tokens, x.shape[-1])
    if plan is None or site not in plan.by_site:
        return x
    new = plan.apply(site, x, forward)
    stored = new.flatten(-2) if site.kind == "attn_z" else new.reshape(-1, new.shape[-1]) if flat else new
    setattr(envoy, where, (stored, *raw[1:]) if isinstance(raw, tuple) else stored)
    return new


def skip_block(nn_model, arch, layer: int, plan, forward, x=None):
    """A skipped block: its output is its input (it does not run when every position is skipped),
    then the block's resid_post edits. Returns the resid_post value. x: the block's input if read."""
    block = _envoy(nn_model, arch.layers_path)[layer]
    x = block.input if x is None else x
    post = make_site("resid_post", layer)
    if plan.skip_all(layer):
        out = plan.apply(post, x, forward)
        block.skip(out)
        return out
    raw = block.output
    out = _first(raw)
    for b in plan.skipped[layer]:
        m = forward.mask(b.edit.positions, out)
        out = torch.where(m.unsqueeze(-1), x, out)
    out = plan.apply(post, out, forward)
    block.output = (out, *raw[1:]) if isinstance(raw, tuple) else out
    return out


def site_value(nn_model, arch, site: Site):
    """The traced value of a site inside an nnsight trace (must be read in forward order)."""
    if site.kind == "embed":
        return _envoy(nn_model, arch.embed_path).output
    if site.kind == "final_norm":
        return _envoy(nn_model, arch.norm_path).output
    block = _envoy(nn_model, arch.layers_path)[site.layer]
    if site.kind == "resid_pre":
        return block.input
    if site.kind == "resid_post":
        return _first(block.output)
    if site.kind == "attn_out":
        return _first(getattr(block, arch.attn_name).output)
    if site.kind == "mlp_out":
        return getattr(block, arch.mlp_name).output
    z = getattr(getattr(block, arch.attn_name), arch.out_proj_name).input
    return z.reshape(*z.shape[:-1], arch.n_heads, arch.d_head)


def remote_backend(lm, host: str | None = None, api_key: str | None = None, repo_id: str | None = None):
    """An nnsight RemoteBackend for NDIF, addressing the model by its hub id.

    repo_id: the model's id on the hub (default: `lm.name`, which is the hub id when the model was
    loaded by name). NDIF runs the trace on its copy of that model; nothing but the request leaves.
    """
    from nnsight.intervention.backends.remote import RemoteBackend

    nn_model = wrapped(lm)
    local_id = nn_model.repo_id
    nn_model.repo_id = repo_id or lm.name
    try:
        key = nn_model.to_model_key()
    finally:
        nn_model.repo_id = local_id
    return RemoteBackend(key, host=host, api_key=api_key)


def run(
    lm,
    batch,
    sites: list[Site],
    on_site: Callable,
    stop_block: int | None = None,
    remote: bool = False,
    host: str | None = None,
    api_key: str | None = None,
    repo_id: str | None = None,
    edits=None,
    forward: Forward | None = None,
) -> dict:
    """One traced forward, reading every site in forward order and reducing inside the trace.

    Returns site name -> reduced value. The values are `nnsight.save`d, so with remote=True they
    come back from NDIF the same way.
    """
    import nnsight

    nn_model = wrapped(lm)
    arch = architecture(lm.model)
    forward = forward or Forward()
    inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
    options = {"backend": remote_backend(lm, host, api_key, repo_id)} if remote else {}
    with torch.no_grad(), nn_model.trace(inputs, use_cache=False, **options) as tracer:
        reduced = nnsight.save({})
        reads = set(sites)
        values: dict = {}
        for site in _visit_order(sites, edits):
            if site.kind == "skip":
                layer = site.layer
                assert layer is not None  # a skip site names its block
                site = make_site("resid_post", layer)
                value = skip_block(nn_model, arch, layer, edits, forward, values.get(make_site("resid_pre", layer)))
            else:
                value = values[site] = edit_site(nn_model, arch, site, edits, forward)
            if site in reads:
                reduced[site.name] = on_site(site, value)
        if stop_block is not None:
            tracer.stop()
    return reduced
