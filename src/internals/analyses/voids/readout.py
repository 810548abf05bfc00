"""The paper's skipping for many alphas at once, from one run of the full model.

Under the paper's skipping every block runs as usual and writes its usual KV cache: only what
the final norm reads changes (the output of the token's last activated block). So one forward
that keeps the residual stream entering block 1 and leaving every block ([tokens, layers+1,
d]) gives the logits for every alpha: `readout(lm, states[t, last_active])`. `LACSkip(kind=
"paper")` computes the same thing with hooks, one alpha per run; a test checks they agree.

Generation branches: alphas (and the full model, key None) that pick the same next token share
the next forward; a branch splits (copying the cache) where their greedy tokens differ.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from ...capture import Trace
from ...capture.arch import architecture
from .decode import _cache_kw, _returned_cache
from .lac import lac
from .trace import trace_sites


class States:
    """Context manager that keeps each forward's residual states: `rows` is a list of
    [tokens, layers+1, d] tensors (batch 1), one per forward, in order."""

    def __init__(self, lm):
        self.lm, self.sites = lm, trace_sites(lm.n_layers)
        self.rows: list[torch.Tensor] = []
        self._current: list[torch.Tensor] = []
        self._trace = Trace(lm.model, self.sites, self._on_site)

    def _on_site(self, site, x):
        self._current.append(x[0].detach())
        if len(self._current) == len(self.sites):
            self.rows.append(torch.stack(self._current, 1))
            self._current = []

    def __enter__(self) -> States:
        self._trace.__enter__()
        return self

    def __exit__(self, *exc) -> bool:
        return self._trace.__exit__(*exc)


def readout(lm, x: torch.Tensor) -> torch.Tensor:
    """Logits [n, vocab] (float32) that the final norm and LM head give for states x [n, d]."""
    model = lm.model
    norm = architecture(model).module(model, "final_norm", None)
    logits = model.get_output_embeddings()(norm(x)).float()
    cap = getattr(model.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


def _norms(states: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(states.float(), dim=-1)


def paper_indices(states: torch.Tensor, keys: list) -> tuple[torch.Tensor, dict]:
    """For states [tokens, layers+1, d]: index [keys, tokens] of the state each key reads
    (None = the full model: the last block) and key -> activated [tokens, layers] bool."""
    norms = _norms(states)
    n_layers = states.shape[1] - 1
    idx: list[torch.Tensor] = []
    acts: dict = {}
    for key in keys:
        if key is None:
            idx.append(torch.full((states.shape[0],), n_layers, dtype=torch.long))
            acts[key] = torch.ones(states.shape[0], n_layers, dtype=torch.bool)
        else:
            decision = lac(norms, key)
            idx.append(decision.last_active())
            acts[key] = decision.activated
    return torch.stack(idx), acts


def _pick(states: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """states [tokens, layers+1, d], idx [keys, tokens] -> [keys, tokens, d]."""
    tokens = torch.arange(states.shape[0])
    return states[tokens.unsqueeze(0), idx.to(states.device)]


@dataclass
class PaperRun:
    """One key's greedy generation: tokens, and LAC decisions of the prompt and RG tokens."""

    tokens: list[int] = field(default_factory=list)
    pp_activated: torch.Tensor | None = None
    rg_activated: list[torch.Tensor] = field(default_factory=list)


@torch.no_grad()
def paper_generate(lm, prompt_ids: list[int], keys: list, max_new_tokens: int, stops: set[int]):
    """Greedy generation under the paper's skipping for every key (alpha, or None for the full
    model). Returns (key -> PaperRun, prompt states [tokens, layers+1, d], prompt cache)."""
    model, kw = lm.model, _cache_kw(lm.model)
    with States(lm) as rec:
        out = model(input_ids=torch.tensor([prompt_ids], device=lm.device), use_cache=True)
    states = rec.rows[0]
    idx, acts = paper_indices(states, keys)
    runs = {k: PaperRun(pp_activated=acts[k]) for k in keys}
    first = readout(lm, _pick(states[-1:], idx[:, -1:])[:, 0]).argmax(-1)
    prompt_cache = _returned_cache(out)
    frontier = []
    for token, group in _group(keys, first).items():
        frontier.append((group, token, copy.deepcopy(prompt_cache), len(prompt_ids)))
    while frontier:
        group, token, cache, pos = frontier.pop()
        for k in group:
            runs[k].tokens.append(token)
        if len(runs[group[0]].tokens) >= max_new_tokens or token in stops:
            continue
        with States(lm) as rec:
            out = model(
                input_ids=torch.tensor([[token]], device=lm.device),
                use_cache=True,
                position_ids=torch.tensor([[pos]], device=lm.device),
                **{kw: cache},
            )
        idx, acts = paper_indices(rec.rows[0], group)
        nxt = readout(lm, _pick(rec.rows[0], idx)[:, 0]).argmax(-1)
        for k in group:
            runs[k].rg_activated.append(acts[k][0])
        groups = _group(group, nxt)
        for i, (tok, sub) in enumerate(groups.items()):
            c = _returned_cache(out) if i == len(groups) - 1 else copy.deepcopy(_returned_cache(out))
            frontier.append((sub, tok, c, pos + 1))
    return runs, states, prompt_cache


def _group(keys: list, tokens: torch.Tensor) -> dict[int, list]:
    groups: dict[int, list] = {}
    for k, t in zip(keys, tokens.tolist()):
        groups.setdefault(int(t), []).append(k)
    return groups


@torch.no_grad()
def paper_option_scores(lm, states: torch.Tensor, cache, position: int, options: list[list[int]], keys: list):
    """Sum of log-probabilities of each option's tokens after the prompt, for every key.

    states: the prompt's [tokens, layers+1, d]; cache: its KV cache (copied, never changed).
    Returns (scores [keys, options], key -> activated [option tokens, layers] of all options).
    """
    kw = _cache_kw(lm.model)
    scores = torch.zeros(len(keys), len(options))
    acts: dict = {k: [] for k in keys}
    last = states[-1:]
    for j, ids in enumerate(options):
        with States(lm) as rec:
            lm.model(
                input_ids=torch.tensor([ids], device=lm.device),
                use_cache=True,
                position_ids=torch.arange(position, position + len(ids), device=lm.device)[None],
                **{kw: copy.deepcopy(cache)},
            )
        opt = rec.rows[0]
        rows = torch.cat([last, opt[:-1]])  # the rows whose logits predict the option's tokens
        idx, _ = paper_indices(rows, keys)
        _, opt_acts = paper_indices(opt, keys)
        logp = torch.log_softmax(readout(lm, _pick(rows, idx).reshape(-1, rows.shape[-1])), -1)
        logp = logp.reshape(len(keys), len(ids), -1)
        target = torch.tensor(ids).view(1, -1, 1).expand(len(keys), -1, 1)
        scores[:, j] = logp.gather(-1, target.to(logp.device)).squeeze(-1).sum(-1).cpu()
        for k in keys:
            acts[k].append(opt_acts[k])
    return scores, {k: torch.cat(v) for k, v in acts.items()}
