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
# # Dynamic context cutoff: has the model read enough?
#
# Given a question and a long context (the gold passage hidden among distractors), the model
# reads the context chunk by chunk. After each chunk, probes on individual attention heads say
# whether the prefix read so far already holds the answer; reading stops at the first chunk the
# top heads agree on. This notebook trains the head probes, evaluates the stopping rule against
# baselines, and runs it on one example.

# %% tags=["parameters"]
# Sizes of this tutorial: lower them for a quicker run
N_TRAIN = 40  # training contexts
N_VAL = 12  # validation contexts (rank the heads)
N_TEST = 16  # held-out contexts
TARGET_TOKENS = 512  # context length in tokens
SELF_ASSESS = True  # also ask the model whether it has read enough (a baseline)

# %% tags=["remove_input"]
# Hidden on the site: INTERNALS_TUTORIAL_SIZE=small (`make docs`' default) shrinks the sizes above;
# `make docs DOCS_SIZE=full` builds the site with them.
import os

if os.environ.get("INTERNALS_TUTORIAL_SIZE") == "small":
    N_TRAIN, N_VAL, N_TEST, TARGET_TOKENS, SELF_ASSESS = 6, 2, 2, 160, False
    print("This page was built with small sizes:", ", ".join(f"{k} = {v!r}" for k, v in {"N_TRAIN": N_TRAIN, "N_VAL": N_VAL, "N_TEST": N_TEST, "TARGET_TOKENS": TARGET_TOKENS, "SELF_ASSESS": SELF_ASSESS}.items()))

# %%
import tempfile

from internals import load_model
from internals.analyses.cutoff import (
    CutoffConfig,
    PositionBaseline,
    cutoff,
    evaluate_cutoff,
    load_cutoff_probes,
    load_examples,
    results_summary,
    train_cutoff_probes,
)
from internals.analyses.cutoff.figures import head_f1_figures, tradeoff_figure

lm = load_model()
cfg = CutoffConfig(datasets=("disfl_qa",), n_train=N_TRAIN, n_val=N_VAL, n_test=N_TEST,
                   target_tokens=TARGET_TOKENS, kinds=("attn_z",), k=3, standardize=True,
                   self_assess=SELF_ASSESS, max_new_tokens=8,
                   out=tempfile.mkdtemp(prefix="cutoff-"))
example = load_examples(lm, name="disfl_qa", split="test", n=1, cfg=cfg)[0]
print(example.question, "| gold:", example.answers[:2], "| evidence at depth", round(example.depth, 2))
print(example.context[:300], "...")

# %% [markdown]
# ## Train the head probes
# Every training context is read once, incrementally; after each of the 10 chunks the mean
# attention output (`attn_z`) of every head is a feature vector, labelled 1 once the evidence
# has been read. One logistic probe per head; heads are ranked by validation F1, the top `k` vote.

# %%
report = train_cutoff_probes(lm, cfg)
print("position-only F1 on validation:", round(report["f1_val_position"], 3))
print("chosen heads (layer, head):", report["kinds"]["attn_z"]["heads"])
head_f1_figures(report)["attn_z"]

# %% [markdown]
# ## Evaluate the stopping rule
# On held-out contexts: token reduction (context tokens / tokens read) and answer accuracy for
# the probe at several thresholds, against reading everything, stopping at a fixed fraction,
# the position-only classifier and the oracle (stop right after the evidence).

# %%
probes, card = load_cutoff_probes(cfg.out, lm)
position = PositionBaseline.from_dict(card["position"])
examples = load_examples(lm, name="disfl_qa", split="test", n=cfg.n_test, cfg=cfg)
table = evaluate_cutoff(lm, probes, position, examples, cfg, "attn_z", report["kinds"]["attn_z"]["val_budget"],
                 )
for method, r in table["methods"].items():
    print(f"{method:22s} reduction {r['token_reduction']:.2f}x  accuracy {r['accuracy']:.2f}")
tradeoff_figure(results_summary({"disfl_qa": table}, cfg, lm))

# %% [markdown]
# ## One example, end to end
# `cutoff` reads a context until the probe is confident and answers from that prefix; nothing
# after the stopping chunk is encoded.

# %%
result = cutoff(lm, probes["attn_z"], example.question, example.context, threshold=cfg.threshold)
print(f"stopped after chunk {result.chunk + 1} of 10: read {result.n_read} of {result.n_total} tokens "
      f"({result.token_reduction:.2f}x less); answer {result.answer!r}; gold {example.answers[:2]}")

# %% [markdown]
# **Reading it.** A good stopping rule sits up and to the right of the fixed-truncation point
# in the trade-off plot: it reads less for the same accuracy because it stops late when the
# evidence is deep and early when it is near the start. Trained on a handful of contexts
# the probes are close to guessing.
