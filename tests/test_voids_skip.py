"""The three kinds of skipping on tiny models: exactness without voids, the paper's readout,
dropped updates, blocks that really do not run, hook hygiene and bad input."""

from __future__ import annotations

import pytest
import torch

from internals import load_model
from internals.analyses.voids.decode import greedy
from internals.analyses.voids.lac import lac
from internals.analyses.voids.readout import States, paper_generate, paper_option_scores, readout
from internals.analyses.voids.runs import drop_run, shared_runs, skip_runs
from internals.analyses.voids.skip import LACSkip, SkipConfig, prompt_skip_set
from internals.capture import Trace, attach, edits
from internals.capture.sites import parse_sites
from internals.errors import InternalsError

pytestmark = pytest.mark.usefixtures("torch_one_thread")  # conftest.py

TEXT = "The quick brown fox jumps over the lazy dog because it"


@pytest.fixture(scope="module")
def growing(tiny_dirs):
    """Tiny Llama whose blocks add ever larger updates: every delta is positive and larger than
    the last, so no block is a void at any alpha."""
    lm = load_model(tiny_dirs["llama"], device="cpu")
    with torch.no_grad():
        for i, block in enumerate(lm.model.model.layers):
            block.mlp.down_proj.weight.mul_(4.0 ** (i + 1))
    return lm


@pytest.fixture(scope="module")
def gemma(tiny_dirs):
    """Tiny Gemma 2: its last block is a void for most tokens at alpha 0.8 (and it soft-caps logits)."""
    return load_model(tiny_dirs["gemma2"], device="cpu")


def _ids(lm, text=TEXT):
    return lm.tokenizer(text)["input_ids"]


def _states(lm, ids):
    with torch.no_grad(), States(lm) as rec:
        lm.model(input_ids=torch.tensor([ids]))
    return rec.rows[0]


def _logits(lm, ids, cfg=None):
    with torch.no_grad():
        if cfg is None:
            return lm.model(input_ids=torch.tensor([ids])).logits
        with LACSkip(lm.model, cfg) as hooks:
            return lm.model(input_ids=torch.tensor([ids])).logits, hooks


@pytest.mark.parametrize("kind", ["paper", "drop"])
def test_no_void_reproduces_full_logits_exactly(growing, kind):
    ids = _ids(growing)
    norms = torch.linalg.vector_norm(_states(growing, ids).float(), dim=-1)
    assert lac(norms, 1.0).void_share() == 0.0  # precondition: nothing to skip
    full = _logits(growing, ids)
    skipped, hooks = _logits(growing, ids, SkipConfig(kind, 1.0))
    assert torch.equal(full, skipped)
    assert hooks.calls[0][0].all()


def test_no_void_skip_kind_runs_every_block(growing):
    ids = _ids(growing)
    norms = torch.linalg.vector_norm(_states(growing, ids).float(), dim=-1)
    assert prompt_skip_set(lac(norms, 1.0).activated, 0.5) == []
    plain = greedy(growing, ids, 6, stops=set())
    runs, ctx = shared_runs(growing, ids, [[5, 6]], [1.0], 6, set())
    skipped = skip_runs(growing, ctx, [[5, 6]], [1.0], 0.5, 6, set())
    run = next(iter(skipped.values()))
    assert run.tokens == plain.tokens == runs["full"].tokens
    assert run.skipped_blocks == []
    assert run.scores == pytest.approx(runs["full"].scores, abs=1e-5)


def test_paper_reads_the_last_activated_block(gemma):
    ids = _ids(gemma)
    states = _states(gemma, ids)
    decision = lac(torch.linalg.vector_norm(states.float(), dim=-1), 0.8)
    assert decision.void_share() > 0 and (decision.last_active() < gemma.n_layers).any()
    chosen = states[torch.arange(len(ids)), decision.last_active()]
    expected = readout(gemma, chosen)
    got, hooks = _logits(gemma, ids, SkipConfig("paper", 0.8))
    assert torch.allclose(got[0].float(), expected, atol=1e-4)
    assert not torch.allclose(got, _logits(gemma, ids))
    assert torch.equal(hooks.calls[0][0][0], decision.activated)


def test_paper_readout_equals_hooks_in_generation_and_scoring(gemma):
    ids = _ids(gemma)
    alphas = [0.1, 0.5, 0.8]
    runs, states, cache = paper_generate(gemma, ids, [None, *alphas], 6, set())
    options = [gemma.tokenizer(t, add_special_tokens=False)["input_ids"] for t in (" a red apple", " nothing")]
    scores, _ = paper_option_scores(gemma, states, cache, len(ids), options, [None, *alphas])
    for i, alpha in enumerate([None, *alphas]):
        cfg = SkipConfig("none") if alpha is None else SkipConfig("paper", alpha)
        with LACSkip(gemma.model, cfg) as hooks:
            assert greedy(gemma, ids, 6, stops=set(), on_phase=hooks.set_phase).tokens == runs[alpha].tokens
        for j, opt in enumerate(options):
            logits, _ = _logits(gemma, ids + opt, cfg) if alpha is not None else (_logits(gemma, ids + opt), None)
            logp = torch.log_softmax(logits[0].float(), -1)
            ref = sum(float(logp[len(ids) - 1 + k, t]) for k, t in enumerate(opt))
            assert scores[i, j].item() == pytest.approx(ref, abs=1e-3)


