"""Small window sets in the dataset contract's shapes, for the model/train/ptq/convert tests
(a helper module, not a test module).

The features carry the targets (a smoothed mix of the channels is the ECG, the anchors sit
on the feature's peaks), so a few training steps can lower the loss.
"""

from __future__ import annotations

import numpy as np

from host.data.format import WindowSet, save_windows, write_manifest

DSP_BLOCK = {"frame_rate_hz": 100.0, "window_samples": 512, "hop_samples": 256, "n_voxels": 4,
             "range_bins": 15, "cardiac_band_hz": [0.8, 3.0], "breathing_band_hz": [0.1, 0.6]}


def tiny_windows(n: int, seed: int, t: int = 512, v: int = 4, c: int = 3) -> WindowSet:
    rng = np.random.default_rng(seed)
    fs = 100.0
    tt = np.arange(t) / fs
    feats = np.zeros((n, t, v, c), np.float64)
    ecg = np.zeros((n, t, 12), np.float32)
    anchors = np.zeros((n, t), np.float32)
    mask = np.zeros((n, t), np.uint8)
    cycle = np.zeros(n, np.float32)
    mix = rng.normal(0, 0.3, (v * c, 12))
    for i in range(n):
        rr = rng.uniform(0.6, 1.1)
        phase = rng.uniform(0, rr)
        peaks = np.arange(phase, tt[-1], rr)
        bumps = np.exp(-0.5 * ((tt[:, None] - peaks[None, :]) / 0.02) ** 2).sum(1)
        base = np.exp(-0.5 * ((tt[:, None] - peaks[None, :]) / 0.05) ** 2).sum(1)
        f = base[:, None] * rng.uniform(0.5, 1.0, v * c) + rng.normal(0, 0.05, (t, v * c))
        f = (f - f.mean(0)) / (4 * f.std(0))
        feats[i] = np.clip(f, -1, 1 - 2**-15).reshape(t, v, c)
        ecg[i] = (f @ mix).astype(np.float32)
        anchors[i] = bumps.astype(np.float32)
        mask[i, np.clip(np.round(peaks * fs).astype(int), 0, t - 1)] = 1
        cycle[i] = rr
    return WindowSet(np.round(feats * 32768).astype(np.int16), ecg, anchors, mask, cycle,
                     np.arange(n, dtype=np.int32) % 5, np.array(["sinus"] * n), np.arange(n) * 2.56)


def tiny_dataset(out_dir, n_train: int = 16, n_val: int = 8, n_test: int = 8, t: int = 512, seed: int = 1):
    """A dataset folder (train/val/test.npz + manifest.json) of ``tiny_windows``."""
    for k, (split, n) in enumerate((("train", n_train), ("val", n_val), ("test", n_test))):
        save_windows(out_dir / f"{split}.npz", tiny_windows(n, seed + k, t))
    write_manifest(out_dir, {"seed": seed, "dsp": dict(DSP_BLOCK, window_samples=t),
                             "splits": {"train": n_train, "val": n_val, "test": n_test}})
    return out_dir


TINY = dict(widths=(4, 4, 4, 8), head_width=4)


def tiny_int8_model(tmp_path, t: int = 512):
    """A tiny untrained model, its dataset folder and its int8 .tflite + metadata.
    -> (keras_path, dataset_dir, tflite_path)."""
    import tf_keras as keras

    from host.model import ModelConfig, build_model
    from host.ptqreport import quantize_model

    keras.utils.set_random_seed(7)  # the same tiny weights every run: tolerances below are fixed

    ds = tiny_dataset(tmp_path / "ds", n_train=8, n_val=4, n_test=4, t=t)
    model = build_model(ModelConfig(window_samples=t, **TINY))
    keras_path = tmp_path / "model.keras"
    model.save(str(keras_path))
    tfl = quantize_model(keras_path, ds, tmp_path / "out" / "tiny_int8.tflite", n_calib=8)
    return keras_path, ds, tfl
