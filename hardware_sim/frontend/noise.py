"""Noise and level settings of the front end, and its counter-based Gaussian generator.

Levels are in dBFS relative to the ADC's full scale (complex magnitude 1.0 = 32768 LSB),
at the reference rx gain of 30 dB; signal and thermal noise both scale with the `.cfg`'s
rx gain (the noise is the receiver's own, amplified with the signal).

Randomness: noise value i of frame f is a pure function of (seed, stream, f, i): a
splitmix64-style mix of a key from ``numpy.random.SeedSequence(seed)`` and the counters,
turned into a Gaussian by a 256-layer ziggurat (Marsaglia & Tsang 2000, in Doornik's 2005
form: the layer index and the uniform come from disjoint bits of one 64-bit mix). The same
seed and frame give the same bytes whatever the call order or batch size, and whole batches
of frames run inside one numba kernel (making a numpy Generator per frame would cost more
than the fast mode's whole frame). About 99 % of values cost one mix, one table look-up and
one multiply (~3 ns); the polar method it replaced cost ~16 ns per value.
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
_S11 = np.uint64(11)
_STRIDE = np.uint64(64)
_LAYER_MASK = np.uint64(0xFF)
_TWO_M53 = 1.0 / 9007199254740992.0
_TWO_M52 = 2.0 * _TWO_M53
_ONE_M53 = 1.0 - _TWO_M53
# 256-layer ziggurat of the standard normal: tail start r and the common layer area v.
_ZIG_LAYERS = 256
_ZIG_R = 3.6541528853610088
_ZIG_V = 0.00492867323399


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


def _ziggurat_tables(n_layers: int = _ZIG_LAYERS, r: float = _ZIG_R, v: float = _ZIG_V):
    """Layer edges x (n_layers + 1,) and rectangle ratios x[i+1] / x[i] (n_layers,), float64.

    Layer 0 is the base strip plus the tail (x[0] = v / f(r) > r); x[n_layers] = 0.
    """
    x = np.zeros(n_layers + 1)
    f = math.exp(-0.5 * r * r)
    x[0] = v / f
    x[1] = r
    for i in range(2, n_layers):
        x[i] = math.sqrt(-2.0 * math.log(v / x[i - 1] + f))
        f = math.exp(-0.5 * x[i] * x[i])
    return x, x[1:] / x[:-1]


_ZIG_X, _ZIG_RATIO = _ziggurat_tables()


@njit(cache=True)
def _unit53(h):
    """Uniform in (0, 1) from the top 53 bits of a 64-bit word."""
    return (np.float64(h >> _S11) + 0.5) * _TWO_M53


@njit(cache=True)
def _sym53(h):
    """Uniform in (-1, 1), symmetric, from the top 53 bits: (2 m + 1 - 2**53) / 2**53, exact.

    (Signed conversion: LLVM vectorizes it, not the unsigned one.)
    """
    return np.float64(np.int64(h >> _S11)) * _TWO_M52 - _ONE_M53


@njit(cache=True)
def gauss(fkey, i):
    """N(0, 1) value i of a frame: a pure function of (fkey, i).

    Value i owns counters i * 64 .. i * 64 + 63, one per ziggurat try (a try fails with
    probability ~0.012: 64 failures never happen in practice; 0.0 then).
    """
    fkey = np.uint64(fkey)  # an int64 here would turn the uint64 arithmetic into float64
    base = np.uint64(i) * _STRIDE
    for j in range(64):
        h = _mix64(fkey + (base + np.uint64(j)) * _GOLDEN)
        layer = np.int64(h & _LAYER_MASK)
        u = _sym53(h)
        if abs(u) < _ZIG_RATIO[layer]:  # inside the layer's rectangle: the common case
            return u * _ZIG_X[layer]
        h2 = _mix64(h + _GOLDEN)
        if layer == 0:  # the tail beyond r (Marsaglia's method), sign from u
            while True:
                xt = math.log(_unit53(h2)) / _ZIG_R
                h2 = _mix64(h2 + _GOLDEN)
                yt = math.log(_unit53(h2))
                h2 = _mix64(h2 + _GOLDEN)
                if -2.0 * yt >= xt * xt:
                    return xt - _ZIG_R if u < 0.0 else _ZIG_R - xt
        x = u * _ZIG_X[layer]
        x0 = _ZIG_X[layer]
        x1 = _ZIG_X[layer + 1]
        f0 = math.exp(-0.5 * (x0 * x0 - x * x))
        f1 = math.exp(-0.5 * (x1 * x1 - x * x))
        if f1 + _unit53(h2) * (f0 - f1) < 1.0:  # under the density in the wedge
            return x
    return 0.0


@njit(cache=True)
def gauss_pair(fkey, i):
    """Two independent N(0, 1) values, the i-th pair of a frame (values 2i and 2i + 1)."""
    j = 2 * np.int64(i)
    return gauss(fkey, j), gauss(fkey, j + 1)


@njit(cache=True)
def gauss_fill(fkey, start, out):
    """out[k] = gauss(fkey, start + k) for every k, in two passes.

    The first pass takes each value's first ziggurat try, branch-free (the loop vectorizes);
    the ~1 % it does not accept are then redone one by one with ``gauss``.
    """
    fkey = np.uint64(fkey)
    n = out.shape[0]
    ok = np.empty(n, np.bool_)
    base = np.uint64(start) * _STRIDE
    for k in range(n):
        h = _mix64(fkey + (base + np.uint64(k) * _STRIDE) * _GOLDEN)
        layer = np.int64(h & _LAYER_MASK)
        u = _sym53(h)
        out[k] = u * _ZIG_X[layer]
        ok[k] = abs(u) < _ZIG_RATIO[layer]
    for k in range(n):
        if not ok[k]:
            out[k] = gauss(fkey, start + k)


@njit(cache=True)
def frame_keys(key, frame_indices):
    """(n,) uint64 keys of the frames ``frame_indices`` (n,) int64."""
    out = np.empty(frame_indices.shape[0], np.uint64)
    for i in range(frame_indices.shape[0]):
        out[i] = frame_key(key, frame_indices[i])
    return out
