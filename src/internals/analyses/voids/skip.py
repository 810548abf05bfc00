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
  do not run at all for any generated token (the capture layer's `edits.skip`). Block 1
  always runs: the KV cache sizes the attention mask by the first block's cache.

``phases`` picks where paper/drop act: "pp" (prompt tokens), "rg" (generated or scored
continuation tokens) or "both". `LACSkip.set_phase` / `set_region` tell the hooks which
tokens of the next forward belong to the active phase.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ...capture import Attached, attach, edits
from ...capture.arch import architecture
from ...capture.edits import EditSet
from ...errors import InternalsError
from .lac import FIRST_BLOCK, OnlineLAC, check_alpha

SKIP_KINDS = ("none", "paper", "drop", "skip")
"""`SkipConfig.kind` values: none, paper (the public code), drop and skip (ours); see the module docstring."""
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
        if self.kind not in SKIP_KINDS:
            raise InternalsError(f"unknown skipping kind {self.kind!r}: use one of {', '.join(SKIP_KINDS)}")
        check_alpha(self.alpha)
        if self.phases not in PHASES:
            raise InternalsError(f"unknown phases {self.phases!r}: use one of {', '.join(PHASES)}")
        if self.kind == "skip" and self.phases != "rg":
            raise InternalsError(
                "kind 'skip' acts in response generation only: use phases='rg' (or kind 'drop' for the prompt)"
            )
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


def _norm(x: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(x.float(), dim=-1)


class LACSkip:
    """Edits (function edits at `resid_pre.*` and `resid_post.*`, with the carried state between
    them) that make LAC decisions in every forward and apply the paper's or the drop skipping.
    Records each forward's decisions in `calls`: a list of (activated [batch, tokens, layers]
    bool, region [batch, tokens] bool) on the CPU, where region marks the tokens the skipping
    acted on. kind "none" only records (the full model's decisions).

        with LACSkip(lm.model, SkipConfig("paper", alpha=0.8)) as s:
            logits = lm.model(input_ids).logits
    """

    def __init__(self, model: torch.nn.Module, config: SkipConfig):
        if config.kind == "skip":
            raise InternalsError(
                "kind 'skip' is not a per-token edit: use internals.analyses.voids.decode.greedy(..., config)"
            )
        self.model, self.config = model, config
        self.n_layers = architecture(model).n_layers
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._attached: Attached | None = None
        self._region: torch.Tensor | bool = True
        self._online = OnlineLAC(config.alpha, config.first_block)
        self._acts: list[torch.Tensor] = []
        self._carried: torch.Tensor | None = None
        self._input: torch.Tensor | None = None

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

    # -- the edits ---------------------------------------------------------------------------
    def edits(self) -> EditSet:
        """The function edits, in forward order: the stream entering block 0 starts a forward,
        each block's input is kept (drop needs it), each block's output is decided on."""
        out = [edits.replace("resid_pre.0", self._begin)]
        for i in range(self.n_layers):
            if self.config.kind == "drop" and i > 0:
                out.append(edits.replace(f"resid_pre.{i}", self._keep_input))
            out.append(edits.replace(f"resid_post.{i}", self._make_step(i)))
        return EditSet(out)

    def __enter__(self) -> LACSkip:
        self._attached = attach(self.model, self.edits())
        return self

    def _begin(self, x: torch.Tensor) -> torch.Tensor:
        self._online.begin(_norm(x))
        self._carried = self._input = x
        self._acts = []
        self._applied = (
            self._region_for(x)
            if self.config.kind != "none"
            else torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device)
        )
        return x

    def _keep_input(self, x: torch.Tensor) -> torch.Tensor:
        self._input = x
        return x

    def _make_step(self, index: int):
        last = index == self.n_layers - 1
        kind = self.config.kind

        def step(out: torch.Tensor) -> torch.Tensor:
            norm = _norm(out)
            region = self._applied
            if kind == "drop":
                act = self._online.step(norm)
                assert self._input is not None  # kept by the block's input edit
                new = torch.where((act | ~region).unsqueeze(-1), out, self._input)
                self._online.carry(_norm(new))
                self._acts.append(act)
                result = new
            else:
                act = self._online.step(norm)
                self._acts.append(act)
                result = out
                if kind == "paper":
                    keep = (act | ~region).unsqueeze(-1)
                    assert self._carried is not None  # set when the forward began
                    self._carried = torch.where(keep, out, self._carried)
                    if last:
                        result = self._carried.to(out.dtype)
            if last:
                self.calls.append((torch.stack(self._acts, -1).cpu(), region.cpu()))
                self._carried, self._acts = None, []
            return result

        return step

    def close(self) -> None:
        if self._attached is not None:
            self._attached.remove()
            self._attached = None

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


def prompt_skip_set(activated, share: float) -> list[int]:
    """Blocks (0-based) that are voids for at least `share` of the prompt tokens, block 0 excepted.

    activated: [tokens, layers] bool, LAC decisions of the prompt's real tokens.
    """
    voids = (~torch.as_tensor(activated).bool()).float().mean(0)
    return [int(i) for i in torch.nonzero(voids >= share).flatten() if int(i) != 0]
