"""One question under every configuration: the full model and each kind of skipping.

For a prompt and its options, each configuration yields a `Run`: the greedy reply (the
paper's protocol), the log-probability of each option's text (the second protocol), and how
many (token, block) pairs of each phase were used. The full model and the paper's kind come
from one shared run (`readout`); `skip` reuses the full model's prompt forward; `drop` runs
on its own for each alpha.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from ...capture import attach, edits
from .decode import Prefill, _cache_kw, decode, prefill
from .readout import paper_generate, paper_option_scores, readout
from .skip import LACSkip, SkipConfig, prompt_skip_set


@dataclass
class Run:
    """One configuration on one question.

    tokens: greedy reply; scores: [options] summed log-probabilities of each option's text.
    pp_used / pp_pairs, rg_used / rg_pairs: used and total (token, block) pairs in prompt
    processing and in the reply's / options' tokens (generation and scoring counted apart:
    gen_* for the greedy reply, opt_* for the scored options).
    """

    config: SkipConfig
    tokens: list[int]
    scores: list[float]
    pp_used: int
    pp_pairs: int
    gen_used: int
    gen_pairs: int
    opt_used: int
    opt_pairs: int
    skipped_blocks: list[int] | None = None


def _count(activated: torch.Tensor, region: torch.Tensor | bool = True) -> tuple[int, int]:
    """(used, total) pairs of activated [tokens, layers], counting tokens outside region as fully used."""
    act = activated.bool()
    if not isinstance(region, bool):
        act = act | ~region.bool().unsqueeze(-1)
    elif not region:
        act = torch.ones_like(act)
    return int(act.sum()), act.numel()


def _stack(rows: list[torch.Tensor], n_layers: int) -> torch.Tensor:
    return torch.stack(rows) if rows else torch.zeros(0, n_layers, dtype=torch.bool)


@torch.no_grad()
def shared_runs(
    lm, prompt: list[int], options: list[list[int]], alphas: list[float], max_new_tokens: int, stops: set[int]
) -> tuple[dict, dict]:
    """The full model and the paper's kind at every alpha. Returns (runs by config label,
    context for `skip_runs`: prompt cache, position, full-model prompt logits and decisions)."""
    keys = [None, *alphas]
    gen, states, cache = paper_generate(lm, prompt, keys, max_new_tokens, stops)
    scores, opt_acts = paper_option_scores(lm, states, cache, len(prompt), options, keys)
    n_layers = states.shape[1] - 1
    runs = {}
    for i, key in enumerate(keys):
        cfg = SkipConfig("none") if key is None else SkipConfig("paper", key)
        g = gen[key]
        runs[cfg.label] = Run(
            cfg,
            g.tokens,
            scores[i].tolist(),
            *_count(g.pp_activated),
            *_count(_stack(g.rg_activated, n_layers)),
            *_count(opt_acts[key]),
        )
    context = {
        "cache": cache,
        "position": len(prompt),
        "logits": readout(lm, states[-1:, -1])[0],
        "pp_activated": {k: gen[k].pp_activated for k in alphas},
        "n_layers": n_layers,
        "first_token": gen[None].tokens[0],
    }
    return runs, context


def _option_logits(lm, cache, position: int, ids: list[int], first: torch.Tensor) -> torch.Tensor:
    """Summed log-probability of `ids` after a prompt whose last logits are `first` [vocab]."""
    kw = _cache_kw(lm.model)
    out = lm.model(
        input_ids=torch.tensor([ids], device=lm.device),
        use_cache=True,
        position_ids=torch.arange(position, position + len(ids), device=lm.device)[None],
        **{kw: copy.deepcopy(cache)},
    )
    logits = torch.cat([first.view(1, -1).to(out.logits.device), out.logits[0, :-1].float()])
    logp = torch.log_softmax(logits, -1)
    return logp.gather(-1, torch.tensor(ids, device=logp.device).view(-1, 1)).sum()


@torch.no_grad()
def skip_runs(
    lm, context: dict, options: list[list[int]], alphas: list[float], share: float, max_new_tokens: int, stops: set[int]
) -> dict:
    """The `skip` kind at every alpha: the full model's prompt forward, then the blocks that are
    voids for >= `share` of the prompt tokens do not run for any reply or option token."""
    runs = {}
    n_layers = context["n_layers"]
    for alpha in alphas:
        cfg = SkipConfig("skip", alpha, phases="rg", prompt_share=share)
        pp_act = context["pp_activated"][alpha]
        blocks = prompt_skip_set(pp_act, share)
        state = Prefill(
            copy.deepcopy(context["cache"]), context["position"], context["first_token"], context["logits"], 0.0
        )
        with attach(lm.model, edits.skip(blocks)):
            tokens, _ = decode(lm, state, max_new_tokens, stops)
            scores = [
                float(_option_logits(lm, context["cache"], context["position"], ids, context["logits"]))
                for ids in options
            ]
        per_token = n_layers - len(blocks)
        n_gen, n_opt = len(tokens) - 1, sum(len(o) for o in options)
        runs[cfg.label] = Run(
            cfg,
            tokens,
            scores,
            pp_act.numel(),
            pp_act.numel(),
            n_gen * per_token,
            n_gen * n_layers,
            n_opt * per_token,
            n_opt * n_layers,
            blocks,
        )
    return runs


@torch.no_grad()
def drop_run(
    lm, prompt: list[int], options: list[list[int]], cfg: SkipConfig, max_new_tokens: int, stops: set[int]
) -> Run:
    """The `drop` kind at one alpha: every forward under `LACSkip`, prompt, reply and options."""
    with LACSkip(lm.model, cfg) as hooks:
        hooks.set_phase("pp")
        state = prefill(lm, prompt)
        cache = copy.deepcopy(state.cache)
        tokens, _ = decode(lm, state, max_new_tokens, stops, before_step=lambda: hooks.set_phase("rg"))
        n_gen = len(hooks.calls)
        hooks.set_phase("rg")
        scores = [float(_option_logits(lm, cache, len(prompt), ids, state.logits)) for ids in options]
    calls = [(a[0], r[0]) for a, r in hooks.calls]
    pp = _count(*calls[0])
    gen = [_count(a, r) for a, r in calls[1:n_gen]]
    opt = [_count(a, r) for a, r in calls[n_gen:]]
    return Run(
        cfg,
        tokens,
        scores,
        *pp,
        sum(u for u, _ in gen),
        sum(n for _, n in gen),
        sum(u for u, _ in opt),
        sum(n for _, n in opt),
    )
