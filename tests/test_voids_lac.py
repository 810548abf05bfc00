"""LAC on hand-made norm sequences: known voids, the first block's threshold, the public code's
algorithm transcribed as a loop, the online form, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from internals.analyses.voids.lac import LAC, OnlineLAC, check_alpha, lac
from internals.errors import InternalsError


def reference(norms: np.ndarray, alpha: float, batch_first: bool = False) -> np.ndarray:
    """The public lac.py hook, block by block and token by token ([batch, tokens, L+1] -> activated)."""
    b, t, n = norms.shape
    layers = n - 1
    act = np.zeros((b, t, layers), bool)
    deltas = np.zeros((layers, b, t))
    for layer in range(layers):
        deltas[layer] = norms[..., layer + 1] - norms[..., layer]
        for i in range(b):
            for j in range(t):
                if layer == 0:
                    # max/min over axis 0 of delta_norms[0] ([batch, tokens]): the batch axis
                    col = deltas[0, :, j] if batch_first else deltas[0, i : i + 1, j]
                    tau = alpha * (col.max() - col.min())
                else:
                    prev = deltas[:layer, i, j]
                    tau = alpha * (prev.max() - prev.min())
                act[i, j, layer] = not (deltas[layer, i, j] < tau)
    return act


def test_known_voids_hand_made():
    norms = torch.tensor([[1.0, 2.0, 4.0, 4.5, 7.0]])  # deltas 1, 2, 0.5, 2.5
    d = lac(norms, 0.8)
    assert d.deltas.tolist() == [[1.0, 2.0, 0.5, 2.5]]
    # tau: 0 (block 1), 0 (one earlier delta: no range), 0.8 * (2 - 1), 0.8 * (2 - 0.5)
    assert torch.allclose(d.thresholds, torch.tensor([[0.0, 0.0, 0.8, 1.2]]))
    assert d.activated.tolist() == [[True, True, False, True]]
    assert d.void_share() == pytest.approx(0.25)
    assert d.last_active().tolist() == [4]
    assert lac(norms, 0.2).activated.tolist() == [[True, True, True, True]]  # tau_3 = 0.2 <= 0.5


def test_void_last_blocks_and_last_active():
    norms = np.array([[1.0, 3.0, 4.0, 3.5, 3.4], [1.0, 0.5, 0.4, 0.3, 0.2]])
    d = lac(norms, 0.5)
    assert d.activated.tolist() == [[True, True, False, False], [False, False, False, False]]
    assert d.last_active().tolist() == [2, 0]  # 0: no block activated -> the stream entering block 1
    assert d.usage().tolist() == [0.5, 0.0]


def test_first_block_threshold_quirk():
    # batch 1 (the public evaluation): tau_1 = 0, so block 1 is a void iff its delta is negative
    assert lac([[2.0, 1.9, 3.0]], 0.8).activated[0, 0].item() is False
    assert lac([[2.0, 2.0, 3.0]], 0.8).activated[0, 0].item() is True  # delta 0 is not < 0
    assert lac([[2.0, 2.1, 3.0]], 0.8).activated[0, 0].item() is True
    # batched, as the public code does it with batch > 1: range over the batch axis at each position
    norms = np.array([[[1.0, 2.0, 2.5]], [[1.0, 4.0, 4.5]]])  # block-1 deltas 1 and 3 -> tau_1 = 0.8 * 2
    batched = lac(norms, 0.8, first_block="batch")
    assert batched.thresholds[:, 0, 0].tolist() == pytest.approx([1.6, 1.6])
    assert batched.activated[:, 0, 0].tolist() == [False, True]
    assert lac(norms, 0.8).activated[:, 0, 0].tolist() == [True, True]


@pytest.mark.parametrize("alpha", [0.05, 0.3, 0.8, 1.0])
@pytest.mark.parametrize("first_block", ["zero", "batch"])
def test_matches_the_public_algorithm(alpha, first_block):
    rng = np.random.default_rng(int(alpha * 100))
    norms = np.cumsum(rng.normal(0.5, 1.0, size=(3, 7, 9)), axis=-1) + 10
    got = lac(norms, alpha, first_block=first_block).activated.numpy()
    assert (got == reference(norms, alpha, batch_first=first_block == "batch")).all()


def test_online_equals_offline():
    rng = np.random.default_rng(0)
    norms = torch.tensor(np.cumsum(rng.normal(0.3, 1.0, size=(2, 5, 8)), axis=-1), dtype=torch.float32)
    online = OnlineLAC(0.6)
    online.begin(norms[..., 0])
    steps = torch.stack([online.step(norms[..., i]) for i in range(1, 8)], -1)
    assert torch.equal(steps, lac(norms, 0.6).activated)


def test_mask_excludes_padding():
    norms = np.array([[[1.0, 2.0, 1.0], [0.0, 0.0, 0.0]]])  # second token is padding
    d = lac(norms, 0.8, mask=[[True, False]])
    assert isinstance(d, LAC)
    assert d.void_share() == pytest.approx(0.5)
    assert d.layer_rates().tolist() == [1.0, 0.0]
    assert np.isnan(d.usage()[0, 1])


@pytest.mark.parametrize("alpha", [0, -0.1, 1.01, 2, "high", None])
def test_alpha_outside_range(alpha):
    with pytest.raises(InternalsError, match="alpha"):
        lac(np.ones((2, 4)), alpha)
    with pytest.raises(InternalsError, match="alpha"):
        check_alpha(alpha)


def test_bad_norms():
    with pytest.raises(InternalsError, match="layers"):
        lac(np.ones(4), 0.8)
    with pytest.raises(InternalsError, match="layers"):
        lac(np.ones((3, 1)), 0.8)
    with pytest.raises(InternalsError, match="NaN"):
        lac(np.array([[1.0, np.nan, 2.0]]), 0.8)
    with pytest.raises(InternalsError, match="mask"):
        lac(np.ones((2, 3, 4)), 0.8, mask=np.ones((3, 2), bool))
    with pytest.raises(InternalsError, match="first_block"):
        lac(np.ones((2, 4)), 0.8, first_block="max")
    with pytest.raises(InternalsError, match="batch axis"):
        lac(np.ones((5, 4)), 0.8, first_block="batch")  # [tokens, layers+1]: no batch axis


def test_online_step_before_begin():
    with pytest.raises(InternalsError, match="begin"):
        OnlineLAC(0.8).step(torch.ones(3))
