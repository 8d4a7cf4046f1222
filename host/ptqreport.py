"""`cardioradar quantize model`, the host half: ``quantize.ptq`` converts and runs the int8
model; the dataset reader, the one scorer (``host.scoring``, as `cardioradar eval`) and the
MAC counter come from here, handed down (quantize sits below host and imports none of it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def accuracy(ecg_pred: np.ndarray, anchors_pred: np.ndarray, cycle_pred: np.ndarray, ws, fs_hz: float,
             hop_samples: int | None = None) -> dict:
    """The one scorer's metrics (``host.scoring``, as `cardioradar eval` computes them): per
    held-out subject, the windows joined by the board's CrossFadeStitcher, R peaks from
    edge.post, then medians across subjects. ecg_pred float (N, T, 12) mV; anchors_pred (N, T);
    cycle_pred (N,) s; ``ws``: the ``WindowSet`` with the truth; ``hop_samples``: the DSP's hop."""
    from cardioradar.jsonvalues import json_clean
    from host import scoring

    hop = int(hop_samples) if hop_samples else ecg_pred.shape[1] // 2
    subjects = scoring.score_windows(ws, ecg_pred, anchors_pred, np.asarray(cycle_pred).reshape(-1),
                                     fs_hz=fs_hz, hop_samples=hop)
    out = scoring.summarise(subjects)
    out["per_lead"] = scoring.per_lead(subjects)
    out["per_condition"] = scoring.per_condition(subjects)
    return json_clean(out)


def host_tools():
    """The ``quantize.ptq.HostTools`` of this host (TensorFlow is imported by the MAC counter)."""
    from host.data.format import load_split, read_manifest
    from host.model import macs_per_second, macs_per_window
    from quantize.ptq import HostTools

    return HostTools(read_manifest=read_manifest, load_split=load_split, accuracy=accuracy,
                     macs_per_window=macs_per_window, macs_per_second=macs_per_second)


def quantize_model(keras_model_path: str | Path, dataset_dir: str | Path, out_path: str | Path, *,
                   n_calib: int = 256, seed: int = 0) -> Path:
    """Keras model -> int8 ``out_path`` (.tflite) + metadata with the float-vs-int8 report on the
    dataset's test split (``quantize.ptq.quantize_model`` with this host's tools)."""
    from quantize import ptq

    return ptq.quantize_model(keras_model_path, dataset_dir, out_path, tools=host_tools(),
                              n_calib=n_calib, seed=seed)
