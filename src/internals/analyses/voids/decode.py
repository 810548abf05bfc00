"""Single-sequence greedy decoding with a KV cache, timed, in two visible phases.

Prompt processing (PP) is one forward over the prompt (`prefill`); response generation (RG)
is one forward per new token over the cache (`decode`). Keeping the two apart lets the voids
analysis hook each phase differently (and time it), which `model.generate` hides.
Batch 1 and no padding: positions are passed explicitly, so a block skipped in RG (which
writes nothing into its cache) cannot shift them.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ...errors import InternalsError


@dataclass
class Prefill:
    """What prompt processing leaves: the cache, the next position, the first greedy token."""

    cache: object
    position: int
    next_token: int
    logits: torch.Tensor  # [vocab] float, at the last prompt token
    seconds: float


@dataclass
class Generation:
    """prompt_ids and tokens (the greedy continuation, stop token included when one was met),
    decoded `text` (special tokens dropped), PP seconds and the seconds of each RG step."""

    prompt_ids: list[int]
    tokens: list[int]
    text: str
    pp_seconds: float
    rg_seconds: list[float] = field(default_factory=list)

    @property
    def rg_tokens_per_second(self) -> float:
        total = sum(self.rg_seconds)
        return len(self.rg_seconds) / total if total > 0 else float("nan")


def _cache_kw(model) -> str:
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _returned_cache(out):
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def stop_ids(lm) -> set[int]:
    """Token ids that end a generation: the tokenizer's EOS and the model's generation EOS ids."""
    ids = set()
    for value in (
        lm.tokenizer.eos_token_id,
        getattr(getattr(lm.model, "generation_config", None), "eos_token_id", None),
    ):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return ids


@torch.no_grad()
def prefill(lm, prompt_ids: list[int]) -> Prefill:
    """One forward over the prompt with a fresh cache."""
    if len(prompt_ids) == 0:
        raise InternalsError("empty prompt: give at least one token")
    ids = torch.tensor([list(prompt_ids)], device=lm.device)
    start = time.perf_counter()
    out = lm.model(input_ids=ids, use_cache=True)
    logits = out.logits[0, -1].float()
    seconds = time.perf_counter() - start
    return Prefill(_returned_cache(out), len(prompt_ids), int(logits.argmax()), logits, seconds)


@torch.no_grad()
def decode(
    lm,
    state: Prefill,
    max_new_tokens: int,
    stops: set[int] | None = None,
    before_step: Callable[[], None] | None = None,
) -> tuple[list[int], list[float]]:
    """Greedy tokens after `state` (its first token included) and the seconds of each RG forward.

    A generation of n tokens makes n - 1 RG forwards: the last token is never fed back.
    """
    if max_new_tokens < 1:
        raise InternalsError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    stops = stop_ids(lm) if stops is None else stops
    kw = _cache_kw(lm.model)
    cache, pos, token = state.cache, state.position, state.next_token
    tokens, seconds = [token], []
    while len(tokens) < max_new_tokens and token not in stops:
        if before_step is not None:
            before_step()
        ids = torch.tensor([[token]], device=lm.device)
        positions = torch.tensor([[pos]], device=lm.device)
        start = time.perf_counter()
        out = lm.model(input_ids=ids, position_ids=positions, use_cache=True, **{kw: cache})
        token = int(out.logits[0, -1].argmax())
        seconds.append(time.perf_counter() - start)
        cache, pos = _returned_cache(out), pos + 1
        tokens.append(token)
    return tokens, seconds


def greedy(
    lm,
    prompt_ids: list[int],
    max_new_tokens: int = 16,
    *,
    stops: set[int] | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> Generation:
    """Greedy generation; `on_phase("pp")` is called before the prompt forward and
    `on_phase("rg")` before each generation step (e.g. `LACSkip.set_phase`)."""
    if on_phase is not None:
        on_phase("pp")
    state = prefill(lm, prompt_ids)
    step = (lambda: on_phase("rg")) if on_phase is not None else None
    tokens, seconds = decode(lm, state, max_new_tokens, stops, before_step=step)
    text = lm.tokenizer.decode(tokens, skip_special_tokens=True)
    return Generation(list(prompt_ids), tokens, text, state.seconds, seconds)
