"""Check, on one short forward, that the sites of a loaded model mean what the grammar says.

`load_model` runs `validate(lm)` (one forward of a dozen tokens; `validate=False` skips it), in
the spirit of nnterp's structure checks and TransformerLens's adapter benchmarks: a family whose
modules do not compose as the site table says is refused in one line naming the site and the
size of the mismatch, instead of giving arrays that silently mean something else (Bloom's
modules, for example, add the residual inside). The identities, per block L:

| check | sequential block | parallel block |
|---|---|---|
| `resid_post.L` | resid_pre + P_attn(attn_out) + P_mlp(mlp_out) | the same |
| `attn_out.L` | o_proj(attn_z) | the same |
| `attn_in.L` | attn_norm(resid_pre) (or resid_pre without a pre-norm) | the same |
| `mlp_in.L` | mlp_norm(resid_pre + P_attn(attn_out)) | mlp_norm(resid_pre), or attn_in without its own norm |

P_attn / P_mlp are the family's post-norms (Gemma 2/3, OLMo 2), identity elsewhere, times the
config's `residual_multiplier` where it has one (Granite). Also `resid_post.L` = HF's hidden state
L+1 (L < last), `final_norm` = HF's last hidden state = final norm(last resid_post), and
`resid_pre.0` (and `embed`, unless learned positions are added after it) = HF's first hidden state.
"""

from __future__ import annotations

import torch

from ..errors import InternalsError
from .arch import architecture

TEXT = "The quick brown fox jumps over the lazy dog because"
SITES = [
    "embed",
    "resid_pre.*",
    "attn_in.*",
    "attn_z.*",
    "attn_out.*",
    "mlp_in.*",
    "mlp_out.*",
    "resid_post.*",
    "final_norm",
]


def _tolerance(dtype: torch.dtype) -> float:
    return 1e-4 if dtype == torch.float32 or dtype == torch.float64 else 3e-2


class _Checker:
    def __init__(self, name: str, dtype: torch.dtype):
        self.name, self.rtol = name, _tolerance(dtype)
        self.worst: dict[str, float] = {}

    def __call__(self, site: str, what: str, got: torch.Tensor, want: torch.Tensor) -> None:
        got, want = got.detach().float().cpu(), want.detach().float().cpu()
        if got.shape != want.shape:
            raise InternalsError(
                f"{self.name}: {site} has shape {tuple(got.shape)} where {what} has {tuple(want.shape)}: "
                "the site does not mean what the grammar says for this model, so it is refused "
                "(load_model(..., validate=False) skips this check)"
            )
        scale = float(want.abs().max().clamp(min=1.0))
        diff = float((got - want).abs().max())
        self.worst[site.split(".")[0]] = max(self.worst.get(site.split(".")[0], 0.0), diff / scale)
        if diff > self.rtol * scale:
            raise InternalsError(
                f"{self.name}: {site} differs from {what} by {diff:.3g} (largest value {scale:.3g}): the site "
                "does not mean what the grammar says for this model, so it is refused "
                "(load_model(..., validate=False) skips this check)"
            )


@torch.no_grad()
def validate(lm, text: str = TEXT) -> dict[str, float]:
    """Run the checks on `text`; returns site kind -> worst relative difference. Raises InternalsError."""
    from .capture import capture

    model = lm.model
    arch = architecture(model)
    name = type(model).__name__
    ids = lm.tokenizer(text)["input_ids"][:12] or [0, 1, 2]
    check = _Checker(name, next(model.parameters()).dtype)
    acts = capture(lm, [ids], SITES, reduce="none", stop_early=False)
    hs = model(
        input_ids=torch.tensor([ids], device=lm.device), output_hidden_states=True, use_cache=False
    ).hidden_states
    a = {k: v[0].to(lm.device) for k, v in acts.items()}
    mult = float(getattr(getattr(model.config, "text_config", None) or model.config, "residual_multiplier", 1.0) or 1.0)
    check("resid_pre.0", "HF's first hidden state", a["resid_pre.0"], hs[0][0])
    if not arch.absolute_positions:
        check("embed", "HF's first hidden state", a["embed"], hs[0][0])
    n = arch.n_layers
    for layer in range(n):
        _block(lm, arch, check, a, layer, mult)
        if layer < n - 1:
            check(f"resid_post.{layer}", f"HF's hidden state {layer + 1}", a[f"resid_post.{layer}"], hs[layer + 1][0])
    final = arch.module(model, "final_norm", None)
    check("final_norm", "the final norm of the last resid_post", a["final_norm"], final(a[f"resid_post.{n - 1}"]))
    check("final_norm", "HF's last hidden state", a["final_norm"], hs[n][0])
    return check.worst


def _post(arch, model, kind: str, layer: int, x: torch.Tensor, mult: float) -> torch.Tensor:
    name = arch.post_attn_norm_name if kind == "attn" else arch.post_mlp_norm_name
    y = arch.module(model, f"post_{kind}_norm", layer)(x) if name else x
    return y * mult


def _block(lm, arch, check, a: dict, layer: int, mult: float) -> None:
    model, L = lm.model, layer
    pre, attn_out, mlp_out = a[f"resid_pre.{L}"], a[f"attn_out.{L}"], a[f"mlp_out.{L}"]
    p_attn, p_mlp = _post(arch, model, "attn", L, attn_out, mult), _post(arch, model, "mlp", L, mlp_out, mult)
    check(
        f"resid_post.{L}",
        f"resid_pre.{L} + attn_out.{L} + mlp_out.{L}" + (" (post-norms applied)" if arch.post_mlp_norm_name else ""),
        a[f"resid_post.{L}"],
        pre + p_attn + p_mlp,
    )
    if arch.attn_out_name in ("", arch.attn_name):
        out_proj = arch.module(model, "out_proj", L)
        check(f"attn_out.{L}", f"o_proj(attn_z.{L})", attn_out, out_proj(a[f"attn_z.{L}"].flatten(-2)))
    if arch.attn_norm_name:
        check(f"attn_in.{L}", f"attn_norm(resid_pre.{L})", a[f"attn_in.{L}"], arch.module(model, "attn_norm", L)(pre))
    else:
        check(f"attn_in.{L}", f"resid_pre.{L}", a[f"attn_in.{L}"], pre)
    if arch.mlp_norm_name:
        source = pre if arch.parallel else pre + p_attn
        what = f"mlp_norm(resid_pre.{L})" if arch.parallel else f"mlp_norm(resid_pre.{L} + attn_out.{L})"
        check(f"mlp_in.{L}", what, a[f"mlp_in.{L}"], arch.module(model, "mlp_norm", L)(source))
    elif arch.parallel:
        check(f"mlp_in.{L}", f"attn_in.{L}", a[f"mlp_in.{L}"], a[f"attn_in.{L}"])
    else:
        check(f"mlp_in.{L}", f"resid_pre.{L} + attn_out.{L}", a[f"mlp_in.{L}"], pre + p_attn)
