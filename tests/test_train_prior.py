"""The ECG prior: VQ-VAE on ECG alone, and training with latent alignment."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from host.model import ModelConfig
from host.train import TrainConfig, fit
from host.vqvae import VqVae, VqVaeConfig, fit_vqvae
from model_helpers import TINY, tiny_windows

T = 64


def test_vqvae_learns_quantises_and_round_trips(tmp_path):
    ecg = tiny_windows(32, 0, t=T).ecg_mv
    cfg = VqVaeConfig(window_samples=T, widths=(8, 8, 8), latent_dim=4, codebook_size=16, epochs=6, batch_size=8,
                      lr=3e-3)
    vq, hist = fit_vqvae(ecg, cfg, seed=1)
    assert hist[-1]["l1_mv"] < hist[0]["l1_mv"]
    z = vq.quantized_latents(ecg)
    assert z.shape == (32, T // 8, 4)
    book = vq.codebook.numpy()
    # every latent step is one codebook row
    d = np.min(np.abs(z.reshape(-1, 1, 4) - book[None]).sum(-1), axis=1)
    assert np.all(d < 1e-6)
    vq.save(tmp_path / "p")
    np.testing.assert_array_equal(VqVae.load(tmp_path / "p").quantized_latents(ecg), z)
    assert vq.reconstruct(ecg[:2]).shape == (2, T, 12)


def test_training_with_the_prior(tmp_path):
    tr, va = tiny_windows(16, 0, t=T), tiny_windows(8, 1, t=T)
    cfg = TrainConfig(epochs=2, batch_size=8, seed=3, warmup_epochs=1, prior=True, prior_epochs=1,
                      model=ModelConfig(window_samples=T, **TINY))
    r = fit(tr, va, tmp_path, cfg, show_progress=False)
    assert (tmp_path / "prior" / "vqvae.json").is_file()
    import tf_keras as keras

    m = keras.models.load_model(str(r.model_path), compile=False)
    assert len(m.outputs) == 3  # the projection to the prior's latents is training-only
    hist = json.loads(r.history_path.read_text())
    assert hist["config"]["prior"] is True and len(hist["epochs"]) == 2
