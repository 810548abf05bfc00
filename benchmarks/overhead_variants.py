"""The variants `capture_overhead.py` times: a plain forward (or `generate`) and each capture backend.

Each variant is a zero-argument callable over fixed inputs. The decode variants are validated on
their warm-up call, and dropped with a reason when they do not compute what HF's greedy
`generate` computes (the reason goes into the result file instead of a number).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from internals.capture import capture
from internals.capture.arch import architecture
from internals.capture.record import record
from internals.capture.reducers import reducer
from internals.capture.sites import parse_sites

VARIANTS = ("plain", "hooks", "transformer_lens", "nnsight")
BACKENDS = VARIANTS[1:]


@dataclass
class Inputs:
    ids: torch.Tensor  # [batch, tokens] random token ids, on the model's device
    mask: torch.Tensor  # [batch, tokens] all ones (no padding: every variant sees the same tokens)
    lists: list[list[int]]  # the same ids as lists, what `capture` takes


def make_inputs(lm, regime, seed: int) -> Inputs:
    """Seeded random token ids below the model's vocabulary (also when the tokenizer's is smaller)."""
    g = torch.Generator().manual_seed(seed)
    vocab = lm.model.config.vocab_size
    ids = torch.randint(0, vocab, (regime.batch, regime.tokens), generator=g)
    return Inputs(ids.to(lm.device), torch.ones_like(ids).to(lm.device), ids.tolist())


def sites_for(lm, regime) -> str:
    return f"resid_post.{lm.n_layers // 2}" if regime.mid_stop else "resid_post.*"


def forward_calls(lm, regime, x: Inputs) -> dict[str, Callable]:
    model, sites = lm.model, sites_for(lm, regime)

    def plain():
        with torch.no_grad():
            return model(input_ids=x.ids, attention_mask=x.mask, use_cache=False).logits.shape

    def backend(name):
        return lambda: capture(
            lm, x.lists, sites, regime.reduce, backend=name, batch_size=regime.batch, stop_early=regime.mid_stop
        )

    return {"plain": plain, **{b: backend(b) for b in BACKENDS}}


def _gen_kwargs(lm, regime) -> dict:
    n = regime.steps
    return dict(max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=lm.tokenizer.pad_token_id)


def decode_calls(lm, regime, x: Inputs) -> dict[str, Callable]:
    """Each returns (generated ids or None, site -> per-token norms [batch, tokens over all steps])."""
    model, kw = lm.model, _gen_kwargs(lm, regime)
    sites = parse_sites("resid_post.*", lm.n_layers)
    norm = reducer("norm")

    def plain():
        with torch.no_grad():
            return model.generate(input_ids=x.ids, attention_mask=x.mask, **kw), None

    def hooks():
        with torch.no_grad(), record(lm, sites, reduce="norm") as rec:
            out = model.generate(input_ids=x.ids, attention_mask=x.mask, **kw)
        return out, dict(rec)

    def transformer_lens():
        from internals.capture.backends.transformer_lens import bridge, hook_name

        b = bridge(lm)
        parts = {s.name: [] for s in sites}

        def keep(name):
            return lambda t, hook: parts[name].append(norm(t, None))

        hooks_ = [(hook_name(s), keep(s.name)) for s in sites]
        with torch.no_grad(), b.hooks(fwd_hooks=hooks_):
            out = b.generate(
                x.ids,
                max_new_tokens=regime.steps,
                do_sample=False,
                stop_at_eos=False,
                use_past_kv_cache=True,
                return_type="tokens",
                verbose=False,
            )
        return out, {k: torch.cat(v, 1).cpu() for k, v in parts.items()}

    def nnsight():
        from internals.capture.backends.nnsight import site_value, wrapped

        nn_model, arch = wrapped(lm), architecture(model)
        parts = {s.name: [] for s in sites}
        with warnings.catch_warnings(), torch.no_grad():
            # an open `tracer.all()` loop ends at the last step with a warning, by design
            warnings.simplefilter("ignore")
            with nn_model.generate({"input_ids": x.ids, "attention_mask": x.mask}, **kw) as tracer:
                for _ in tracer.all():
                    for s in sites:
                        parts[s.name].append(norm(site_value(nn_model, arch, s), None))
        return None, {k: torch.cat(v, 1).cpu() for k, v in parts.items()}

    return {"plain": plain, "hooks": hooks, "transformer_lens": transformer_lens, "nnsight": nnsight}


def check_decode(results: dict, steps: int, prompt: int) -> dict[str, str]:
    """variant -> why its warm-up run is not a valid per-step capture of HF's greedy generate."""
    ref_ids, _ = results["plain"]
    ref = results["hooks"][1]
    bad = {}
    for name, (ids, norms) in results.items():
        if name == "plain":
            continue
        if ids is not None and not torch.equal(ids.cpu(), ref_ids.cpu()):
            first = int((ids.cpu()[0, prompt:] != ref_ids.cpu()[0, prompt:]).int().argmax())
            bad[name] = (
                f"its greedy KV-cache generation gives other tokens than HF generate (first differing "
                f"generated token: #{first}, 0-based); the uncached path re-runs the whole prefix every step"
            )
            continue
        want = prompt + steps - 1
        shapes = {tuple(v.shape) for v in norms.values()}
        if shapes != {(1, want)}:
            bad[name] = f"captured {sorted(shapes)} per site, expected (1, {want}): one norm per token of every step"
            continue
        scale = max(v.abs().max().item() for v in ref.values())
        err = max((norms[k] - ref[k]).abs().max().item() for k in ref) / scale
        if err > 2e-2:
            bad[name] = f"per-step norms differ from the hooks backend's by {err:.2g} (relative)"
    return bad


def build_calls(lm, regime, x: Inputs, warm: bool = True, only: str | None = None):
    """(variant -> callable, variant -> reason it was left out). warm: call each once first."""
    calls = decode_calls(lm, regime, x) if regime.steps else forward_calls(lm, regime, x)
    if only is not None:
        calls = {k: v for k, v in calls.items() if k == only or (regime.steps and warm and k in ("plain", "hooks"))}
    if not warm:
        return calls, {}
    results = {name: fn() for name, fn in calls.items()}
    bad = check_decode(results, regime.steps, regime.tokens) if regime.steps else {}
    keep = {k: v for k, v in calls.items() if k not in bad and (only is None or k == only)}
    return keep, bad
