"""Skipping voids, three named kinds, as interventions that are undone on exit (even on error).

- ``paper`` (the faithful reproduction of the public `lac.py` with ``skip_layers=True``): every
  block runs as usual and writes its usual KV cache. Per token, a carried state is updated
  only at activated blocks (s_0 = the stream entering block 1; s_l = h_l if block l is
  activated, else s_{l-1}) and the last block's output is replaced by s_L, so the final norm
  and the LM head read the output of the token's last activated block. No compute is saved.
- ``drop`` (ours): a void block's update is dropped for that token (h_l = h_{l-1}), so later
  blocks, and their attention keys/values, see the unchanged residual. The decision is LAC's
  own, which needs the block's output: the block still runs, and then its update is thrown
  away. It shows what dropping the voids' updates does to the model, not a speed-up.
- ``skip`` (ours): compute really skipped, in response generation only. LAC cannot decide a
  block before running it, so the decisions come from the prompt: the blocks that are voids
  for at least `prompt_share` of the prompt tokens (prompt processing runs the full model)
  do not run at all for any generated token (`internals.interventions.skip_blocks`). Block 1
  always runs: the KV cache sizes the attention mask by the first block's cache.

``phases`` picks where paper/drop act: "pp" (prompt tokens), "rg" (generated or scored
continuation tokens) or "both". `LACSkip.set_phase` / `set_region` tell the hooks which
tokens of the next forward belong to the active phase.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ...capture.arch import architecture
from ...errors import InternalsError
from .lac import FIRST_BLOCK, OnlineLAC, check_alpha

KINDS = ("none", "paper", "drop", "skip")
PHASES = ("pp", "rg", "both")


@dataclass(frozen=True)
class SkipConfig:
    """One way of running the model: kind none (full model) | paper | drop | skip, see the module doc."""

    kind: str = "paper"
    alpha: float = 0.8
    phases: str = "both"
    prompt_share: float = 0.5
    first_block: str = "zero"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise InternalsError(f"unknown skipping kind {self.kind!r}: use one of {', '.join(KINDS)}")
        check_alpha(self.alpha)
        if self.phases not in PHASES:
            raise InternalsError(f"unknown phases {self.phases!r}: use one of {', '.join(PHASES)}")
        if self.kind == "skip" and self.phases != "rg":
            raise InternalsError("kind 'skip' acts in response generation only: use phases='rg' (or kind 'drop' for the prompt)")
        if not 0.0 < self.prompt_share <= 1.0:
            raise InternalsError(f"prompt_share must be in (0, 1], got {self.prompt_share:g}")
        if self.first_block not in FIRST_BLOCK:
            raise InternalsError(f"unknown first_block {self.first_block!r}: use one of {', '.join(FIRST_BLOCK)}")

    @property
    def label(self) -> str:
        if self.kind == "none":
            return "full"
        extra = f" share={self.prompt_share:g}" if self.kind == "skip" else f" {self.phases}"
        return f"{self.kind} a={self.alpha:g}{extra}"

    def to_dict(self) -> dict:
        return asdict(self)


def _hidden(args, kwargs) -> torch.Tensor:
    x = args[0] if args else kwargs.get("hidden_states")
    if not isinstance(x, torch.Tensor):
        raise InternalsError("a decoder block was called without hidden states: this architecture is not supported by LAC skipping")
    return x


def _first(output) -> torch.Tensor:
    return output[0] if isinstance(output, (tuple, list)) else output


def _rewrap(output, new: torch.Tensor):
    if isinstance(output, tuple):
        return (new,) + output[1:]
    if isinstance(output, list):
        return [new] + output[1:]
    return new


def _norm(x: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(x.float(), dim=-1)


class LACSkip:
    """Forward hooks that make LAC decisions in every forward and apply the paper's or the drop
    skipping. Records each forward's decisions in `calls`: a list of (activated [batch, tokens,
    layers] bool, region [batch, tokens] bool) on the CPU, where region marks the tokens the
    skipping acted on. kind "none" only records (the full model's decisions).

        with LACSkip(lm.model, SkipConfig("paper", alpha=0.8)) as s:
            logits = lm.model(input_ids).logits
    """

    def __init__(self, model: torch.nn.Module, config: SkipConfig):
        if config.kind == "skip":
            raise InternalsError("kind 'skip' is not a hook: use internals.analyses.voids.decode.greedy(..., config)")
        self.model, self.config = model, config
        self.layers = architecture(model).layers(model)
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.handles: list = []
        self._region: torch.Tensor | bool = True
        self._online = OnlineLAC(config.alpha, config.first_block)
        self._acts: list[torch.Tensor] = []
        self._carried: torch.Tensor | None = None

    # -- which tokens the skipping acts on -------------------------------------------------
    def set_phase(self, phase: str) -> None:
        """The next forwards are prompt processing ("pp") or generation steps ("rg")."""
        self._region = self.config.phases in (phase, "both")

    def set_region(self, region: torch.Tensor | bool) -> None:
        """[batch, tokens] bool of the tokens to act on in the next forward (or True/False for all/none)."""
        self._region = region

    def _region_for(self, x: torch.Tensor) -> torch.Tensor:
        r = self._region
        if isinstance(r, bool):
            return torch.full(x.shape[:2], r, dtype=torch.bool, device=x.device)
        if tuple(r.shape) != tuple(x.shape[:2]):
            raise InternalsError(f"region must be [batch, tokens] = {tuple(x.shape[:2])}, got {tuple(r.shape)}")
        return r.to(x.device).bool()

    # -- hooks -------------------------------------------------------------------------------
    def __enter__(self) -> "LACSkip":
        try:
            self.handles.append(self.layers[0].register_forward_pre_hook(self._begin, with_kwargs=True))
            for i, block in enumerate(self.layers):
                self.handles.append(block.register_forward_hook(self._make_hook(i), with_kwargs=True))
        except BaseException:
            self.close()
            raise
        return self

    def _begin(self, module, args, kwargs):
        x = _hidden(args, kwargs)
        self._online.begin(_norm(x))
        self._carried = x
        self._acts = []
        self._applied = self._region_for(x) if self.config.kind != "none" else torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device)

    def _make_hook(self, index: int):
        last = index == len(self.layers) - 1
        kind = self.config.kind

        def hook(module, args, kwargs, output):
            out = _first(output)
            norm = _norm(out)
            region = self._applied
            if kind == "drop":
                inp = _hidden(args, kwargs)
                act = self._online.step(norm)
                new = torch.where((act | ~region).unsqueeze(-1), out, inp)
                self._online.carry(_norm(new))
                self._acts.append(act)
                result = _rewrap(output, new)
            else:
                act = self._online.step(norm)
                self._acts.append(act)
                result = output
                if kind == "paper":
                    keep = (act | ~region).unsqueeze(-1)
                    self._carried = torch.where(keep, out, self._carried)
                    if last:
                        result = _rewrap(output, self._carried.to(out.dtype))
            if last:
                self.calls.append((torch.stack(self._acts, -1).cpu(), region.cpu()))
                self._carried, self._acts = None, []
            return result

        return hook

    def close(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.close()
        return False


def prompt_skip_set(activated, share: float) -> list[int]:
    """Blocks (0-based) that are voids for at least `share` of the prompt tokens, block 0 excepted.

    activated: [tokens, layers] bool, LAC decisions of the prompt's real tokens.
    """
    voids = (~torch.as_tensor(activated).bool()).float().mean(0)
    return [int(i) for i in torch.nonzero(voids >= share).flatten() if int(i) != 0]
