"""Features for the probes: mean-pooled residual stream of every layer, in one capture pass.

Settings (the paper's names):

| setting | what is pooled                                          | capture span  |
|---------|---------------------------------------------------------|---------------|
| `I`     | the input (prompt) tokens: preemptive, before decoding  | `input`       |
| `I+O`   | input plus the model's answer (a "reactive" baseline)   | `all` over (prompt, answer) pairs |
| `I-n`   | the input without its last n tokens (even earlier)      | `drop_last:n` |

With a chat template the input ends in the constant generation prompt
("<|im_end|>\\n<|im_start|>assistant\\n"), so I-1 .. I-5 drop those tokens, not question tokens;
with a base model's template ("Question: {question}\\nAnswer:") the constant end is "\\nAnswer:".

Features come from `internals.capture` via `capture_to_store` (reduce "mean", sites
"resid_post.<layers>"), so they are cached under `cache_dir("factcheckmate", "features")`, named
by the capture's config hash (model fingerprint, exact prompts, span), resumable, and reused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...capture.inputs import Prompt
from ...errors import InternalsError
from ...paths import cache_dir
from ...store import Store

SETTINGS = "I, I+O or I-n (n >= 0)"


def setting_span(setting: str) -> tuple[str, bool]:
    """(capture span, whether prompts are (input, answer) pairs) for a setting name."""
    s = setting.strip().upper().replace(" ", "")
    if s == "I":
        return "input", False
    if s == "I+O":
        return "all", True
    m = re.fullmatch(r"I-(\d+)", s)
    if m:
        return f"drop_last:{int(m.group(1))}", False
    raise InternalsError(f"unknown setting {setting!r}: use {SETTINGS}")


def setting_prompts(prompts: Sequence[Prompt], setting: str, answers: Sequence[str] | None = None) -> list[Prompt]:
    """The prompts a setting captures: (prompt, answer) pairs for I+O, the prompts otherwise."""
    span, pairs = setting_span(setting)
    if not pairs:
        return list(prompts)
    if answers is None or len(answers) != len(prompts):
        raise InternalsError("setting I+O needs the model's answer for every prompt (label the data first)")
    out: list[Prompt] = []
    for p, a in zip(prompts, answers):
        if isinstance(p, tuple):
            raise InternalsError("setting I+O pairs each prompt with its answer: give plain prompts (text or ids)")
        out.append((p, a))
    return out


@dataclass
class Features:
    """Pooled states of one setting: `layer(l)` -> [n, d] float32; `layers`, `store_path`."""

    store: Store
    layers: list[int]
    setting: str

    @property
    def store_path(self) -> str:
        return str(self.store.path)

    def __len__(self) -> int:
        return len(self.store)

    def layer(self, layer: int) -> np.ndarray:
        if layer not in self.layers:
            raise InternalsError(
                f"layer {layer} was not captured: these features have layers {self.layers[0]}-{self.layers[-1]}"
            )
        return np.asarray(self.store[f"resid_post.{layer}"], dtype=np.float32)


def pooled_features(
    lm,
    prompts: Sequence[Prompt],
    setting: str = "I",
    answers: Sequence[str] | None = None,
    layers: str = "*",
    *,
    batch_size: int = 16,
    progress: bool = True,
    out=None,
) -> Features:
    """Mean-pooled `resid_post` states at `layers` ("*", "16", "10-20", "4,16") for every prompt.

    prompts: rendered prompts (strings or token ids, e.g. from `internals.prompts.render`);
    answers: the model's answers, needed for I+O.
    """
    from ...capture.capture import resolve_sites
    from ...store import capture_to_store

    span, _ = setting_span(setting)
    sites = resolve_sites(lm, f"resid_post.{layers}")
    data = setting_prompts(prompts, setting, answers)
    store = capture_to_store(
        lm,
        data,
        sites,
        "mean",
        out or cache_dir("factcheckmate", "features"),
        template="raw",
        span=span,
        batch_size=batch_size,
        shard_rows=16 * batch_size,
        progress=progress,
    )
    return Features(store, [s.layer for s in sites if s.layer is not None], setting.strip().upper())
