"""A cached fingerprint is trusted only while the weight files it was computed from are unchanged:
a copied checkpoint directory whose weights were saved again gets a new fingerprint, so probes
and stores of the original refuse it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from internals import InternalsError, load_model
from internals.heads import logistic_probe
from internals.heads.io import load_probe, save_probe
from internals.models import FINGERPRINT_FILE, cached_fingerprint, fingerprint, write_fingerprint
from internals.store import capture_to_store


def test_copied_dir_with_changed_weights_gets_a_new_fingerprint(tiny_dirs, tmp_path):
    original = tmp_path / "original"
    shutil.copytree(tiny_dirs["llama"], original)
    lm = load_model(original, device="cpu")
    write_fingerprint(original, torch.float32, lm.fingerprint)  # as the embedded model's conversion does
    assert load_model(original, device="cpu")._fingerprint == lm.fingerprint  # reused while unchanged

    copy = tmp_path / "copy"
    shutil.copytree(original, copy)  # the fingerprint file travels with it
    assert (copy / FINGERPRINT_FILE).exists()
    changed = load_model(copy, device="cpu")
    with torch.no_grad():
        changed.model.model.layers[0].mlp.down_proj.weight.add_(0.01)
    changed.model.save_pretrained(copy)
    reloaded = load_model(copy, device="cpu")
    assert cached_fingerprint(copy, torch.float32) is None
    assert reloaded.fingerprint != lm.fingerprint
    assert reloaded.fingerprint == fingerprint(reloaded.model)

    rng = np.random.default_rng(0)
    probe = logistic_probe().fit(rng.normal(size=(20, 64)), np.arange(20) % 2)
    path = save_probe(probe, tmp_path / "probe", {"model": lm.describe()})
    load_probe(path, model=lm)
    with pytest.raises(InternalsError, match="was trained on"):
        load_probe(path, model=reloaded)

    store = capture_to_store(lm, ["a b c", "d e"], "resid_post.1", "mean", tmp_path / "stores", progress=False)
    with pytest.raises(InternalsError, match="another capture"):
        capture_to_store(reloaded, ["a b c", "d e"], "resid_post.1", "mean", store.path, progress=False)
