"""An ECG prior (CardioRadar): a VQ-VAE trained on ECG windows alone.

Encoder: three stride-2 Conv1D stages, (T, 12) mV -> (T/8, latent_dim) -- the same time
grid as the radar model's bottleneck. A codebook of ``codebook_size`` vectors quantises
each latent step to its nearest entry (straight-through gradient); the decoder mirrors the
encoder back to (T, 12). Loss: L1 reconstruction + ||sg(z_e) - e||^2 + beta ||z_e - sg(e)||^2
(van den Oord et al. 2017).

``train(..., prior=True)`` fits this on the training split's ECG first, then adds to the ECG
task the latent alignment loss ||proj(bottleneck) - sg(z_q(ecg))||^2 (weight 1, as CardioRadar)
through a training-only 1x1 projection; the shipped model does not contain the prior.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from cardioradar.errors import ConfigError  # noqa: E402


@dataclass(frozen=True)
class VqVaeConfig:
    window_samples: int = 512
    n_leads: int = 12
    widths: tuple[int, int, int] = (32, 48, 64)
    latent_dim: int = 32
    codebook_size: int = 128
    beta: float = 0.25
    epochs: int = 8
    batch_size: int = 32
    lr: float = 1e-3

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "VqVaeConfig":
        return cls(**{**d, "widths": tuple(d["widths"])})


class VqVae:
    """Encoder, codebook (K, D) and decoder; ``quantized_latents`` is what the radar model aligns to."""

    def __init__(self, cfg: VqVaeConfig):
        self.cfg = cfg
        t, c = cfg.window_samples, cfg.n_leads
        inp = keras.Input((t, c))
        x = inp
        for i, w in enumerate(cfg.widths):
            x = keras.layers.Conv1D(w, 5, strides=2, padding="same", activation="relu", name=f"vq_enc{i}")(x)
        z = keras.layers.Conv1D(cfg.latent_dim, 1, name="vq_latent")(x)
        self.encoder = keras.Model(inp, z, name="vq_encoder")
        zin = keras.Input((t // 8, cfg.latent_dim))
        y = zin
        for i, w in enumerate(reversed(cfg.widths)):
            y = keras.layers.UpSampling1D(2, name=f"vq_up{i}")(y)
            y = keras.layers.Conv1D(w, 5, padding="same", activation="relu", name=f"vq_dec{i}")(y)
        y = keras.layers.Conv1D(c, 1, name="vq_out")(y)
        self.decoder = keras.Model(zin, y, name="vq_decoder")
        init = tf.random.stateless_uniform((cfg.codebook_size, cfg.latent_dim), (1, 2), -1.0, 1.0)
        self.codebook = tf.Variable(init / np.sqrt(cfg.latent_dim), name="codebook")
        self.variables = self.encoder.trainable_variables + self.decoder.trainable_variables + [self.codebook]

    def _nearest(self, z_e: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        flat = tf.reshape(z_e, (-1, self.cfg.latent_dim))
        d = (tf.reduce_sum(flat ** 2, 1, keepdims=True) - 2 * tf.matmul(flat, self.codebook, transpose_b=True)
             + tf.reduce_sum(self.codebook ** 2, 1)[None, :])
        idx = tf.argmin(d, axis=1)
        return tf.reshape(tf.gather(self.codebook, idx), tf.shape(z_e)), tf.reshape(idx, tf.shape(z_e)[:2])

    def losses(self, ecg_mv: tf.Tensor) -> tf.Tensor:
        """(3,): L1 reconstruction (mV), codebook, commitment."""
        z_e = self.encoder(ecg_mv, training=True)
        e, _ = self._nearest(z_e)
        z_q = z_e + tf.stop_gradient(e - z_e)  # straight-through
        rec = self.decoder(z_q, training=True)
        return tf.stack([tf.reduce_mean(tf.abs(rec - ecg_mv)),
                         tf.reduce_mean((tf.stop_gradient(z_e) - e) ** 2),
                         self.cfg.beta * tf.reduce_mean((z_e - tf.stop_gradient(e)) ** 2)])

    def quantized_latents(self, ecg_mv: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """ecg float32 (N, T, 12) mV -> z_q float32 (N, T/8, latent_dim)."""
        out = []
        for s in range(0, len(ecg_mv), batch_size):
            z_e = self.encoder(np.asarray(ecg_mv[s:s + batch_size], np.float32), training=False)
            out.append(self._nearest(z_e)[0].numpy())
        return np.concatenate(out) if out else np.zeros((0, self.cfg.window_samples // 8, self.cfg.latent_dim), np.float32)

    def reconstruct(self, ecg_mv: np.ndarray) -> np.ndarray:
        return self.decoder(self.quantized_latents(ecg_mv), training=False).numpy()

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "vqvae_weights.npz", *[v.numpy() for v in self.variables])
        (folder / "vqvae.json").write_text(json.dumps(self.cfg.to_json(), indent=1) + "\n")

    @classmethod
    def load(cls, folder: Path) -> "VqVae":
        cfg_path, w_path = folder / "vqvae.json", folder / "vqvae_weights.npz"
        if not (cfg_path.is_file() and w_path.is_file()):
            raise ConfigError(f"ECG prior {folder}: expected vqvae.json and vqvae_weights.npz")
        vq = cls(VqVaeConfig.from_json(json.loads(cfg_path.read_text())))
        with np.load(w_path) as z:
            for i, v in enumerate(vq.variables):
                v.assign(z[f"arr_{i}"])
        return vq


def fit_vqvae(ecg_mv: np.ndarray, cfg: VqVaeConfig, seed: int) -> tuple[VqVae, list[dict]]:
    """Train on ECG windows float32 (N, T, 12) mV (NaN -> 0) -> (model, per-epoch mean losses)."""
    keras.utils.set_random_seed(seed)
    x = np.nan_to_num(np.asarray(ecg_mv, np.float32))
    if len(x) < cfg.batch_size:
        raise ConfigError(f"ECG prior: {len(x)} windows, fewer than one batch of {cfg.batch_size}")
    vq = VqVae(cfg)
    opt = keras.optimizers.Adam(cfg.lr)

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            parts = vq.losses(batch)
            total = tf.reduce_sum(parts)
        opt.apply_gradients(zip(tape.gradient(total, vq.variables), vq.variables))
        return parts

    history = []
    for epoch in range(1, cfg.epochs + 1):
        order = np.random.default_rng([seed, 0x7A, epoch]).permutation(len(x))
        sums = np.zeros(3)
        n_b = len(x) // cfg.batch_size
        for b in range(n_b):
            sums += step(x[np.sort(order[b * cfg.batch_size:(b + 1) * cfg.batch_size])]).numpy()
        history.append(dict(zip(("l1_mv", "codebook", "commitment"), (sums / n_b).tolist())))
    return vq, history