def test_drop_keeps_the_residual_at_voids(gemma):
    ids = _ids(gemma)
    sites = parse_sites(["resid_pre.*", "resid_post.*"], gemma.n_layers)
    seen = {}
    cfg = SkipConfig("drop", 0.8)
    with (
        torch.no_grad(),
        LACSkip(gemma.model, cfg) as hooks,
        Trace(gemma.model, sites, lambda s, x: seen.__setitem__(s.name, x[0])),
    ):
        gemma.model(input_ids=torch.tensor([ids]))
    act = hooks.calls[0][0][0]
    assert (~act).any() and act.any()
    for layer in range(gemma.n_layers):
        same = (seen[f"resid_post.{layer}"] == seen[f"resid_pre.{layer}"]).all(-1)
        assert torch.equal(same[~act[:, layer]], torch.ones_like(same[~act[:, layer]]))
        assert not same[act[:, layer]].any()


def test_drop_phase_regions(gemma):
    ids = _ids(gemma)
    for phases, pp_region in (("pp", True), ("rg", False), ("both", True)):
        with LACSkip(gemma.model, SkipConfig("drop", 0.8, phases)) as hooks:
            greedy(gemma, ids, 3, stops=set(), on_phase=hooks.set_phase)
        regions = [r for _, r in hooks.calls]
        assert bool(regions[0].all()) is pp_region
        assert all(bool(r.all()) is (phases != "pp") for r in regions[1:])
    run = drop_run(gemma, ids, [[5, 6, 7]], SkipConfig("drop", 0.5), 4, set())
    logits, _ = _logits(gemma, ids + [5, 6, 7], SkipConfig("drop", 0.5))
    logp = torch.log_softmax(logits[0].float(), -1)
    assert run.scores[0] == pytest.approx(
        sum(float(logp[len(ids) - 1 + k, t]) for k, t in enumerate([5, 6, 7])), abs=1e-3
    )


def test_skip_blocks_really_do_not_run(tiny_llama):
    counts = [0] * tiny_llama.n_layers
    handles = [
        b.mlp.register_forward_pre_hook(lambda m, a, i=i: counts.__setitem__(i, counts[i] + 1))
        for i, b in enumerate(tiny_llama.model.model.layers)
    ]
    try:
        with attach(tiny_llama.model, edits.skip([1, 2])):
            greedy(tiny_llama, _ids(tiny_llama), 4, stops=set())
    finally:
        for h in handles:
            h.remove()
    assert counts[0] == 4 and counts[1] == counts[2] == 0  # the skipped blocks' MLPs never ran
    assert prompt_skip_set(torch.tensor([[True, False, False], [True, True, False]]), 0.5) == [1, 2]
    assert prompt_skip_set(torch.tensor([[False, True, True]]), 0.5) == []  # block 0 always runs


def test_hooks_removed_even_on_error(tiny_llama):
    # hooks other code left on the shared model (e.g. transformers' output capturing) stay; ours must go
    modules = list(tiny_llama.model.modules())
    before = [(dict(m._forward_hooks), dict(m._forward_pre_hooks)) for m in modules]
    with pytest.raises(RuntimeError):
        with LACSkip(tiny_llama.model, SkipConfig("paper", 0.5)):
            raise RuntimeError("boom")
    assert [(dict(m._forward_hooks), dict(m._forward_pre_hooks)) for m in modules] == before


def test_bad_input(tiny_llama):
    with pytest.raises(InternalsError, match="alpha"):
        SkipConfig("paper", 0.0)
    with pytest.raises(InternalsError, match="alpha"):
        SkipConfig("drop", 1.5)
    with pytest.raises(InternalsError, match="kind"):
        SkipConfig("early_exit", 0.5)
    with pytest.raises(InternalsError, match="phases"):
        SkipConfig("drop", 0.5, phases="decode")
    with pytest.raises(InternalsError, match="rg"):
        SkipConfig("skip", 0.5, phases="both")
    with pytest.raises(InternalsError, match="residual stream"):
        LACSkip(torch.nn.Sequential(torch.nn.Linear(4, 4)), SkipConfig("paper", 0.5))
    with pytest.raises(InternalsError, match="region"):
        with torch.no_grad(), LACSkip(tiny_llama.model, SkipConfig("drop", 0.5)) as hooks:
            hooks.set_region(torch.ones(1, 2, dtype=torch.bool))
            tiny_llama.model(input_ids=torch.tensor([[1, 2, 3]]))
