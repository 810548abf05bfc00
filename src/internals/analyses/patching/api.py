"""`internals.patch`: the next-token logits of prompts with one site restored from a stored run."""

from __future__ import annotations

import torch

from ... import edits
from ...capture import capture
from ...errors import InternalsError


def patch(lm, prompts, source, site: str, positions="all", *, batch_size: int = 8) -> torch.Tensor:
    """Logits [n, vocab] at each prompt's last token with `site` patched from `source`.

    source: the `capture(lm, clean_prompts, site, reduce="none")` result of prompts with the same
        number of tokens (or its tensor [n, tokens, *feature]);
    site: a site of the grammar, e.g. "resid_post.5" or "mlp_out.3"; a spec of several layers
        ("attn_out.2-4") patches each layer from the source's value at that layer;
    positions: "all", token indices ([3], [-1]) or a bool mask [n, tokens] (see `internals.edits`).

        clean = capture(lm, ["The capital of France is"], "resid_post.*", reduce="none")
        logits = patch(lm, ["The capital of Spain is"], clean, "resid_post.4", positions=[3])  # " France" -> " Spain"
    """
    if isinstance(prompts, str):
        prompts = [prompts]
    if not isinstance(site, str) or not site:
        raise InternalsError(f"patch needs one site name such as 'resid_post.5', got {site!r}")
    if hasattr(source, "reduce"):  # stored Activations hold one tensor per layer: one patch edit each
        from ...capture.capture import resolve_sites

        todo = [edits.patch(s.name, source, positions=positions) for s in resolve_sites(lm, site)]
    else:
        todo = [edits.patch(site, source, positions=positions)]
    return capture(lm, prompts, "logits", reduce="last", edits=todo, batch_size=batch_size)["logits"]
