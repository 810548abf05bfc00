"""nnsight 0.8 backend: `TransformersModel(model, tokenizer)` traced with `.output` / `.input`.

The reducer runs inside the trace body (nnsight 0.8 runs it interleaved with the real forward),
so only reduced tensors leave the trace. `remote=True` sends the same trace to NDIF
(https://nnsight.net), for models no local machine holds: the model is then named by its hub id
and only the request is built here. An NDIF API key comes from `api_key` or nnsight's config.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..arch import architecture
from ..sites import Site


def wrapped(lm):
    """The nnsight TransformersModel wrapping `lm`'s model (built on first use)."""
    if "nnsight" not in lm._backends:
        from nnsight.modeling.transformers import TransformersModel

        lm._backends["nnsight"] = TransformersModel(lm.model, tokenizer=lm.tokenizer)
    return lm._backends["nnsight"]


def _envoy(root, path: str):
    for part in path.split("."):
        root = getattr(root, part)
    return root


def _first(x):
    return x[0] if isinstance(x, (tuple, list)) else x


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


def run(lm, batch, sites: list[Site], on_site: Callable, stop_block: int | None = None, remote: bool = False,
        host: str | None = None, api_key: str | None = None, repo_id: str | None = None) -> dict:
    """One traced forward, reading every site in forward order and reducing inside the trace.

    Returns site name -> reduced value. The values are `nnsight.save`d, so with remote=True they
    come back from NDIF the same way.
    """
    import nnsight

    nn_model = wrapped(lm)
    arch = architecture(lm.model)
    inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
    options = {"backend": remote_backend(lm, host, api_key, repo_id)} if remote else {}
    with torch.no_grad(), nn_model.trace(inputs, use_cache=False, **options) as tracer:
        reduced = nnsight.save({})
        for site in sites:
            reduced[site.name] = on_site(site, site_value(nn_model, arch, site))
        if stop_block is not None:
            tracer.stop()
    return reduced
