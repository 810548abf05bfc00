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
# # Voids: which blocks does each token actually use?
#
# L2 Adaptive Computation (LAC) watches how much each block changes a token's residual-stream
# norm; blocks that change it little are *voids* for that token. This notebook traces the norms
# during prompt processing (PP) and greedy generation (RG), computes LAC decisions, plots where
# the voids are, and then skips them to see what it costs in accuracy.

# %% tags=["parameters"]
# Sizes of this tutorial: lower them for a quicker run
N_PROMPTS = 40  # strategyqa questions traced
MAX_NEW_TOKENS = 24  # tokens generated per question
N_MC = 40  # multiple-choice questions scored
MC_TOKENS = 8  # tokens generated per choice answer

# %% tags=["remove_input"]
# Hidden on the site: INTERNALS_TUTORIAL_SIZE=small (`make docs`' default) shrinks the sizes above;
# `make docs DOCS_SIZE=full` builds the site with them.
import os

if os.environ.get("INTERNALS_TUTORIAL_SIZE") == "small":
    N_PROMPTS, MAX_NEW_TOKENS, N_MC, MC_TOKENS = 4, 6, 4, 4
    print("This page was built with small sizes:", ", ".join(f"{k} = {v!r}" for k, v in {"N_PROMPTS": N_PROMPTS, "MAX_NEW_TOKENS": MAX_NEW_TOKENS, "N_MC": N_MC, "MC_TOKENS": MC_TOKENS}.items()))

# %%
import numpy as np

from internals import load_model
from internals.analyses.voids import EvalConfig, LACSkip, SkipConfig, evaluate_voids, trace
from internals.data import load_dataset
from internals.plots import curves, heatmap, layer_lines
from internals.prompts import render

lm = load_model()
data = load_dataset("strategyqa", limit=N_PROMPTS)
prompts = render(data, "chat", lm.tokenizer)  # token ids of each question as a chat turn
tr = trace(lm, prompts, max_new_tokens=MAX_NEW_TOKENS, progress=True)
print(tr.pp.shape, "prompt norms [prompts, tokens, layers+1];", tr.rg.shape, "generation norms")
print("first reply:", tr.texts[0][:120])

# %% [markdown]
# ## Where are the voids?
# `tr.lac(alpha, phase)` gives the decisions: `activated [prompts, tokens, layers]`. Higher
# `alpha` marks more blocks as voids.

# %%
alpha = 0.8
rates = np.stack([tr.lac(alpha, phase).layer_rates() for phase in ("pp", "rg")])   # [2, layers]
heatmap(rates, x_label="block", y_label="phase", y_ticks=["prompt (PP)", "generation (RG)"],
        colorbar_title="activated", zmin=0, zmax=1, width="double", height=1.8)

# %%
alphas = [0.05, 0.1, 0.2, 0.3, 0.5, 0.8]
share = {phase: (alphas, [tr.lac(a, phase).void_share() for a in alphas]) for phase in ("pp", "rg")}
for a, pp, rg in zip(alphas, share["pp"][1], share["rg"][1]):
    print(f"alpha {a:4}: voids PP {pp:.2f}  RG {rg:.2f}")
curves(share, band=None, xlabel="alpha", ylabel="void share of (token, block) pairs")

# %% [markdown]
# ## Skipping the voids
# `LACSkip` is an intervention: hooks that make LAC decisions in every forward and apply the
# paper's skipping (kind `paper`) or drop the void blocks' updates (kind `drop`), removed on exit.

# %%
import torch

ids = torch.tensor([prompts[0]])
with torch.no_grad():
    full = lm.model(ids).logits[0, -1]
    with LACSkip(lm.model, SkipConfig("paper", alpha)) as skip:
        skipped = lm.model(ids).logits[0, -1]
activated, _ = skip.calls[0]
print(f"blocks used per token: {activated.float().mean():.2f} of all; "
      f"same next token: {bool(full.argmax() == skipped.argmax())}")

# %% [markdown]
# ## What does it cost?
# Accuracy on multiple-choice questions (the paper's prompt; the reply is parsed for a letter,
# and separately each option is scored by log-likelihood) with the full model and with voids
# skipped at a few alphas.

# %%
import tempfile

mc = load_dataset("general_knowledge", limit=N_MC)
rows = evaluate_voids(lm, [mc], EvalConfig(alphas=(0.1, 0.8), kinds=("paper",), max_new_tokens=MC_TOKENS),
                out=tempfile.mkdtemp(prefix="voids-"))
for r in rows:
    print(f"{r['label']:18s} {r['protocol']:8s} accuracy {r['accuracy']:.2f}  pairs used {r['used']:.2f}")

# %% [markdown]
# **Reading it.** The heatmap shows which blocks LAC keeps for most tokens (often the first
# and the last few) and which it marks as voids; the sweep shows how the share of voids grows
# with alpha. The accuracy table says whether skipping them changes the answers: the same
# accuracy with fewer (token, block) pairs used is the trade-off the paper reports.
