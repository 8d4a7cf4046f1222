"""EGA / Aligned-MTL / uncertainty weighting on hand-made gradients."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from cardioradar.errors import ConfigError
from host import mtl


def test_orthogonal_gradients_of_different_norm_are_balanced():
    g = np.array([[3.0, 0.0], [0.0, 0.5]])
    upd = mtl.combine(g).numpy()
    # Each task contributes the same length along its own direction: the smallest one.
    np.testing.assert_allclose(upd, [0.5, 0.5], atol=1e-12)
    alpha = mtl.alignment_weights(g).numpy()
    np.testing.assert_allclose(alpha, [0.5 / 3.0, 1.0], atol=1e-12)


def test_balancing_matrix_is_the_spec_formula():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(3, 50))
    m = g @ g.T
    lam, v = np.linalg.eigh(m)
    b_ref = np.sqrt(lam.min()) * v @ np.diag(lam ** -0.5) @ v.T
    np.testing.assert_allclose(mtl.balancing_matrix(m).numpy(), b_ref, rtol=1e-9, atol=1e-12)
    # Aligned: the combined gradients' task components have equal norm (condition number 1).
    bal = (b_ref @ g)
    gram = bal @ bal.T
    np.testing.assert_allclose(np.linalg.eigvalsh(gram), lam.min(), rtol=1e-9)


def test_collinear_and_zero_gradients_give_finite_weights():
    g = np.array([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    upd = mtl.combine(g).numpy()
    assert np.all(np.isfinite(upd))
    assert np.all(np.isfinite(mtl.combine(np.zeros((3, 4))).numpy()))
    assert np.allclose(mtl.combine(np.zeros((3, 4))).numpy(), 0.0)


def test_eccentric_k_before_and_after_warmup():
    sch = mtl.EccentricSchedule(3, warmup_epochs=4, temperature=1.0)
    for epoch in range(1, 5):
        np.testing.assert_array_equal(sch.k(epoch), np.ones(3))
        sch.end_epoch(epoch, [1.0, 1.0, 1.0] if epoch < 4 else [2.0, 1.0, 0.5])
    assert sch.loss_warm == [2.0, 1.0, 0.5]
    np.testing.assert_allclose(sch.k(5), np.ones(3))  # L(t-1) = L(t_warm): ratios equal
    sch.end_epoch(5, [1.0, 1.0, 0.5])  # task 0 halved, task 1 stalled, task 2 stalled
    k = sch.k(6)
    ratio = np.array([0.5, 1.0, 1.0])
    np.testing.assert_allclose(k, 3 * np.exp(ratio) / np.exp(ratio).sum(), rtol=1e-12)
    assert k[0] < k[1] == pytest.approx(k[2])
    assert k.sum() == pytest.approx(3.0)


def test_temperature_sensitivity():
    prev, warm = np.array([0.5, 1.0]), np.ones(2)
    k_hot = mtl.eccentric_k(prev, warm, 1.0).numpy()
    k_cold = mtl.eccentric_k(prev, warm, 0.1).numpy()
    k_very_hot = mtl.eccentric_k(prev, warm, 100.0).numpy()
    assert k_cold[1] > k_hot[1] > k_very_hot[1] > 1.0
    np.testing.assert_allclose(k_very_hot, 1.0, atol=0.01)
    assert k_cold[1] == pytest.approx(2.0, abs=0.02)


def test_eccentric_k_scales_alpha():
    g = np.array([[3.0, 0.0], [0.0, 0.5]])
    k = np.array([0.5, 1.5])
    np.testing.assert_allclose(mtl.combine(g, k).numpy(), [0.25, 0.75], atol=1e-12)


def test_uncertainty_loss_weights():
    losses = np.array([1.0, 2.0])
    s = np.array([0.0, np.log(4.0)])
    val = mtl.uncertainty_loss(losses, s).numpy()
    assert val == pytest.approx(0.5 * 1.0 + 0.5 * 0.25 * 2.0 + 0.5 * np.log(4.0))


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="--mtl"):
        mtl.check_method("pcgrad")
    with pytest.raises(ConfigError, match="temperature"):
        mtl.EccentricSchedule(3, temperature=0.0)
