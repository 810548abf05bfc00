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
# # Activation patching: where does the model look up a fact?
#
# Take a factual prompt the model completes correctly ("The native language of Pierre Louÿs is" ->
# " French") and the same prompt with the subject replaced by another of as many tokens (the
# corrupted run, which no longer says French). Restore one activation, one site at one layer
# and one position, from the clean run into the corrupted run and see how much of the clean
# answer's probability comes back. Over many facts this maps where the answer is carried:
# causal tracing (Meng et al. 2022) with the subject replaced instead of noised (Zhang & Nanda 2023).

# %% tags=["parameters"]
# Sizes of this tutorial: lower them for a quicker run
N_FACTS = 12  # clean/corrupted pairs
MIN_GAP = 0.1  # least p_clean - p_corrupt a pair must show
CORRECT_ONLY = True  # keep only facts the model gets right

# %% tags=["remove_input"]
# Hidden on the site: INTERNALS_TUTORIAL_SIZE=small (`make docs`' default) shrinks the sizes above;
# `make docs DOCS_SIZE=full` builds the site with them.
# The test data slices hold 41 facts, too few that the model gets right: small also keeps wrong ones.
import os

if os.environ.get("INTERNALS_TUTORIAL_SIZE") == "small":
    N_FACTS, MIN_GAP, CORRECT_ONLY = 2, 0.0, False
    print("This page was built with small sizes:", ", ".join(f"{k} = {v!r}" for k, v in {"N_FACTS": N_FACTS, "MIN_GAP": MIN_GAP, "CORRECT_ONLY": CORRECT_ONLY}.items()))

# %%
from internals import capture, load_model, patch
from internals.analyses.patching import build_pairs, patching_run, trace_pair
from internals.analyses.patching.figures import make_figures
from internals.data import load_dataset

lm = load_model()
records = list(load_dataset("qa_wikidata"))
pairs = build_pairs(lm, records, n=N_FACTS, min_gap=MIN_GAP, correct_only=CORRECT_ONLY)
print(pairs.stats)
[(p.clean, p.corrupt, p.target_token, round(p.p_clean, 3), round(p.p_corrupt, 3)) for p in pairs.pairs]

# %% [markdown]
# ## One restoration by hand
# `internals.patch` runs the corrupted prompt with one site taken from a stored clean run and
# returns the last token's logits. Here: the residual stream after block 3 at the last subject
# token (`pair.stop - 1`), then the same at the last token after block 20.

# %%
import torch

pair = pairs.pairs[0]
clean = capture(lm, [list(pair.clean_ids)], "resid_post.*", reduce="none")
for layer, position in [(3, pair.stop - 1), (20, pair.n_tokens - 1)]:
    logits = patch(lm, [list(pair.corrupt_ids)], clean, f"resid_post.{layer}", positions=[position])
    p = torch.softmax(logits, -1)[0, pair.target].item()
    print(f"resid_post.{layer} at position {position}: p = {p:.3f} "
          f"(clean {pair.p_clean:.3f}, corrupted {pair.p_corrupt:.3f})")

# %% [markdown]
# ## Every restoration of one pair, batched
# `trace_pair` restores every (site, layer, position from the subject on) of a pair, many rows
# per forward, and returns P(answer) for each: [layers][positions] per site.

# %%
import numpy as np

t = trace_pair(lm, pair)
for site, rows in t["p"].items():
    p = np.array(rows)  # [layers, positions from the subject's first token]
    layer, pos = np.unravel_index(p.argmax(), p.shape)
    print(f"{site:10s} best restoration: layer {layer:2d}, position {pair.start + pos}: p = {p.max():.3f}")

# %% [markdown]
# ## Over many facts: recovery by token category and layer
# `patching_run` builds the pairs, traces each, and averages the recovery
# (p_patched - p_corrupt) / (p_clean - p_corrupt) per ROME token category and layer, with a
# bootstrap 95% interval over prompts (in the hover text). `internals patch` and
# `benchmarks/patching.py` run the same on 100+ facts.

# %%
doc = patching_run(lm, records, n=N_FACTS, min_gap=MIN_GAP, correct_only=CORRECT_ONLY, n_boot=200)
figs = make_figures(doc)
figs["patching_mlp_out"]

# %%
figs["patching_resid_post"]

# %% [markdown]
# **Reading it.** In ROME's account the MLPs at early-to-middle layers on the last subject
# token recall the fact, and attention moves it to the last token in later layers: the
# resid_post map then shows a band at the subject's last token in early layers that hands over
# to the last token. With a handful of facts the map is noisy; the
# benchmark's 100-fact figures are in `assets/patching_*.png`.
