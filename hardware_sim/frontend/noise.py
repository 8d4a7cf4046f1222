"""Noise and level settings of the front end, and its counter-based Gaussian generator.

Levels are in dBFS relative to the ADC's full scale (complex magnitude 1.0 = 32768 LSB),
at the reference rx gain of 30 dB; signal and thermal noise both scale with the `.cfg`'s
rx gain (the noise is the receiver's own, amplified with the signal).

Randomness: noise value i of frame f is a pure function of (seed, stream, f, i): a
splitmix64-style mix of a key from ``numpy.random.SeedSequence(seed)`` and the counters,
turned into Gaussians by Marsaglia's polar method. The same seed and frame give the same bytes whatever
the call order or batch size, and whole batches of frames run inside one numba kernel
(making a numpy Generator per frame would cost more than the fast mode's whole frame).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

FULL_SCALE_LSB = 32768.0
REF_RX_GAIN_DB = 30.0
# Radar-equation constant (m): amplitude (fraction of full scale) = K * sqrt(RCS) / (R_tx * R_rx),
# chosen so that a 0.5 m^2 chest at 0.6 m is -20 dBFS at the reference rx gain.
RADAR_EQ_K_M = 0.1 * 0.6**2 / math.sqrt(0.5)

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S32 = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)
_PAIR_STRIDE = np.uint64(64)
_TWO_M31 = 1.0 / 2147483648.0


@dataclass(frozen=True)
class NoiseSettings:
    """What is added to the ideal IF signal.

    thermal_dbfs: complex noise power per ADC sample (dBFS); None = none. The default
        -43 dBFS gives the 0.5 m^2 chest at 0.6 m about 45 dB SNR in its range bin
        (Blackman processing gain 21.7 dB at 256 samples), a plausible device figure.
    leakage_dbfs: amplitude of the TX->RX coupling (a static near-zero-range tone); None = none.
    leakage_range_m: its apparent range (half the extra path in the package and board).
    adc_quantization: quantize to the adcCfg bit count (always clipped to int16).
    """

    thermal_dbfs: float | None = -43.0
    leakage_dbfs: float | None = -15.0
    leakage_range_m: float = 0.04
    adc_quantization: bool = True

    @classmethod
    def off(cls) -> "NoiseSettings":
        """No thermal noise and no leakage (ADC quantization stays: it is the format)."""
        return cls(thermal_dbfs=None, leakage_dbfs=None)

    def thermal_sigma_lsb(self, rx_gain_db: float) -> float:
        """Standard deviation of each of I and Q (LSB) at the given rx gain."""
        if self.thermal_dbfs is None:
            return 0.0
        rms = FULL_SCALE_LSB * 10.0 ** ((self.thermal_dbfs + rx_gain_db - REF_RX_GAIN_DB) / 20.0)
        return rms / math.sqrt(2.0)


def seed_key(seed: int, stream: int) -> np.uint64:
    """64-bit key of one noise stream (ADC noise, fast-mode noise) of a seed."""
    state = np.random.SeedSequence([int(seed), int(stream)]).generate_state(2, np.uint64)
    return np.uint64(state[0] ^ (state[1] << np.uint64(1)))


@njit(cache=True)
def _mix64(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def frame_key(key, frame_index):
    """Key of one frame: depends only on the stream key and the frame index."""
    return _mix64(np.uint64(key) ^ _mix64(np.uint64(frame_index) * _GOLDEN + _GOLDEN))


@njit(cache=True)
def gauss_pair(fkey, i):
    """Two independent N(0, 1) values, the i-th pair of a frame (Marsaglia's polar method).

    Pair i owns counters i * 64 .. i * 64 + 63; each try draws two 32-bit uniforms from one
    64-bit mix and is accepted with probability pi/4 (64 rejections: p < 1e-42).
    """
    fkey = np.uint64(fkey)  # an int64 here would turn the uint64 arithmetic into float64
    base = np.uint64(i) * _PAIR_STRIDE
    for j in range(64):
        a = _mix64(fkey + (base + np.uint64(j)) * _GOLDEN)
        u = (np.float64(a >> _S32) + 0.5) * _TWO_M31 - 1.0
        v = (np.float64(a & _LOW32) + 0.5) * _TWO_M31 - 1.0
        s = u * u + v * v
        if s < 1.0:
            f = math.sqrt(-2.0 * math.log(s) / s)
            return u * f, v * f
    return 0.0, 0.0


@njit(cache=True)
def frame_keys(key, frame_indices):
    """(n,) uint64 keys of the frames ``frame_indices`` (n,) int64."""
    out = np.empty(frame_indices.shape[0], np.uint64)
    for i in range(frame_indices.shape[0]):
        out[i] = frame_key(key, frame_indices[i])
    return out
