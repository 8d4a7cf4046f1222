"""Multi-task gradient combination on the shared trunk.

Methods (selectable with ``cardioradar train --mtl``):
- ``ega``: Eccentric Gradient Alignment (radarODE-MTL), exactly as its code does it:
  1. per-task gradients g_i of the shared variables, stacked as G (n x m);
  2. M = G G^T, eigendecomposition M = V diag(lambda) V^T;
  3. B = sqrt(lambda_min) V diag(lambda)^-1/2 V^T;
  4. k = n softmax((L_i(t-1) / L_i(t_warm)) / T), k = 1 through the warm-up epoch t_warm;
  5. alpha = rowsum(B) * k, shared update G^T alpha.
  Each head gets its own task's gradient.
- ``aligned``: Aligned-MTL (Senushkin et al. 2023): steps 1-3 and 5 with k = 1.
- ``equal``: the plain sum of the task losses.
- ``uncertainty``: Kendall et al. 2018, sum_i 0.5 exp(-s_i) L_i + 0.5 s_i with learned
  log-variances s_i (trained with the model).

Eigenvalues below ``n * eps32 * lambda_max`` (collinear or zero gradients; eps32 the float32
machine epsilon) are treated as zero: their directions get no weight and lambda_min is the
smallest of the others -- the rank cut of the Aligned-MTL reference code that radarODE-MTL
reuses -- so a rank-deficient G gives no NaN.

Functions take and return tensors (numpy arrays are accepted) so the training step can
run them inside ``tf.function``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from cardioradar.errors import ConfigError  # noqa: E402

METHODS = ("ega", "aligned", "equal", "uncertainty")
PER_TASK_GRADIENT_METHODS = ("ega", "aligned")


def _f64(x) -> tf.Tensor:
    """Any tensor or array as float64 (the Gram matrix of long gradients needs the precision)."""
    return tf.cast(tf.convert_to_tensor(x), tf.float64)


def check_method(name: str) -> str:
    if name not in METHODS:
        raise ConfigError(f"--mtl: expected one of {METHODS}, got {name!r}")
    return name


def balancing_matrix(gram: tf.Tensor, eps: float = float(np.finfo(np.float32).eps)) -> tf.Tensor:
    """B = sqrt(lambda_min) V diag(lambda)^-1/2 V^T of the (n, n) Gram matrix (float64)."""
    gram = _f64(gram)
    lam, v = tf.linalg.eigh(gram)
    lam_max = tf.reduce_max(lam)
    n = tf.cast(tf.shape(lam)[0], tf.float64)
    keep = lam > tf.maximum(n * eps * lam_max, 1e-300)
    big = tf.constant(np.inf, tf.float64)
    lam_min = tf.reduce_min(tf.where(keep, lam, big))
    lam_safe = tf.where(keep, lam, tf.ones_like(lam))
    inv_sqrt = tf.where(keep, tf.math.rsqrt(lam_safe), tf.zeros_like(lam))
    scale = tf.where(tf.reduce_any(keep), tf.sqrt(tf.where(tf.math.is_finite(lam_min), lam_min, 0.0)), 0.0)
    return scale * tf.matmul(v * inv_sqrt[None, :], v, transpose_b=True)


def eccentric_k(loss_prev: tf.Tensor, loss_warm: tf.Tensor, temperature: float) -> tf.Tensor:
    """k = n softmax((L_i(t-1) / L_i(t_warm)) / T): the task whose loss fell least since the
    warm-up gets the most weight. (n,) float64; sums to n."""
    ratio = _f64(loss_prev) / _f64(loss_warm)
    n = tf.cast(tf.size(ratio), tf.float64)
    return n * tf.nn.softmax(ratio / temperature)


def alignment_weights(grads: tf.Tensor, k: tf.Tensor | None = None) -> tf.Tensor:
    """alpha = rowsum(B) * k for the stacked task gradients ``grads`` (n, m); k = 1 when None."""
    g = _f64(grads)
    b = balancing_matrix(tf.matmul(g, g, transpose_b=True))
    alpha = tf.reduce_sum(b, axis=1)
    if k is not None:
        alpha = alpha * _f64(k)
    return alpha


def combine(grads: tf.Tensor, k: tf.Tensor | None = None) -> tf.Tensor:
    """The shared update G^T alpha (m,) float64."""
    g = _f64(grads)
    return tf.linalg.matvec(g, alignment_weights(g, k), transpose_a=True)


def uncertainty_loss(losses: tf.Tensor, log_vars: tf.Variable) -> tf.Tensor:
    """Kendall weighting: sum_i 0.5 exp(-s_i) L_i + 0.5 s_i."""
    losses = tf.convert_to_tensor(losses)
    s = tf.cast(log_vars, losses.dtype)
    return tf.reduce_sum(0.5 * tf.exp(-s) * losses + 0.5 * s)


class EccentricSchedule:
    """The eccentric vector over epochs (1-based): k = 1 for epochs <= warmup_epochs; the
    mean training losses of epoch ``warmup_epochs`` are L(t_warm); for a later epoch t, k
    uses the mean losses of epoch t - 1. State is plain lists, kept in the checkpoint."""

    def __init__(self, n_tasks: int, warmup_epochs: int = 4, temperature: float = 1.0):
        if warmup_epochs < 1:
            raise ConfigError(f"warm-up epochs: expected >= 1, got {warmup_epochs}")
        if not temperature > 0:
            raise ConfigError(f"temperature: expected > 0, got {temperature}")
        self.n, self.warmup, self.temperature = n_tasks, warmup_epochs, temperature
        self.loss_warm: list[float] | None = None
        self.loss_prev: list[float] | None = None

    def k(self, epoch: int) -> np.ndarray:
        if epoch <= self.warmup or self.loss_warm is None or self.loss_prev is None:
            return np.ones(self.n)
        return eccentric_k(np.asarray(self.loss_prev), np.asarray(self.loss_warm), self.temperature).numpy()

    def end_epoch(self, epoch: int, mean_losses) -> None:
        losses = [float(x) for x in mean_losses]
        if epoch == self.warmup:
            self.loss_warm = losses
        self.loss_prev = losses

    def state(self) -> dict:
        return {"loss_warm": self.loss_warm, "loss_prev": self.loss_prev}

    def load_state(self, d: dict) -> None:
        self.loss_warm, self.loss_prev = d.get("loss_warm"), d.get("loss_prev")
