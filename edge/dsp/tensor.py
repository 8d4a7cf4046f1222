"""The last stage: the int8 tensor the model expects.

The model's input layout (``FeatureLayout``) and quantisation (``ModelInputSpec``:
scale and zero point from the model's metadata) are inputs here. Feature values are
the normalised Q15 channels, real value x = q15 / 2**15 in [-1, 1); the int8 value is
clip(round(x / scale) + zero_point, -128, 127) -- TFLite's affine quantisation --
computed with an integer multiplier (``fixedpoint.formats.quantized_multiplier``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardioradar.errors import ConfigError
from edge.dsp.backend import kernel
from fixedpoint.formats import quantized_multiplier, round_shift

CHANNELS = ("phase_dd", "i_dd", "q_dd")
Q15_SCALE = 2.0**15  # a Q15 feature's real value is q15 / Q15_SCALE, in [-1, 1)


@dataclass(frozen=True)
class FeatureLayout:
    """What the model input holds.

    For each of ``n_voxels`` selected voxels (slot order, stable while the selection
    holds), the ``channels``: ``phase_dd`` the eq.-4 second derivative of the unwrapped
    phase, ``i_dd`` / ``q_dd`` the same of I and Q of the beamformed voxel, each
    breathing-suppressed and normalised per window, sampled at ``fs_hz`` over
    ``window_samples``. ``order`` "TVC": tensor (window_samples, n_voxels, n_channels);
    "CVT": (n_channels, n_voxels, window_samples). A leading batch axis of 1 is added.
    """

    window_samples: int
    n_voxels: int
    fs_hz: float
    channels: tuple[str, ...] = CHANNELS
    order: str = "TVC"

    def __post_init__(self):
        if self.order not in ("TVC", "CVT"):
            raise ConfigError(f"feature layout order: expected 'TVC' or 'CVT', got {self.order!r}")
        unknown = [c for c in self.channels if c not in CHANNELS]
        if unknown:
            raise ConfigError(f"feature layout channels: expected names from {CHANNELS}, got {unknown[0]!r}")

    @property
    def shape(self) -> tuple[int, ...]:
        t, v, c = self.window_samples, self.n_voxels, len(self.channels)
        return (1, t, v, c) if self.order == "TVC" else (1, c, v, t)


@dataclass(frozen=True)
class ModelInputSpec:
    """Input quantisation from the model's metadata: real = scale * (q - zero_point)."""

    scale: float
    zero_point: int
    layout: FeatureLayout

    def __post_init__(self):
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ConfigError(f"model input scale: expected a positive number, got {self.scale}")
        if not -128 <= self.zero_point <= 127:
            raise ConfigError(f"model input zero_point: expected -128..127, got {self.zero_point}")


@kernel("i1[::1](i2[::1], i8, i8, i8)")
def quantize_int8_q15(x_q15: np.ndarray, mult_q31: int, shift: int, zero_point: int) -> np.ndarray:
    """x int16 Q15 (any shape, flattened) -> int8, q = round(x * real) + zp, saturated,
    where real = mult_q31 * 2**(shift - 31)."""
    flat = x_q15.ravel()
    out = np.empty(flat.shape[0], np.int8)
    rs = 31 - shift
    for i in range(flat.shape[0]):
        q = round_shift(np.int64(flat[i]) * mult_q31, rs) + zero_point
        out[i] = min(max(q, -128), 127)
    return out.reshape(x_q15.shape)


def to_model_input(features_q15: np.ndarray, spec: ModelInputSpec) -> np.ndarray:
    """features int16 Q15 (T, V, C) in ``CHANNELS`` order -> int8 tensor of ``spec.layout.shape``."""
    lay = spec.layout
    idx = [CHANNELS.index(c) for c in lay.channels]
    f = features_q15[:, :, idx]
    if f.shape != (lay.window_samples, lay.n_voxels, len(idx)):
        raise ConfigError(
            f"model input: expected features (T, V, C) = {(lay.window_samples, lay.n_voxels, len(idx))}, got {f.shape}"
        )
    mult, shift = quantized_multiplier(1.0 / (spec.scale * Q15_SCALE))
    if 31 - shift < 1:
        raise ConfigError(f"model input scale {spec.scale}: too small for Q15 features")
    q = quantize_int8_q15(np.ascontiguousarray(f).ravel(), mult, shift, spec.zero_point).reshape(f.shape)
    if lay.order == "CVT":
        q = q.transpose(2, 1, 0)
    return np.ascontiguousarray(q[None])


def quantize_int8_ref(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float reference: real x -> int8 by the same affine rule (round half up)."""
    return np.clip(np.floor(np.asarray(x, float) / scale + 0.5) + zero_point, -128, 127).astype(np.int8)
