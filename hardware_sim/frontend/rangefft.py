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
def fft_fixed_kernel(x, window, tw_re, tw_im, rev, log2n, out, re, im):
    """One channel: x (n_adc, 2) int16 -> out (n_fft, 2) int16; re/im (n_fft,) int32 scratch."""
    n_adc = x.shape[0]
    n_fft = re.shape[0]
    for i in range(n_fft):
        re[i] = 0
        im[i] = 0
    rnd_w = 1 << (WIN_Q - GUARD_BITS - 1)
    sh_w = WIN_Q - GUARD_BITS
    for n in range(n_adc):
        j = rev[n]
        re[j] = (np.int32(x[n, 0]) * window[n] + rnd_w) >> sh_w
        im[j] = (np.int32(x[n, 1]) * window[n] + rnd_w) >> sh_w
    half = 1
    for _ in range(log2n):
        step = n_fft // (2 * half)
        for start in range(0, n_fft, 2 * half):
            for k in range(half):
                wr = np.int64(tw_re[k * step])
                wi = np.int64(tw_im[k * step])
                a = start + k
                b = a + half
                br = np.int64(re[b])
                bi = np.int64(im[b])
                tr = np.int32((br * wr - bi * wi + (1 << (TW_Q - 1))) >> TW_Q)
                ti = np.int32((br * wi + bi * wr + (1 << (TW_Q - 1))) >> TW_Q)
                ar = re[a]
                ai = im[a]
                re[a] = (ar + tr + 1) >> 1
                im[a] = (ai + ti + 1) >> 1
                re[b] = (ar - tr + 1) >> 1
                im[b] = (ai - ti + 1) >> 1
        half *= 2
    # data are DFT/N in Q23; output DFT / 2**OUT_SHIFT in LSB: shift by OUT_SHIFT + 8 - log2n
    sh = OUT_SHIFT + GUARD_BITS - log2n
    if sh > 0:
        rnd = 1 << (sh - 1)
        for i in range(n_fft):
            out[i, 0] = _sat16((np.int64(re[i]) + rnd) >> sh)
            out[i, 1] = _sat16((np.int64(im[i]) + rnd) >> sh)
    else:
        for i in range(n_fft):
            out[i, 0] = _sat16(np.int64(re[i]) << (-sh))
            out[i, 1] = _sat16(np.int64(im[i]) << (-sh))


@njit(cache=True)
def fft_fixed_batch(x, window, tw_re, tw_im, rev, log2n, out):
    """x (n_ch, n_adc, 2) int16 -> out (n_ch, n_fft, 2) int16, channel by channel."""
    n_fft = out.shape[1]
    re = np.empty(n_fft, np.int32)
    im = np.empty(n_fft, np.int32)
    for c in range(x.shape[0]):
        fft_fixed_kernel(x[c], window, tw_re, tw_im, rev, log2n, out[c], re, im)


def range_fft_fixed(adc: np.ndarray, tables: RangeFftTables) -> np.ndarray:
    """Fixed-point range FFT of every channel.

    adc: (..., n_adc, 2) int16 ADC samples. Returns (..., n_fft, 2) int16, DFT(x w) / 2**OUT_SHIFT.
    """
    adc = np.ascontiguousarray(adc, np.int16)
    lead = adc.shape[:-2]
    x = adc.reshape(-1, tables.n_adc, 2)
    out = np.empty((x.shape[0], tables.n_fft, 2), np.int16)
    fft_fixed_batch(x, tables.window, tables.tw_re, tables.tw_im, tables.rev, tables.log2n, out)
    return out.reshape(*lead, tables.n_fft, 2)


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
