"""The capture section: the site grammar, per-layer residual norms and the three backends side by side.

Everything here goes through `internals.capture.capture`, the call every analysis uses, so this
section is also a check that the capture layer works on the model being reported.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..capture import capture
from ..capture.backends import BACKENDS
from ..capture.sites import parse_sites
from ..errors import InternalsError
from .section import ReportSettings, Section, Table

TITLE = "Capture: sites, residual norms, backends"
DATASET = "qa_wikidata"
SITE_EXAMPLES = ("embed", "resid_post.*", "attn_z.0", "mlp_out.0,-1", "final_norm")
BACKEND_PROMPTS = 4


def _dataset(settings: ReportSettings, quick: int, full: int):
    from ..data import load_dataset

    return load_dataset(DATASET, limit=settings.n(quick, full), seed=settings.seed)


def _site_specs(n_layers: int) -> list[str]:
    """SITE_EXAMPLES with `-1` spelled as the model's last layer (the grammar takes layer numbers)."""
    return [s.replace("-1", str(n_layers - 1)) for s in SITE_EXAMPLES]


def _grammar_table(lm, prompts: list[str], settings: ReportSettings) -> Table:
    """spec -> the sites it names and the shape `mean` returns for them (one capture of all specs)."""
    n_layers = lm.n_layers
    specs = _site_specs(n_layers)
    acts = capture(
        lm, prompts, " ".join(specs), "mean", max_tokens=settings.tokens(32, 64), batch_size=settings.batch_size
    )
    rows: list[list] = []
    for spec in specs:
        names = [s.name for s in parse_sites(spec, n_layers)]
        shown = names if len(names) <= 3 else [names[0], "…", names[-1]]
        rows.append([spec, len(names), ", ".join(shown), "×".join(map(str, acts[names[0]].shape))])
    return Table(
        "Site grammar",
        ["spec", "sites", "names", "shape (reduce=mean)"],
        rows,
        note=f"one capture call over {len(prompts)} prompts; shape is [prompts, *feature]",
    )


def _norms(lm, prompts: list[str], settings: ReportSettings):
    """Per-token residual L2 norms: mean over each prompt's tokens [layers+1, prompts], the last
    token's [layers+1, prompts], and the first prompt's tokens [layers+1, tokens]."""
    acts = capture(
        lm,
        prompts,
        "embed resid_post.*",
        "norm",
        max_tokens=settings.tokens(32, 64),
        batch_size=settings.batch_size,
        progress=settings.progress,
    )
    assert acts.mask is not None  # reduce="norm" keeps the token mask
    mask = acts.mask.float()  # [n, tokens]
    stack = torch.stack([acts[k] for k in acts])  # [layers+1, n, tokens]
    mean = (stack * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    last = mask.sum(-1).long() - 1
    last_norm = stack[:, torch.arange(len(prompts)), last]
    first = stack[:, 0, : int(mask[0].sum())]
    return mean.numpy(), last_norm.numpy(), first.numpy()


def _backend_table(lm, prompts: list[str], settings: ReportSettings) -> Table:
    """Each backend's `resid_post.*` means against the hooks backend's, on the same prompts."""
    sites = "resid_post.*"
    rows: list[list] = []
    ref = None
    for backend in BACKENDS:
        start = time.perf_counter()
        try:
            acts = capture(
                lm,
                prompts,
                sites,
                "mean",
                backend=backend,
                max_tokens=settings.tokens(32, 64),
                batch_size=settings.batch_size,
            )
        except InternalsError as err:  # e.g. an architecture TransformerLens does not convert
            rows.append([backend, None, None, None, str(err)])
            continue
        wall = time.perf_counter() - start
        if ref is None:
            ref = acts
        diff = max(float((acts[k] - ref[k]).abs().max()) for k in ref)
        scale = max(float(ref[k].abs().max()) for k in ref)
        rows.append([backend, diff, diff / scale, round(wall, 2), "reference" if acts is ref else ""])
    return Table(
        "Backend agreement",
        ["backend", "max |Δ| vs hooks", "relative", "wall s", "note"],
        rows,
        note=f"{sites} (reduce=mean) on {len(prompts)} prompts; wall time includes the first call's setup "
        "(TransformerLens converts the model once)",
    )


def section(lm, settings: ReportSettings) -> Section:
    from ..plots import heatmap, layer_lines
    from ..store.config import dataset_part

    data = _dataset(settings, 24, 200)
    prompts = [r.question for r in data]
    grammar = _grammar_table(lm, prompts[:BACKEND_PROMPTS], settings)
    mean, last, first = _norms(lm, prompts, settings)
    backends = _backend_table(lm, prompts[:BACKEND_PROMPTS], settings)
    layers = np.arange(mean.shape[0])
    tokens = [lm.tokenizer.decode([t]) for t in lm.tokenizer(prompts[0])["input_ids"][: first.shape[1]]]
    figures = {
        "Residual-stream L2 norm per layer (median and 25-75th percentiles over prompts; 0 = embedding)": layer_lines(
            {"token mean": mean, "last token": last},
            band="iqr",
            layers=layers,
            log_y=True,
            xlabel="layer (0 = embedding)",
            ylabel="‖resid‖₂",
            width="double",
        ),
        f"Per-token norm, first prompt: {prompts[0]!r}": heatmap(
            np.log10(first.T),
            x_label="layer",
            y_label="token",
            y_ticks=tokens,
            rows_top_down=True,
            colorbar_title="log10 ‖resid‖₂",
            width="double",
        ),
    }
    n_tokens = settings.tokens(32, 64)
    text = (
        f"{len(prompts)} {DATASET} questions (raw text, at most {n_tokens} tokens), read at the embedding and "
        f"after each of the {lm.n_layers} blocks with the `norm` reducer (per-token L2 norm inside the hook). "
        "The backend table captures the same sites with plain hooks, TransformerLens and nnsight; "
        "differences are float32 rounding."
    )
    return Section(
        TITLE,
        figures,
        [grammar, backends],
        manifest={
            "dataset": dataset_part(data, _sha(prompts), settings.n(24, 200), settings.seed),
            "sites": ["embed", "resid_post.*"],
            "reduce": "norm",
            "max_tokens": n_tokens,
            "backend_prompts": BACKEND_PROMPTS,
            "site_examples": _site_specs(lm.n_layers),
        },
        text=text,
    )


def _sha(prompts: list[str]) -> str:
    from ..prompts import prompts_sha256

    return prompts_sha256(prompts)
