# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Capture: sites, reducers, backends and the activation store
#
# Every analysis in `internals` reads hidden states through one call, `internals.capture`. This
# notebook shows its parts on the embedded SmolLM2-135M-Instruct: the **site grammar** (where to
# read), the **reducers** (how tokens are pooled inside the hook, so only what you need is kept),
# the three **backends** (plain hooks, TransformerLens, nnsight) and the **activation store**
# (a capture over a dataset, streamed to disk, resumable, read back by memory map).

# %% tags=["parameters"]
# Sizes of this tutorial: lower them for a quicker run
N_QUESTIONS = 200  # qa_wikidata questions captured into the store
N_PLOT = 64  # questions in the norm figures

# %% tags=["remove_input"]
# Hidden on the site: INTERNALS_TUTORIAL_SIZE=small (`make docs`' default) shrinks the sizes above;
# `make docs DOCS_SIZE=full` builds the site with them.
import os

if os.environ.get("INTERNALS_TUTORIAL_SIZE") == "small":
    N_QUESTIONS, N_PLOT = 24, 8
    print("This page was built with small sizes:", ", ".join(f"{k} = {v!r}" for k, v in {"N_QUESTIONS": N_QUESTIONS, "N_PLOT": N_PLOT}.items()))

# %%
import numpy as np
import torch

from internals import capture, load_model
from internals.capture import GRAMMAR, parse_sites

lm = load_model()  # the embedded SmolLM2-135M-Instruct (converted into the cache once)
lm.describe()

# %% [markdown]
# ## Sites
# A site names a place in the forward pass. Layers take a number, `*`, a range `a-b` or a list
# `1,4`; one string can hold several specs.

# %%
print(GRAMMAR)
for spec in ["embed", "resid_post.*", "attn_z.3-5", "mlp_out.0,29", "final_norm"]:
    names = [s.name for s in parse_sites(spec, lm.n_layers)]
    print(f"{spec:14s} -> {len(names):2d} sites: {names[:3]}{' ...' if len(names) > 3 else ''}")

# %% [markdown]
# ## Reducers
# The reducer runs inside the hook: `mean` and `last` keep one vector per prompt, `none` keeps
# every token (with a mask for the padding), `norm` keeps each token's L2 norm, `stats` keeps
# streaming moments over all tokens. Prompts may be `(input, output)` pairs; `span` picks the
# tokens a reducer sees.

# %%
prompts = ["The capital of France is", "Water boils at a temperature of", "The largest planet is",
           "A triangle has three"]
for reduce in ["mean", "last", "none", "norm"]:
    acts = capture(lm, prompts, sites="resid_post.10 attn_z.10", reduce=reduce)
    shapes = {k: tuple(v.shape) for k, v in acts.items()}
    print(f"{reduce:5s}", shapes, "mask" if acts.mask is not None else "")
stats = capture(lm, prompts, sites="resid_post.10", reduce="stats")["resid_post.10"]
print("stats: count", int(stats.count), "mean", tuple(stats.mean.shape), "var", tuple(stats.var.shape))
pair = capture(lm, [("Q: What is 2 + 2?\nA:", " 4")], sites="resid_post.10", reduce="mean", span="output")
print("mean over the answer tokens only:", tuple(pair["resid_post.10"].shape))

# %% [markdown]
# ## Three backends, one result
# The same call runs on plain PyTorch hooks (the default), TransformerLens (`HookedTransformer`
# converted from the HF weights) or nnsight. They agree up to float32 rounding.

# %%
import time

reference = None
for backend in ["hooks", "transformer_lens", "nnsight"]:
    start = time.perf_counter()
    acts = capture(lm, prompts, sites="resid_post.*", reduce="mean", backend=backend)
    seconds = time.perf_counter() - start
    reference = reference or acts
    diff = max(float((acts[k] - reference[k]).abs().max()) for k in reference)
    print(f"{backend:17s} max |diff| vs hooks {diff:.2e}   {seconds:.1f} s")

# %% [markdown]
# ## The activation store
# `capture_to_store` runs a capture over a dataset (here real BIG-bench qa_wikidata questions)
# and streams it into safetensors shards with a manifest: the model's fingerprint, the data's
# fingerprint, the sites, the reducer, package versions. Running it again resumes (or does
# nothing when it is complete); `Store.open` reads the arrays by memory map.

# %%
import tempfile

from internals.data import load_dataset
from internals.store import Store, capture_to_store

data = load_dataset("qa_wikidata", limit=N_QUESTIONS)
out = tempfile.mkdtemp(prefix="stores-")
store = capture_to_store(lm, data, sites="resid_post.*", reduce="mean", out=out, template="chat")
store = Store.open(store.path)
print(store)
print("rows:", len(store), "first ids:", store.rows()[:2])
print("resid_post.20:", store["resid_post.20"].shape, type(store["resid_post.20"]).__name__)
{k: store.manifest["config"][k] for k in ("sites", "reduce", "template", "dataset")}

# %% [markdown]
# ## A first picture: how large is the residual stream, layer by layer?
# The `norm` reducer gives every token's L2 norm at every layer. Plotted with
# `internals.plots` (the paper template: serif, one column wide, colour-blind-safe).

# %%
from internals.plots import heatmap, layer_lines

questions = [r.question for r in data][:N_PLOT]
acts = capture(lm, questions, sites="embed resid_post.*", reduce="norm")
norms = torch.stack([acts[k] for k in acts])                     # [layers+1, prompts, tokens]
mask = acts.mask.float()                                         # [prompts, tokens]
per_prompt = ((norms * mask).sum(-1) / mask.sum(-1)).numpy()     # [layers+1, prompts]
first = norms[:, 0, : int(mask[0].sum())].numpy()                # [layers+1, tokens]
layer_lines({"mean over tokens": per_prompt}, band="iqr", log_y=True, xlabel="layer (0 = embedding)",
            ylabel="‖resid‖₂", width="double")

# %%
tokens = [lm.tokenizer.decode([t]) for t in lm.tokenizer(questions[0])["input_ids"]]
heatmap(np.log10(first.T), x_label="layer", y_label="token", y_ticks=tokens, rows_top_down=True,
        colorbar_title="log10 ‖resid‖₂", width="double")

# %%
peak = int(np.argmax(first.max(axis=0)))
print(f"largest norm: token {tokens[int(np.argmax(first[peak]))]!r} at layer {peak}, "
      f"{first.max():.0f} vs median {np.median(first):.0f} over this prompt")
print("median over prompts, layer 0 / 15 / 30:", np.round(np.median(per_prompt, axis=1)[[0, 15, 30]], 1))

# %% [markdown]
# **Reading it.** The heatmap shows whether one token carries most of the norm: in many
# pre-norm models the first token's residual grows orders of magnitude larger than the others
# a few blocks in (a "massive activation" that attention uses as a sink). The line plot is the
# mean over each prompt's tokens, so such a token lifts the whole curve. The numbers printed
# above come from this run.
