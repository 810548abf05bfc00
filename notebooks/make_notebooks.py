"""Write the notebooks in this folder from the cells below, outputs empty (run from anywhere):

    .venv/bin/python notebooks/make_notebooks.py

Each notebook is a story a researcher can follow on a CPU: load the embedded model, capture,
train or compute, plot, read the result. Every notebook reads INTERNALS_NOTEBOOK_QUICK=1 (set by
tests/test_notebooks.py, which executes them all) to shrink its settings further. Edit the cells
here, not the .ipynb files, so the notebooks stay consistent.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}

SETUP = """
    import os

    QUICK = os.environ.get("INTERNALS_NOTEBOOK_QUICK") == "1"  # tests/test_notebooks.py: the smallest settings
"""  # indented like the cells it starts, so that dedent sees one margin


def md(text: str):
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip())


def code(text: str):
    return nbformat.v4.new_code_cell(textwrap.dedent(text).strip())


CAPTURE = [
    md("""
    # Capture: sites, reducers, backends and the activation store

    Every analysis in `internals` reads hidden states through one call, `internals.capture`. This
    notebook shows its parts on the embedded SmolLM2-135M-Instruct: the **site grammar** (where to
    read), the **reducers** (how tokens are pooled inside the hook, so only what you need is kept),
    the three **backends** (plain hooks, TransformerLens, nnsight) and the **activation store**
    (a capture over a dataset, streamed to disk, resumable, read back by memory map).
    """),
    code(SETUP + """
    import numpy as np
    import torch

    from internals import capture, load_model
    from internals.capture import GRAMMAR, parse_sites

    lm = load_model()  # the embedded SmolLM2-135M-Instruct (converted into the cache once)
    lm.describe()
    """),
    md("""
    ## Sites
    A site names a place in the forward pass. Layers take a number, `*`, a range `a-b` or a list
    `1,4`; one string can hold several specs.
    """),
    code("""
    print(GRAMMAR)
    for spec in ["embed", "resid_post.*", "attn_z.3-5", "mlp_out.0,29", "final_norm"]:
        names = [s.name for s in parse_sites(spec, lm.n_layers)]
        print(f"{spec:14s} -> {len(names):2d} sites: {names[:3]}{' ...' if len(names) > 3 else ''}")
    """),
    md("""
    ## Reducers
    The reducer runs inside the hook: `mean` and `last` keep one vector per prompt, `none` keeps
    every token (with a mask for the padding), `norm` keeps each token's L2 norm, `stats` keeps
    streaming moments over all tokens. Prompts may be `(input, output)` pairs; `span` picks the
    tokens a reducer sees.
    """),
    code("""
    prompts = ["The capital of France is", "Water boils at a temperature of", "The largest planet is",
               "A triangle has three"]
    for reduce in ["mean", "last", "none", "norm"]:
        acts = capture(lm, prompts, "resid_post.10 attn_z.10", reduce)
        shapes = {k: tuple(v.shape) for k, v in acts.items()}
        print(f"{reduce:5s}", shapes, "mask" if acts.mask is not None else "")
    stats = capture(lm, prompts, "resid_post.10", "stats")["resid_post.10"]
    print("stats: count", int(stats.count), "mean", tuple(stats.mean.shape), "var", tuple(stats.var.shape))
    pair = capture(lm, [("Q: What is 2 + 2?\\nA:", " 4")], "resid_post.10", "mean", span="output")
    print("mean over the answer tokens only:", tuple(pair["resid_post.10"].shape))
    """),
    md("""
    ## Three backends, one result
    The same call runs on plain PyTorch hooks (the default), TransformerLens (`HookedTransformer`
    converted from the HF weights) or nnsight. They agree up to float32 rounding.
    """),
    code("""
    import time

    reference = None
    for backend in ["hooks", "transformer_lens", "nnsight"]:
        start = time.perf_counter()
        acts = capture(lm, prompts, "resid_post.*", "mean", backend=backend)
        seconds = time.perf_counter() - start
        reference = reference or acts
        diff = max(float((acts[k] - reference[k]).abs().max()) for k in reference)
        print(f"{backend:17s} max |diff| vs hooks {diff:.2e}   {seconds:.1f} s")
    """),
    md("""
    ## The activation store
    `capture_to_store` runs a capture over a dataset (here real BIG-bench qa_wikidata questions)
    and streams it into safetensors shards with a manifest: the model's fingerprint, the data's
    fingerprint, the sites, the reducer, package versions. Running it again resumes (or does
    nothing when it is complete); `Store.open` reads the arrays by memory map.
    """),
    code("""
    import tempfile

    from internals.data import load_dataset
    from internals.store import Store, capture_to_store

    data = load_dataset("qa_wikidata", limit=24 if QUICK else 200)
    out = tempfile.mkdtemp(prefix="stores-")
    store = capture_to_store(lm, data, "resid_post.*", "mean", out, template="chat", progress=not QUICK)
    store = Store.open(store.path)
    print(store)
    print("rows:", len(store), "first ids:", store.rows()[:2])
    print("resid_post.20:", store["resid_post.20"].shape, type(store["resid_post.20"]).__name__)
    {k: store.manifest["config"][k] for k in ("sites", "reduce", "template", "dataset")}
    """),
    md("""
    ## A first picture: how large is the residual stream, layer by layer?
    The `norm` reducer gives every token's L2 norm at every layer. Plotted with
    `internals.plots` (the paper template: serif, one column wide, colour-blind-safe).
    """),
    code("""
    from internals.plots import heatmap, layer_lines

    questions = [r.question for r in data][: 8 if QUICK else 64]
    acts = capture(lm, questions, "embed resid_post.*", "norm")
    norms = torch.stack([acts[k] for k in acts])                     # [layers+1, prompts, tokens]
    mask = acts.mask.float()                                         # [prompts, tokens]
    per_prompt = ((norms * mask).sum(-1) / mask.sum(-1)).numpy()     # [layers+1, prompts]
    first = norms[:, 0, : int(mask[0].sum())].numpy()                # [layers+1, tokens]
    layer_lines({"mean over tokens": per_prompt}, band="iqr", log_y=True, xlabel="layer (0 = embedding)",
                ylabel="‖resid‖₂", width="double")
    """),
    code("""
    tokens = [lm.tokenizer.decode([t]) for t in lm.tokenizer(questions[0])["input_ids"]]
    heatmap(np.log10(first.T), x_label="layer", y_label="token", y_ticks=tokens, rows_top_down=True,
            colorbar_title="log10 ‖resid‖₂", width="double")
    """),
    code("""
    peak = int(np.argmax(first.max(axis=0)))
    print(f"largest norm: token {tokens[int(np.argmax(first[peak]))]!r} at layer {peak}, "
          f"{first.max():.0f} vs median {np.median(first):.0f} over this prompt")
    print("median over prompts, layer 0 / 15 / 30:", np.round(np.median(per_prompt, axis=1)[[0, 15, 30]], 1))
    """),
    md("""
    **Reading it.** The heatmap shows whether one token carries most of the norm: in many
    pre-norm models the first token's residual grows orders of magnitude larger than the others
    a few blocks in (a "massive activation" that attention uses as a sink). The line plot is the
    mean over each prompt's tokens, so such a token lifts the whole curve. The numbers printed
    above come from this run.
    """),
]

FACTCHECKMATE = [
    md("""
    # FactCheckmate: will the model hallucinate? Ask its hidden states first

    FactCheckmate trains a small classifier on the hidden states of the **question** to predict
    whether the model's answer will be wrong, before it answers. Here: the embedded
    SmolLM2-135M-Instruct answers BIG-bench qa_wikidata questions greedily; an answer that matches
    no gold alias is a hallucination; probes read the mean-pooled residual stream of the question
    at every layer (`internals probe train` runs the same pipeline from a TOML file).
    """),
    code(SETUP + """
    import tempfile

    import numpy as np

    from internals import load_model
    from internals.analyses.factcheckmate import ProbeConfig, predict, train_factcheckmate_probe
    from internals.analyses.factcheckmate.figures import sweep_figure

    lm = load_model()
    out = tempfile.mkdtemp(prefix="probes-")
    config = ProbeConfig(name="qa_wikidata_demo", dataset="qa_wikidata", limit=60 if QUICK else 600,
                         heads=["logistic"] if QUICK else ["mlp_scaled", "mlp", "logistic"], max_new_tokens=12, out=out)
    config
    """),
    md("""
    ## Label, capture, train at every layer
    `train_factcheckmate_probe` answers every question (answers are cached), labels them, captures the mean-pooled
    `resid_post` of every layer into an activation store, fits the probes at each layer on the
    train split and keeps the layer with the best validation balanced accuracy.
    """),
    code("""
    probe_dir = train_factcheckmate_probe(config, lm=lm, progress=not QUICK)
    import json
    card = json.loads((probe_dir / "card.json").read_text())["card"]
    print("chosen layer:", card["layer"], "| splits:", card["data"]["splits"],
          "| hallucination rate:", round(card["data"]["hallucination_rate"], 3))
    {head: {k: m["test"][k] for k in ("balanced_accuracy", "auroc")} for head, m in card["metrics"].items()}
    """),
    md("""
    ## Which layers know?
    Test-split balanced accuracy and AUROC of a probe trained at each layer (from the saved
    `sweep.json`; `internals figures` redraws README's version of this plot the same way).
    """),
    code("""
    sweep_figure(probe_dir / "sweep.json", "test")
    """),
    md("""
    ## Use the probe on new questions
    `predict` loads the probe (it refuses a model with another fingerprint) and returns
    P(hallucination) for each question, before any answer is generated.
    """),
    code("""
    questions = ["The capital of France is", "The native language of Hans Christian Andersen is",
                 "The religion of Zhang Qiyun is"]
    for q, p in zip(questions, predict(probe_dir, questions, lm=lm)):
        print(f"{p:.2f}  {q}")
    """),
    md("""
    **Reading it.** With a 135M model most answers to these questions are wrong, so the classes
    are imbalanced: balanced accuracy (0.5 = chance) and AUROC are the numbers to read. The sweep
    shows where along the depth the question's representation already tells whether the model
    knows the answer. With `QUICK` the sample is tiny and the numbers are noisy.
    """),
    md("""
    ## Steer the questions it flags
    Mitigation (our own design: the paper's is not public). Every test question is answered once
    while the probe reads the same forward pass. The flagged ones are answered again with a
    steering vector added to the residual stream at an early block. The vector is the mean pooled
    state of the factual training questions minus that of the hallucinated ones.
    `benchmarks/factcheckmate.py` picked layer 4 and alpha 16 on validation questions; it then
    measured 0.033 -> 0.079 on 366 flagged test questions.
    """),
    code("""
    from internals.analyses.factcheckmate import Detector, factcheckmate_answers, steering_vector
    from internals.answers import match
    from internals.analyses.factcheckmate.pipeline import prepare
    from internals.data import load_dataset
    from internals.heads import load_probe

    prep = prepare(lm, load_dataset(config.dataset, limit=config.limit, seed=config.seed), config.template,
                   config.setting, config.generation, "*", config.seed, config.capture_batch_size,
                   progress=False)  # answers and features: cached by train_factcheckmate_probe() above
    STEER_LAYER, ALPHA = 4, 16.0
    train_rows = prep.split.train
    vector = steering_vector(prep.features.layer(STEER_LAYER)[train_rows], prep.labels.y[train_rows])
    detector = Detector(load_probe(probe_dir, model=lm).estimator, card["layer"])
    rows = prep.split.test
    out = factcheckmate_answers(lm, [prep.prompts[i] for i in rows], detector, vector, ALPHA, config.generation,
                                steer_layer=STEER_LAYER)
    before = np.array([match(a, prep.dataset[i].answers, "substring") for a, i in zip(out.plain, rows)])
    after = np.array([match(a, prep.dataset[i].answers, "substring") for a, i in zip(out.answers, rows)])
    for name, sel in (("flagged", out.flagged), ("unflagged", ~out.flagged)):
        if sel.any():
            print(f"{name:9s} {sel.sum():3d} questions: factual {before[sel].mean():.3f} -> {after[sel].mean():.3f}")
    [(prep.dataset[i].question, a, b) for i, a, b, f in zip(rows, out.plain, out.answers, out.flagged) if f][:5]
    """),
]

CUTOFF = [
    md("""
    # Dynamic context cutoff: has the model read enough?

    Given a question and a long context (the gold passage hidden among distractors), the model
    reads the context chunk by chunk. After each chunk, probes on individual attention heads say
    whether the prefix read so far already holds the answer; reading stops at the first chunk the
    top heads agree on. This notebook trains the head probes, evaluates the stopping rule against
    baselines, and runs it on one example.
    """),
    code(SETUP + """
    import tempfile

    from internals import load_model
    from internals.analyses.cutoff import CutoffConfig, cutoff, evaluate_cutoff, load_cutoff_probes, load_examples, train_cutoff_probes
    from internals.analyses.cutoff.baselines import PositionBaseline
    from internals.analyses.cutoff.figures import head_f1_figures, tradeoff_figure
    from internals.analyses.cutoff.pipeline import results_summary

    lm = load_model()
    cfg = CutoffConfig(datasets=("disfl_qa",), n_train=6 if QUICK else 40, n_val=2 if QUICK else 12,
                       n_test=2 if QUICK else 16, target_tokens=160 if QUICK else 512, kinds=("attn_z",), k=3,
                       standardize=True, self_assess=not QUICK, max_new_tokens=8,
                       out=tempfile.mkdtemp(prefix="cutoff-"))
    example = load_examples(lm, "disfl_qa", "test", 1, cfg)[0]
    print(example.question, "| gold:", example.answers[:2], "| evidence at depth", round(example.depth, 2))
    print(example.context[:300], "...")
    """),
    md("""
    ## Train the head probes
    Every training context is read once, incrementally; after each of the 10 chunks the mean
    attention output (`attn_z`) of every head is a feature vector, labelled 1 once the evidence
    has been read. One logistic probe per head; heads are ranked by validation F1, the top `k` vote.
    """),
    code("""
    report = train_cutoff_probes(lm, cfg, progress=not QUICK)
    print("position-only F1 on validation:", round(report["f1_val_position"], 3))
    print("chosen heads (layer, head):", report["kinds"]["attn_z"]["heads"])
    head_f1_figures(report)["attn_z"]
    """),
    md("""
    ## Evaluate the stopping rule
    On held-out contexts: token reduction (context tokens / tokens read) and answer accuracy for
    the probe at several thresholds, against reading everything, stopping at a fixed fraction,
    the position-only classifier and the oracle (stop right after the evidence).
    """),
    code("""
    probes, card = load_cutoff_probes(cfg.out, lm)
    position = PositionBaseline.from_dict(card["position"])
    examples = load_examples(lm, "disfl_qa", "test", cfg.n_test, cfg)
    table = evaluate_cutoff(lm, probes, position, examples, cfg, "attn_z", report["kinds"]["attn_z"]["val_budget"],
                     progress=not QUICK)
    for method, r in table["methods"].items():
        print(f"{method:22s} reduction {r['token_reduction']:.2f}x  accuracy {r['accuracy']:.2f}")
    tradeoff_figure(results_summary({"disfl_qa": table}, cfg, lm))
    """),
    md("""
    ## One example, end to end
    `cutoff` reads a context until the probe is confident and answers from that prefix; nothing
    after the stopping chunk is encoded.
    """),
    code("""
    result = cutoff(lm, probes["attn_z"], example.question, example.context, threshold=cfg.threshold)
    print(f"stopped after chunk {result.chunk + 1} of 10: read {result.n_read} of {result.n_total} tokens "
          f"({result.token_reduction:.2f}x less); answer {result.answer!r}; gold {example.answers[:2]}")
    """),
    md("""
    **Reading it.** A good stopping rule sits up and to the right of the fixed-truncation point
    in the trade-off plot: it reads less for the same accuracy because it stops late when the
    evidence is deep and early when it is near the start. With `QUICK` the probes see a handful
    of contexts, so they are close to guessing.
    """),
]

VOIDS = [
    md("""
    # Voids: which blocks does each token actually use?

    L2 Adaptive Computation (LAC) watches how much each block changes a token's residual-stream
    norm; blocks that change it little are *voids* for that token. This notebook traces the norms
    during prompt processing (PP) and greedy generation (RG), computes LAC decisions, plots where
    the voids are, and then skips them to see what it costs in accuracy.
    """),
    code(SETUP + """
    import numpy as np

    from internals import load_model
    from internals.analyses.voids import EvalConfig, LACSkip, SkipConfig, evaluate_voids, trace
    from internals.data import load_dataset
    from internals.plots import curves, heatmap, layer_lines
    from internals.prompts import render

    lm = load_model()
    data = load_dataset("strategyqa", limit=4 if QUICK else 40)
    prompts = render(data, "chat", lm.tokenizer)  # token ids of each question as a chat turn
    tr = trace(lm, prompts, max_new_tokens=6 if QUICK else 24, progress=not QUICK)
    print(tr.pp.shape, "prompt norms [prompts, tokens, layers+1];", tr.rg.shape, "generation norms")
    print("first reply:", tr.texts[0][:120])
    """),
    md("""
    ## Where are the voids?
    `tr.lac(alpha, phase)` gives the decisions: `activated [prompts, tokens, layers]`. Higher
    `alpha` marks more blocks as voids.
    """),
    code("""
    alpha = 0.8
    rates = np.stack([tr.lac(alpha, phase).layer_rates() for phase in ("pp", "rg")])   # [2, layers]
    heatmap(rates, x_label="block", y_label="phase", y_ticks=["prompt (PP)", "generation (RG)"],
            colorbar_title="activated", zmin=0, zmax=1, width="double", height=1.8)
    """),
    code("""
    alphas = [0.05, 0.1, 0.2, 0.3, 0.5, 0.8]
    share = {phase: (alphas, [tr.lac(a, phase).void_share() for a in alphas]) for phase in ("pp", "rg")}
    for a, pp, rg in zip(alphas, share["pp"][1], share["rg"][1]):
        print(f"alpha {a:4}: voids PP {pp:.2f}  RG {rg:.2f}")
    curves(share, band=None, xlabel="alpha", ylabel="void share of (token, block) pairs")
    """),
    md("""
    ## Skipping the voids
    `LACSkip` is an intervention: hooks that make LAC decisions in every forward and apply the
    paper's skipping (kind `paper`) or drop the void blocks' updates (kind `drop`), removed on exit.
    """),
    code("""
    import torch

    ids = torch.tensor([prompts[0]])
    with torch.no_grad():
        full = lm.model(ids).logits[0, -1]
        with LACSkip(lm.model, SkipConfig("paper", alpha)) as skip:
            skipped = lm.model(ids).logits[0, -1]
    activated, _ = skip.calls[0]
    print(f"blocks used per token: {activated.float().mean():.2f} of all; "
          f"same next token: {bool(full.argmax() == skipped.argmax())}")
    """),
    md("""
    ## What does it cost?
    Accuracy on multiple-choice questions (the paper's prompt; the reply is parsed for a letter,
    and separately each option is scored by log-likelihood) with the full model and with voids
    skipped at a few alphas.
    """),
    code("""
    import tempfile

    mc = load_dataset("general_knowledge", limit=4 if QUICK else 40)
    rows = evaluate_voids(lm, [mc], EvalConfig(alphas=(0.1, 0.8), kinds=("paper",), max_new_tokens=4 if QUICK else 8),
                    tempfile.mkdtemp(prefix="voids-"), progress=not QUICK)
    for r in rows:
        print(f"{r['label']:18s} {r['protocol']:8s} accuracy {r['accuracy']:.2f}  pairs used {r['used']:.2f}")
    """),
    md("""
    **Reading it.** The heatmap shows which blocks LAC keeps for most tokens (often the first
    and the last few) and which it marks as voids; the sweep shows how the share of voids grows
    with alpha. The accuracy table says whether skipping them changes the answers: the same
    accuracy with fewer (token, block) pairs used is the trade-off the paper reports.
    """),
]

DEPTH = [
    md("""
    # The Curse of Depth: do the deep blocks of a Pre-LN model still do anything?

    In Pre-LN transformers the residual stream's variance grows with depth, so the deeper blocks'
    updates become small next to it and the blocks act almost like the identity. This notebook
    measures that on the embedded SmolLM2-135M-Instruct: variance per layer, angular distance
    between layers, how much each block changes its input, what skipping each block costs, and
    what LayerNorm Scaling (LNS, 1/√l on the pre-block norms) changes.
    """),
    code(SETUP + """
    import numpy as np

    from internals import load_model
    from internals.analyses.depth import ablate, apply_layernorm_scaling, trace_depth
    from internals.analyses.depth.corpus import texts_for
    from internals.analyses.depth.figures import trace_figures

    lm = load_model()
    texts, heldout, data = texts_for("corpus", 6 if QUICK else 64, 2 if QUICK else 8)
    print(data["name"], "|", len(texts), "passages to trace,", len(heldout), "held out |", texts[0][:120], "...")
    """),
    md("""
    ## Trace: variance, angular distance, block influence
    `trace_depth` captures the residual stream before the first block and after every block
    (streaming, so any number of prompts fits in memory).
    """),
    code("""
    t = trace_depth(lm, texts, max_tokens=32 if QUICK else 64)
    print(f"variance after the last block / after the first: {t.growth():.1f}")
    print(f"mean block influence 1 - cos(in, out): {t.influence.mean():.3f}")
    """),
    md("""
    ## Ablation: skip one block at a time
    The next-token loss on held-out passages with each block skipped (its input passed straight
    to the next block). A block whose removal barely changes the loss is doing little.
    """),
    code("""
    a = ablate(lm, heldout, max_tokens=24 if QUICK else 96)
    order = np.argsort(a.delta)
    print(f"baseline loss {a.baseline:.3f} nats")
    print("least needed blocks:", [(int(a.blocks[i]), round(float(a.delta[i]), 3)) for i in order[:5]])
    print("most needed blocks:", [(int(a.blocks[i]), round(float(a.delta[i]), 3)) for i in order[-3:]])
    """),
    code("""
    figs = trace_figures({"results": {"traces": {lm.name: t.to_dict()}, "ablation": a.to_dict()}})
    list(figs)
    """),
    code("""
    figs["depth_variance"]
    """),
    code("""
    figs["depth_ablation"]
    """),
    md("""
    ## LayerNorm Scaling on a trained model
    `apply_layernorm_scaling` scales the output of each block's pre-attention and pre-MLP norm by
    1/√l (hooks, removed on exit). On a model *trained without* it this is a perturbation, not the
    fix: the paper's gains come from training with LNS from the start (`internals depth pretrain`
    compares the two from scratch).
    """),
    code("""
    with apply_layernorm_scaling(lm.model):
        t_lns = trace_depth(lm, texts, max_tokens=32 if QUICK else 64)
    print(f"variance growth without LNS {t.growth():.1f}, with LNS applied post hoc {t_lns.growth():.1f}")
    """),
    md("""
    **Reading it.** The variance curve (log scale) shows how fast the residual stream grows with
    depth; the ablation bars show which blocks the model cannot lose. In the Curse of Depth's
    account, a Pre-LN model has many late blocks with small influence and small ablation cost.
    """),
]

PATCHING = [
    md("""
    # Activation patching: where does the model look up a fact?

    Take a factual prompt the model completes correctly ("The native language of Pierre Louÿs is" ->
    " French") and the same prompt with the subject replaced by another of as many tokens (the
    corrupted run, which no longer says French). Restore one activation, one site at one layer
    and one position, from the clean run into the corrupted run and see how much of the clean
    answer's probability comes back. Over many facts this maps where the answer is carried:
    causal tracing (Meng et al. 2022) with the subject replaced instead of noised (Zhang & Nanda 2023).
    """),
    code(SETUP + """
    from internals import capture, load_model, patch
    from internals.analyses.patching import build_pairs, patching_run, trace_pair
    from internals.analyses.patching.figures import make_figures
    from internals.data import load_dataset

    lm = load_model()
    records = list(load_dataset("qa_wikidata"))
    # the test slices hold 41 facts, too few that the model gets right: QUICK also keeps wrong ones
    SETTINGS = dict(n=2, min_gap=0.0, correct_only=False) if QUICK else dict(n=12, min_gap=0.1, correct_only=True)
    pairs = build_pairs(lm, records, **SETTINGS)
    print(pairs.stats)
    [(p.clean, p.corrupt, p.target_token, round(p.p_clean, 3), round(p.p_corrupt, 3)) for p in pairs.pairs]
    """),
    md("""
    ## One restoration by hand
    `internals.patch` runs the corrupted prompt with one site taken from a stored clean run and
    returns the last token's logits. Here: the residual stream after block 3 at the last subject
    token (`pair.stop - 1`), then the same at the last token after block 20.
    """),
    code("""
    import torch

    pair = pairs.pairs[0]
    clean = capture(lm, [list(pair.clean_ids)], "resid_post.*", reduce="none")
    for layer, position in [(3, pair.stop - 1), (20, pair.n_tokens - 1)]:
        logits = patch(lm, [list(pair.corrupt_ids)], clean, f"resid_post.{layer}", positions=[position])
        p = torch.softmax(logits, -1)[0, pair.target].item()
        print(f"resid_post.{layer} at position {position}: p = {p:.3f} "
              f"(clean {pair.p_clean:.3f}, corrupted {pair.p_corrupt:.3f})")
    """),
    md("""
    ## Every restoration of one pair, batched
    `trace_pair` restores every (site, layer, position from the subject on) of a pair, many rows
    per forward, and returns P(answer) for each: [layers][positions] per site.
    """),
    code("""
    import numpy as np

    t = trace_pair(lm, pair)
    for site, rows in t["p"].items():
        p = np.array(rows)  # [layers, positions from the subject's first token]
        layer, pos = np.unravel_index(p.argmax(), p.shape)
        print(f"{site:10s} best restoration: layer {layer:2d}, position {pair.start + pos}: p = {p.max():.3f}")
    """),
    md("""
    ## Over many facts: recovery by token category and layer
    `patching_run` builds the pairs, traces each, and averages the recovery
    (p_patched - p_corrupt) / (p_clean - p_corrupt) per ROME token category and layer, with a
    bootstrap 95% interval over prompts (in the hover text). `internals patch` and
    `benchmarks/patching.py` run the same on 100+ facts.
    """),
    code("""
    doc = patching_run(lm, records, **SETTINGS, n_boot=200, progress=not QUICK)
    figs = make_figures(doc)
    figs["patching_mlp_out"]
    """),
    code("""
    figs["patching_resid_post"]
    """),
    md("""
    **Reading it.** In ROME's account the MLPs at early-to-middle layers on the last subject
    token recall the fact, and attention moves it to the last token in later layers: the
    resid_post map then shows a band at the subject's last token in early layers that hands over
    to the last token. With a handful of facts (and `QUICK`'s slices) the map is noisy; the
    benchmark's 100-fact figures are in `assets/patching_*.png`.
    """),
]

NOTEBOOKS = {
    "01_capture.ipynb": CAPTURE,
    "02_factcheckmate.ipynb": FACTCHECKMATE,
    "03_cutoff.ipynb": CUTOFF,
    "04_voids.ipynb": VOIDS,
    "05_depth.ipynb": DEPTH,
    "06_patching.ipynb": PATCHING,
}


def build(cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = KERNEL
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"  # stable ids: regenerating changes nothing unless a cell does
    nbformat.validate(nb)
    return nb


def main(argv: list[str] | None = None) -> int:
    names = argv or list(NOTEBOOKS)
    for name in names:
        path = HERE / name
        path.write_text(nbformat.writes(build(NOTEBOOKS[name])) + "\n", encoding="utf-8")
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
