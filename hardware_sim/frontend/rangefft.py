"""The module's on-chip range FFT in fixed point, beside its float64 reference.

Formats (ADC full scale = 1.0 = 2**15 LSB):
- input: complex int16 ADC samples, [..., 0] I, [..., 1] Q (Q15).
- window: symmetric Blackman, w[n] = 0.42 - 0.5 cos(2 pi n/(N-1)) + 0.08 cos(4 pi n/(N-1)),
  as the SDK's range DPU builds it (mathUtils_genWindow, MATHUTILS_WIN_BLACKMAN, symmetric);
  stored Q15 in int16 (the vendor's HWA uses 18-bit Q17 coefficients).
- windowed sample: int32 Q23 (x * w is Q30 in int32, rounded >> 7): 8 guard bits below the
  int16 LSB so the per-stage rounding stays far below the ADC's own LSB.
- twiddles: Q15 (cos, -sin) in int16 range, rounded, +1.0 stored as 32767.
- radix-2 decimation-in-time, N = 2**m points (zero padded past the ADC samples). Each stage:
  t = (b * W + 2**14) >> 15 (32 x 16 bit product in int64, result int32 Q23), then
  a' = (a + t + 1) >> 1, b' = (a - t + 1) >> 1 (int32 sums): every stage scales by 1/2,
  so after m stages the data are DFT(x w) / N in Q23 and no stage can overflow
  (|x| < 2**24 throughout, sums < 2**25).
- output: round(DFT(x w) / 2**OUT_SHIFT) in ADC LSB, saturated to int16 (OUT_SHIFT = 6:
  a 0.5 m^2 chest at 0.6 m, -20 dBFS at the ADC, comes out near 5500; a tone above about
  -4.5 dBFS saturates, as a too-close reflector does on the device).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

OUT_SHIFT = 6
WIN_Q = 15
TW_Q = 15
GUARD_BITS = 8  # Q23 = Q15 + 8


def next_pow2(n: int) -> int:
    return 1 << max(0, int(n - 1).bit_length())


def blackman_window(n: int) -> np.ndarray:
    """(n,) float64 symmetric Blackman window."""
    if n == 1:
        return np.ones(1)
    k = np.arange(n)
    return 0.42 - 0.5 * np.cos(2 * np.pi * k / (n - 1)) + 0.08 * np.cos(4 * np.pi * k / (n - 1))


def window_q15(n: int) -> np.ndarray:
    """(n,) int32 Blackman window in Q15 (values 0..32767)."""
    return np.clip(np.round(blackman_window(n) * 2**WIN_Q), 0, 2**WIN_Q - 1).astype(np.int32)


def twiddles_q15(n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_fft/2,) int32 each: Q15 cos(2 pi k/N) and -sin(2 pi k/N)."""
    k = np.arange(n_fft // 2)
    c = np.clip(np.round(np.cos(2 * np.pi * k / n_fft) * 2**TW_Q), -(2**TW_Q), 2**TW_Q - 1)
    s = np.clip(np.round(-np.sin(2 * np.pi * k / n_fft) * 2**TW_Q), -(2**TW_Q), 2**TW_Q - 1)
    return c.astype(np.int32), s.astype(np.int32)


def bit_reverse(n_fft: int) -> np.ndarray:
    m = n_fft.bit_length() - 1
    idx = np.arange(n_fft)
    rev = np.zeros(n_fft, np.int64)
    for b in range(m):
        rev |= ((idx >> b) & 1) << (m - 1 - b)
    return rev


class RangeFftTables:
    """Window, twiddles and bit-reversal of one (n_adc, n_fft) pair (int arrays for the kernel)."""

    def __init__(self, n_adc: int, n_fft: int | None = None):
        self.n_adc = int(n_adc)
        self.n_fft = next_pow2(n_adc) if n_fft is None else int(n_fft)
        if self.n_fft < self.n_adc or self.n_fft & (self.n_fft - 1):
            raise ValueError(f"n_fft: expected a power of two >= {n_adc}, got {self.n_fft}")
        self.window = window_q15(self.n_adc)
        self.tw_re, self.tw_im = twiddles_q15(self.n_fft)
        self.rev = bit_reverse(self.n_fft)
        self.log2n = self.n_fft.bit_length() - 1


@njit(cache=True)
def _sat16(v):
    if v > 32767:
        return 32767
    if v < -32768:
        return -32768
    return v


@njit(cache=True)
def stage_twiddles(tw_re, tw_im, n_fft):
    """(n_fft,) int64 each: the twiddle of butterfly k of the stage of half-size h at h + k,
    i.e. tw[k n_fft / (2 h)] (contiguous per stage)."""
    sw_re = np.zeros(n_fft, np.int64)
    sw_im = np.zeros(n_fft, np.int64)
    half = 1
    while half < n_fft:
        step = n_fft // (2 * half)
        for k in range(half):
            sw_re[half + k] = tw_re[k * step]
            sw_im[half + k] = tw_im[k * step]
        half *= 2
    return sw_re, sw_im


# Channels transformed side by side: each butterfly's twiddle and index work serves _CH of them.
# The channel loops take their trip count from the scratch array, not from the constant: with
# a constant count LLVM unrolls them fully and, numba leaving its SLP vectorizer off, the
# unrolled code stays scalar; a count it cannot see is the loop vectorizer's (int64 lanes).
# 73 -> 52 us per 12-channel frame with 8 constant channels and per-stage twiddles, 20 us so.
_CH = 32


@njit(cache=True)
def fft_fixed_batch(x, window, tw_re, tw_im, rev, log2n, bins, out):
    """x (n_ch, n_adc, 2) int16 -> out (n_ch, len(bins), 2) int16: the output bins ``bins``
    (int64, each in 0..n_fft - 1) of the formats of the module doc, _CH channels at a time.
    Values stay below 2**25, so int64 scratch gives int32's results."""
    n_ch, n_adc = x.shape[0], x.shape[1]
    n_fft = rev.shape[0]
    re = np.zeros((n_fft, _CH), np.int64)
    im = np.zeros((n_fft, _CH), np.int64)
    ch = re.shape[1]  # (see _CH)
    sw_re, sw_im = stage_twiddles(tw_re, tw_im, n_fft)
    rnd_w = 1 << (WIN_Q - GUARD_BITS - 1)
    sh_w = WIN_Q - GUARD_BITS
    rnd_t = np.int64(1 << (TW_Q - 1))
    sh = OUT_SHIFT + GUARD_BITS - log2n
    rnd_o = np.int64(1 << (sh - 1)) if sh > 0 else np.int64(0)
    for c0 in range(0, n_ch, ch):
        m = min(ch, n_ch - c0)
        for n in range(n_adc, n_fft):  # zero padding (the other rows are all written below)
            re[rev[n], :] = 0
            im[rev[n], :] = 0
        if m < ch:  # a last, partial group: no stale channels
            re[:, m:] = 0
            im[:, m:] = 0
        for n in range(n_adc):
            j = rev[n]
            for c in range(m):
                re[j, c] = (np.int32(x[c0 + c, n, 0]) * window[n] + rnd_w) >> sh_w
                im[j, c] = (np.int32(x[c0 + c, n, 1]) * window[n] + rnd_w) >> sh_w
        half = 1
        for _ in range(log2n):
            for start in range(0, n_fft, 2 * half):
                for k in range(half):
                    wr = sw_re[half + k]
                    wi = sw_im[half + k]
                    ra, ia = re[start + k], im[start + k]
                    rb, ib = re[start + k + half], im[start + k + half]
                    for c in range(ch):
                        br = rb[c]
                        bi = ib[c]
                        tr = (br * wr - bi * wi + rnd_t) >> TW_Q
                        ti = (br * wi + bi * wr + rnd_t) >> TW_Q
                        ar = ra[c]
                        ai = ia[c]
                        ra[c] = (ar + tr + 1) >> 1
                        ia[c] = (ai + ti + 1) >> 1
                        rb[c] = (ar - tr + 1) >> 1
                        ib[c] = (ai - ti + 1) >> 1
            half *= 2
        for c in range(m):
            oc = out[c0 + c]
            for i in range(bins.shape[0]):
                b = bins[i]
                if sh > 0:
                    oc[i, 0] = _sat16((re[b, c] + rnd_o) >> sh)
                    oc[i, 1] = _sat16((im[b, c] + rnd_o) >> sh)
                else:
                    oc[i, 0] = _sat16(re[b, c] << (-sh))
                    oc[i, 1] = _sat16(im[b, c] << (-sh))


def range_fft_fixed(adc: np.ndarray, tables: RangeFftTables, bins: np.ndarray | None = None) -> np.ndarray:
    """Fixed-point range FFT of every channel.

    adc: (..., n_adc, 2) int16 ADC samples. Returns (..., n_fft, 2) int16, DFT(x w) / 2**OUT_SHIFT;
    with ``bins`` (range-bin indices), (..., len(bins), 2): those bins only (the same values).
    """
    adc = np.ascontiguousarray(adc, np.int16)
    lead = adc.shape[:-2]
    x = adc.reshape(-1, tables.n_adc, 2)
    if bins is None:
        bins = np.arange(tables.n_fft)
    bins = np.asarray(bins, np.int64).reshape(-1)
    if bins.size and (bins.min() < 0 or bins.max() >= tables.n_fft):
        raise ValueError(f"bins: expected range bins in 0..{tables.n_fft - 1}, got {bins.min()}..{bins.max()}")
    out = np.empty((x.shape[0], bins.size, 2), np.int16)
    fft_fixed_batch(x, tables.window, tables.tw_re, tables.tw_im, tables.rev, tables.log2n, bins, out)
    return out.reshape(*lead, bins.size, 2)


def range_fft_float(adc: np.ndarray, n_fft: int) -> np.ndarray:
    """float64 reference: (..., n_adc, 2) samples -> (..., n_fft) complex128, DFT(x w) / 2**OUT_SHIFT."""
    adc = np.asarray(adc, float)
    z = adc[..., 0] + 1j * adc[..., 1]
    w = blackman_window(z.shape[-1])
    return np.fft.fft(z * w, n=n_fft, axis=-1) / 2.0**OUT_SHIFT


def sqnr_db(fixed: np.ndarray, reference: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio (dB) of int16 (..., 2) output vs complex reference."""
    got = fixed[..., 0].astype(float) + 1j * fixed[..., 1].astype(float)
    err = np.sum(np.abs(got - reference) ** 2)
    sig = np.sum(np.abs(reference) ** 2)
    return math.inf if err == 0 else 10.0 * math.log10(sig / err)
