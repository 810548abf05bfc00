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
# # FactCheckmate: will the model hallucinate? Ask its hidden states first
#
# FactCheckmate trains a small classifier on the hidden states of the **question** to predict
# whether the model's answer will be wrong, before it answers. Here: the embedded
# SmolLM2-135M-Instruct answers BIG-bench qa_wikidata questions greedily; an answer that matches
# no gold alias is a hallucination; probes read the mean-pooled residual stream of the question
# at every layer (`internals probe train` runs the same pipeline from a TOML file).

# %% tags=["parameters"]
# Sizes of this tutorial: lower them for a quicker run
N_QUESTIONS = 600  # qa_wikidata questions answered, labelled and captured
HEADS = ["mlp_scaled", "mlp", "logistic"]  # probe heads fitted at every layer

# %% tags=["remove_input"]
# Hidden on the site: INTERNALS_TUTORIAL_SIZE=small (`make docs`' default) shrinks the sizes above;
# `make docs DOCS_SIZE=full` builds the site with them.
import os

if os.environ.get("INTERNALS_TUTORIAL_SIZE") == "small":
    N_QUESTIONS, HEADS = 60, ["logistic"]
    print("This page was built with small sizes:", ", ".join(f"{k} = {v!r}" for k, v in {"N_QUESTIONS": N_QUESTIONS, "HEADS": HEADS}.items()))

# %%
import tempfile

import numpy as np

from internals import load_model
from internals.analyses.factcheckmate import ProbeConfig, predict, train_factcheckmate_probe
from internals.analyses.factcheckmate.figures import sweep_figure

lm = load_model()
out = tempfile.mkdtemp(prefix="probes-")
config = ProbeConfig(name="qa_wikidata_demo", dataset="qa_wikidata", limit=N_QUESTIONS,
                     heads=HEADS, max_new_tokens=12, out=out)
config

# %% [markdown]
# ## Label, capture, train at every layer
# `train_factcheckmate_probe` answers every question (answers are cached), labels them, captures the mean-pooled
# `resid_post` of every layer into an activation store, fits the probes at each layer on the
# train split and keeps the layer with the best validation balanced accuracy.

# %%
probe_dir = train_factcheckmate_probe(config, lm=lm)
import json
card = json.loads((probe_dir / "card.json").read_text())["card"]
print("chosen layer:", card["layer"], "| splits:", card["data"]["splits"],
      "| hallucination rate:", round(card["data"]["hallucination_rate"], 3))
{head: {k: m["test"][k] for k in ("balanced_accuracy", "auroc")} for head, m in card["metrics"].items()}

# %% [markdown]
# ## Which layers know?
# Test-split balanced accuracy and AUROC of a probe trained at each layer (from the saved
# `sweep.json`; `internals figures` redraws README's version of this plot the same way).

# %%
sweep_figure(probe_dir / "sweep.json", "test")

# %% [markdown]
# ## Use the probe on new questions
# `predict` loads the probe (it refuses a model with another fingerprint) and returns
# P(hallucination) for each question, before any answer is generated.

# %%
questions = ["The capital of France is", "The native language of Hans Christian Andersen is",
             "The religion of Zhang Qiyun is"]
for q, p in zip(questions, predict(probe_dir, questions, lm=lm)):
    print(f"{p:.2f}  {q}")

# %% [markdown]
# **Reading it.** With a 135M model most answers to these questions are wrong, so the classes
# are imbalanced: balanced accuracy (0.5 = chance) and AUROC are the numbers to read. The sweep
# shows where along the depth the question's representation already tells whether the model
# knows the answer. With a few dozen questions the numbers are noisy.

# %% [markdown]
# ## Steer the questions it flags
# Mitigation (our own design: the paper's is not public). Every test question is answered once
# while the probe reads the same forward pass. The flagged ones are answered again with a
# steering vector added to the residual stream at an early block. The vector is the mean pooled
# state of the factual training questions minus that of the hallucinated ones.
# `benchmarks/factcheckmate.py` picked layer 4 and alpha 16 on validation questions; it then
# measured 0.033 -> 0.079 on 366 flagged test questions.

# %%
from internals.analyses.factcheckmate import Detector, factcheckmate_answers, prepare, steering_vector
from internals.answers import match
from internals.data import load_dataset
from internals.heads import load_probe

prep = prepare(lm, load_dataset(config.dataset, limit=config.limit, seed=config.seed), template=config.template,
               setting=config.setting, generation=config.generation, layers="*", seed=config.seed,
               capture_batch_size=config.capture_batch_size, progress=False)  # answers and features: cached by train_factcheckmate_probe() above
STEER_LAYER, ALPHA = 4, 16.0
train_rows = prep.split.train
vector = steering_vector(prep.features.layer(STEER_LAYER)[train_rows], prep.labels.y[train_rows])
detector = Detector(load_probe(probe_dir, model=lm).estimator, card["layer"])
rows = prep.split.test
out = factcheckmate_answers(lm, [prep.prompts[i] for i in rows], detector=detector, vector=vector, alpha=ALPHA,
                            settings=config.generation,
                            steer_layer=STEER_LAYER)
before = np.array([match(a, prep.dataset[i].answers, "substring") for a, i in zip(out.plain, rows)])
after = np.array([match(a, prep.dataset[i].answers, "substring") for a, i in zip(out.answers, rows)])
for name, sel in (("flagged", out.flagged), ("unflagged", ~out.flagged)):
    if sel.any():
        print(f"{name:9s} {sel.sum():3d} questions: factual {before[sel].mean():.3f} -> {after[sel].mean():.3f}")
[(prep.dataset[i].question, a, b) for i, a, b, f in zip(rows, out.plain, out.answers, out.flagged) if f][:5]
