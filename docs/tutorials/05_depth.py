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
# # The Curse of Depth: do the deep blocks of a Pre-LN model still do anything?
#
# In Pre-LN transformers the residual stream's variance grows with depth, so the deeper blocks'
# updates become small next to it and the blocks act almost like the identity. This notebook
# measures that on the embedded SmolLM2-135M-Instruct: variance per layer, angular distance
# between layers, how much each block changes its input, what skipping each block costs, and
# what LayerNorm Scaling (LNS, 1/√l on the pre-block norms) changes.

# %% tags=["parameters"]
# Sizes of this tutorial: lower them for a quicker run
N_TEXTS = 64  # passages traced
N_HELDOUT = 8  # held-out passages for the ablation
TRACE_TOKENS = 64  # tokens per traced passage
ABLATE_TOKENS = 96  # tokens per held-out passage

# %% tags=["remove_input"]
# Hidden on the site: INTERNALS_TUTORIAL_SIZE=small (`make docs`' default) shrinks the sizes above;
# `make docs DOCS_SIZE=full` builds the site with them.
import os

if os.environ.get("INTERNALS_TUTORIAL_SIZE") == "small":
    N_TEXTS, N_HELDOUT, TRACE_TOKENS, ABLATE_TOKENS = 6, 2, 32, 24
    print("This page was built with small sizes:", ", ".join(f"{k} = {v!r}" for k, v in {"N_TEXTS": N_TEXTS, "N_HELDOUT": N_HELDOUT, "TRACE_TOKENS": TRACE_TOKENS, "ABLATE_TOKENS": ABLATE_TOKENS}.items()))

# %%
import numpy as np

from internals import load_model
from internals.analyses.depth import ablate, apply_layernorm_scaling, texts_for, trace_depth
from internals.analyses.depth.figures import trace_figures

lm = load_model()
texts, heldout, data = texts_for("corpus", n=N_TEXTS, n_heldout=N_HELDOUT)
print(data["name"], "|", len(texts), "passages to trace,", len(heldout), "held out |", texts[0][:120], "...")

# %% [markdown]
# ## Trace: variance, angular distance, block influence
# `trace_depth` captures the residual stream before the first block and after every block
# (streaming, so any number of prompts fits in memory).

# %%
t = trace_depth(lm, texts, max_tokens=TRACE_TOKENS)
print(f"variance after the last block / after the first: {t.growth():.1f}")
print(f"mean block influence 1 - cos(in, out): {t.influence.mean():.3f}")

# %% [markdown]
# ## Ablation: skip one block at a time
# The next-token loss on held-out passages with each block skipped (its input passed straight
# to the next block). A block whose removal barely changes the loss is doing little.

# %%
a = ablate(lm, heldout, max_tokens=ABLATE_TOKENS)
order = np.argsort(a.delta)
print(f"baseline loss {a.baseline:.3f} nats")
print("least needed blocks:", [(int(a.blocks[i]), round(float(a.delta[i]), 3)) for i in order[:5]])
print("most needed blocks:", [(int(a.blocks[i]), round(float(a.delta[i]), 3)) for i in order[-3:]])

# %%
figs = trace_figures({"results": {"traces": {lm.name: t.to_dict()}, "ablation": a.to_dict()}})
list(figs)

# %%
figs["depth_variance"]

# %%
figs["depth_ablation"]

# %% [markdown]
# ## LayerNorm Scaling on a trained model
# `apply_layernorm_scaling` scales the output of each block's pre-attention and pre-MLP norm by
# 1/√l (hooks, removed on exit). On a model *trained without* it this is a perturbation, not the
# fix: the paper's gains come from training with LNS from the start (`internals depth pretrain`
# compares the two from scratch).

# %%
with apply_layernorm_scaling(lm.model):
    t_lns = trace_depth(lm, texts, max_tokens=TRACE_TOKENS)
print(f"variance growth without LNS {t.growth():.1f}, with LNS applied post hoc {t_lns.growth():.1f}")

# %% [markdown]
# **Reading it.** The variance curve (log scale) shows how fast the residual stream grows with
# depth; the ablation bars show which blocks the model cannot lose. In the Curse of Depth's
# account, a Pre-LN model has many late blocks with small influence and small ablation cost.
