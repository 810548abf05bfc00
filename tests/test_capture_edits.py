"""Edits: every kind at the sites of the grammar gives the same logits and arrays on the three
backends, applies at every decode step, is undone on exit, round-trips through JSON, is recorded
in stores, and bad edits are refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import FAMILIES
from internals import InternalsError, capture, edits, load_model
from internals.capture.arch import architecture

PROMPTS = [
    "The capital of France is",
    "Hi there, my good friend",
    "A longer prompt with a few more tokens in it, to pad.",
]
READ = [
    "resid_pre.*",
    "attn_in.*",
    "attn_z.*",
    "attn_out.*",
    "mlp_in.*",
    "mlp_out.*",
    "resid_post.*",
    "final_norm",
    "logits",
]
TOL = 1e-5


def edit_cases(lm) -> dict:
    """One edit of each kind (and a few combinations) for a tiny 3-block model."""
    arch = architecture(lm.model)
    g = torch.Generator().manual_seed(0)
    d, h, dh = arch.d_model, arch.n_heads, arch.d_head
    # a "clean" run of the same prompts under another edit (patching needs the same lengths)
    clean = capture(
        lm,
        PROMPTS,
        ["resid_post.1", "attn_z.2"],
        reduce="none",
        edits=edits.add("resid_post.0", torch.randn(d, generator=g), scale=3.0),
    )
    return {
        "add": edits.add("resid_post.1", torch.randn(d, generator=g), scale=4.0),
        "add_span": edits.add("resid_pre.2", torch.randn(d, generator=g), positions="drop_last:1"),
        "add_positions": edits.add("mlp_out.0", torch.randn(d, generator=g), positions=[0, -1]),
        "add_heads": edits.add("attn_z.1", torch.randn(dh, generator=g), heads=[0, 2]),
        "replace": edits.replace("attn_out.2", torch.randn(d, generator=g)),
        "replace_fn": edits.replace("mlp_in.1", lambda x: x.flip(-1)),
        "zero": edits.zero("attn_z.0", heads=[1, 3]),
        "zero_site": edits.zero("mlp_out.1"),
        "mean": edits.mean_ablate("attn_z.2", torch.randn(h, dh, generator=g), heads=[0]),
        "scale": edits.layernorm_scaling(arch.n_layers),
        "scale_embed": edits.scale("embed", 0.5) | edits.scale("final_norm", 2.0),
        "skip": edits.skip("block.1"),
        "skip_positions": edits.skip("block.0-1", positions=[1, 2]),
        "patch": edits.patch("resid_post.1", clean, positions=[0, 1]),
        "patch_z": edits.patch("attn_z.2", clean),
        "logits": edits.add("logits", torch.randn(lm.model.get_output_embeddings().weight.shape[0], generator=g)),
    }


def _reads(name: str) -> list[str]:
    # sites inside a block that does not run are never reached: read around it
    return ["resid_pre.*", "resid_post.*", "final_norm", "logits"] if name == "skip" else READ


def _max_diff(a, b) -> float:
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_edit_is_the_same_on_three_backends(tiny_dirs, family):
    lm = load_model(tiny_dirs[family], device="cpu", attn_implementation="eager")
    plain = capture(lm, PROMPTS, ["logits"], reduce="none")["logits"]
    for name, edit in edit_cases(lm).items():
        sites = _reads(name)
        ref = capture(lm, PROMPTS, sites, reduce="none", edits=edit)
        assert (ref["logits"] - plain).abs().max() > 1e-4, (family, name)  # the edit does something
        for backend in ("transformer_lens", "nnsight"):
            other = capture(lm, PROMPTS, sites, reduce="none", edits=edit, backend=backend)
            assert list(other) == list(ref)
            assert _max_diff(ref, other) <= TOL, (family, name, backend)


def test_reads_see_the_edits_made_before_them(tiny_llama):
    v = torch.ones(64)
    base = capture(tiny_llama, PROMPTS, ["resid_post.1", "resid_pre.2"], reduce="none")
    out = capture(
        tiny_llama, PROMPTS, ["resid_post.1", "resid_pre.2"], reduce="none", edits=edits.add("resid_post.1", v)
    )
    mask = out.mask.unsqueeze(-1)
    assert torch.allclose(out["resid_post.1"], (base["resid_post.1"] + v) * mask, atol=1e-6)
    assert torch.equal(out["resid_pre.2"], out["resid_post.1"])
    z = capture(tiny_llama, PROMPTS, "attn_z.0", reduce="none", edits=edits.zero("attn_z.0", heads=[1]))["attn_z.0"]
    assert z[:, :, 1].abs().max() == 0 and z[:, :, 0].abs().max() > 0


def _greedy_no_cache(lm, ids: list[int], n: int, edit) -> list[int]:
    """Greedy tokens by full recomputation (no KV cache), the edit applied to each whole forward."""
    out = list(ids)
    for _ in range(n):
        logits = capture(lm, [out], "logits", reduce="last", edits=edit)["logits"][0]
        out.append(int(logits.argmax()))
    return out[len(ids) :]


@pytest.mark.parametrize(
    "make",
    [
        lambda: edits.add("resid_post.1", torch.linspace(-3, 3, 64), scale=2.0),
        lambda: edits.add("resid_pre.1", torch.linspace(-3, 3, 64), positions=[2]),
        lambda: edits.skip("block.1") | edits.zero("attn_z.2", heads=[0]),
    ],
)
def test_edits_apply_at_every_decode_step(tiny_llama, make):
    edit = make()
    ids = tiny_llama.tokenizer("The capital of France is")["input_ids"]
    want = _greedy_no_cache(tiny_llama, ids, 5, edit)
    with tiny_llama.edit(edit):
        out = tiny_llama.model.generate(
            torch.tensor([ids]), max_new_tokens=5, do_sample=False, min_new_tokens=5, pad_token_id=0
        )
    assert out[0, len(ids) :].tolist() == want
    plain = tiny_llama.model.generate(
        torch.tensor([ids]), max_new_tokens=5, do_sample=False, min_new_tokens=5, pad_token_id=0
    )
    assert plain[0, len(ids) :].tolist() == _greedy_no_cache(tiny_llama, ids, 5, None)


def _hook_state(model):
    return [(dict(m._forward_hooks), dict(m._forward_pre_hooks), m.__dict__.get("forward")) for m in model.modules()]


def test_undone_on_exit_even_when_the_forward_raises(tiny_llama):
    before = _hook_state(tiny_llama.model)
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        want = tiny_llama.model(input_ids=ids).logits

    def boom(x):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        with tiny_llama.edit(edits.skip("block.0"), edits.replace("mlp_out.1", boom)):
            tiny_llama.model(input_ids=ids)
    with pytest.raises(RuntimeError, match="boom"):
        capture(tiny_llama, PROMPTS, "resid_post.2", edits=edits.skip([1]) | edits.replace("mlp_out.2", boom))
    assert _hook_state(tiny_llama.model) == before
    with torch.no_grad():
        assert torch.equal(tiny_llama.model(input_ids=ids).logits, want)


def test_attached_edits_reach_every_backend(tiny_dirs):
    lm = load_model(tiny_dirs["gemma3"], device="cpu", attn_implementation="eager")
    steer = edits.add("resid_post.0", torch.linspace(-1, 1, 64), scale=3.0)
    want = capture(lm, PROMPTS, ["resid_post.*", "logits"], reduce="none", edits=steer)
    with lm.edit(steer):
        for backend in ("hooks", "transformer_lens", "nnsight"):
            got = capture(lm, PROMPTS, ["resid_post.*", "logits"], reduce="none", backend=backend)
            assert _max_diff(want, got) <= TOL, backend
            assert got.edits == [steer.describe()]
    assert capture(lm, PROMPTS, "logits", reduce="none").edits == []


def test_skip_really_does_not_run_and_json_round_trip(tiny_llama, tmp_path):
    counts = [0, 0, 0]
    layers = architecture(tiny_llama.model).layers(tiny_llama.model)
    handles = [
        layers[i].mlp.register_forward_pre_hook(lambda m, a, i=i: counts.__setitem__(i, counts[i] + 1))
        for i in range(3)
    ]
    try:
        capture(tiny_llama, PROMPTS, "logits", edits=edits.skip("block.1-2"))
    finally:
        for h in handles:
            h.remove()
    assert counts == [1, 0, 0]
    combo = (
        edits.add("resid_post.1", torch.arange(64.0), scale=0.5, positions=[0, 2])
        | edits.zero("attn_z.0", heads=[1])
        | edits.skip("block.2")
        | edits.layernorm_scaling(3)
    )
    path = combo.save(tmp_path / "edits.json")
    back = edits.load(path)
    assert back.describe() == combo.describe() and back.digest() == combo.digest()
    a = capture(tiny_llama, PROMPTS, ["resid_post.*", "logits"], reduce="none", edits=combo)
    b = capture(tiny_llama, PROMPTS, ["resid_post.*", "logits"], reduce="none", edits=back)
    assert _max_diff(a, b) == 0
    text = json.loads(path.read_text())
    assert all("pickle" not in json.dumps(e) for e in text) and "tensors" in text[0]
    single = edits.add("resid_post.1", torch.arange(64.0)).save(tmp_path / "one.json")
    assert edits.load(single).describe() == [edits.add("resid_post.1", torch.arange(64.0)).describe()]
    with pytest.raises(InternalsError, match="cannot be saved"):
        edits.replace("mlp_out.0", lambda x: x).to_json()


def test_store_records_edits_and_never_resumes_under_others(tiny_llama, tmp_path):
    from internals.store import capture_to_store

    steer = edits.add("resid_post.0", torch.ones(64))
    plain = capture_to_store(tiny_llama, PROMPTS, "resid_post.1", "mean", tmp_path, progress=False)
    steered = capture_to_store(tiny_llama, PROMPTS, "resid_post.1", "mean", tmp_path, progress=False, edits=steer)
    assert plain.path != steered.path
    assert steered.manifest["config"]["edits"] == [steer.describe()]
    with pytest.raises(InternalsError, match="another capture"):
        capture_to_store(tiny_llama, PROMPTS, "resid_post.1", "mean", steered.path, progress=False)
    want = capture(tiny_llama, PROMPTS, "resid_post.1", edits=steer)["resid_post.1"].numpy()
    assert abs(np.asarray(steered.site("resid_post.1")) - want).max() < 1e-6


def test_bad_edits_get_one_line(tiny_llama, tiny_dirs, tmp_path):
    cases = [
        (edits.add("resid_post.1", torch.ones(10)), "width 10 but resid_post.1 has width 64"),
        (edits.add("resid_posts.1", torch.ones(64)), "unknown site"),
        (edits.add("resid_post.7", torch.ones(64)), "out of range"),
        (edits.add("resid_post.1", torch.ones(64), positions=[40]), "past the prompt"),
        (edits.zero("attn_z.1", heads=[4]), "head 4 out of range"),
        (edits.zero("resid_post.1", heads=[0]), "attn_z sites only"),
    ]
    for edit, message in cases:
        with pytest.raises(InternalsError, match=message) as info:
            capture(tiny_llama, PROMPTS, "resid_post.2", edits=edit)
        assert "\n" not in str(info.value)
    other = load_model(tiny_dirs["qwen2"], device="cpu")
    source = capture(other, PROMPTS, "resid_post.1", reduce="none")
    with pytest.raises(InternalsError, match="another model"):
        capture(tiny_llama, PROMPTS, "logits", edits=edits.patch("resid_post.1", source))
    short = capture(tiny_llama, PROMPTS[:2], "resid_post.1", reduce="none")
    with pytest.raises(InternalsError, match="same prompts and lengths"):
        capture(tiny_llama, PROMPTS, "logits", edits=edits.patch("resid_post.1", short))
    shifted = capture(tiny_llama, PROMPTS[1:] + PROMPTS[:1], "resid_post.1", reduce="none")
    with pytest.raises(InternalsError, match="has .* tokens but the patch source's"):
        capture(tiny_llama, PROMPTS, "logits", edits=edits.patch("resid_post.1", shifted))
    with pytest.raises(InternalsError, match="reduce='none'"):
        edits.patch("resid_post.1", capture(tiny_llama, PROMPTS, "resid_post.1", reduce="mean"))
    bad = tmp_path / "bad.json"
    bad.write_text('[{"op": "add", "site": ')
    with pytest.raises(InternalsError, match="does not parse"):
        edits.load(bad)
    bad.write_text('[{"op": "steer", "site": "resid_post.1"}]')
    with pytest.raises(InternalsError, match="not an edit"):
        edits.load(bad)


@pytest.mark.real_model
def test_edits_are_the_same_on_three_backends_on_smollm2():
    lm = load_model(device="cpu", attn_implementation="eager")
    g = torch.Generator().manual_seed(0)
    cases = [
        edits.add("resid_post.4", torch.randn(576, generator=g), scale=8.0),
        edits.zero("attn_z.3", heads=[2, 5]) | edits.skip("block.12-13"),
        edits.layernorm_scaling(30),
    ]
    for edit in cases:
        ref = capture(lm, PROMPTS[:2], ["resid_post.20", "logits"], reduce="none", edits=edit)
        for backend in ("transformer_lens", "nnsight"):
            assert (
                _max_diff(
                    ref,
                    capture(lm, PROMPTS[:2], ["resid_post.20", "logits"], reduce="none", edits=edit, backend=backend),
                )
                <= TOL
            ), backend


def test_malformed_drop_last_positions_are_refused_when_the_edit_is_made():
    # "drop_last:x" used to pass the check and fail inside the forward with an AttributeError
    for bad in ("drop_last:x", "drop_last:", "drop_last:-1"):
        with pytest.raises(InternalsError, match="unknown positions"):
            edits.add("resid_post.1", torch.ones(64), positions=bad)
    assert edits.add("resid_post.1", torch.ones(64), positions="drop_last:2").positions == "drop_last:2"
