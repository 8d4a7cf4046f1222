"""Q formats: conversion with explicit rounding and saturation, overflow checks.

Notation: ``Qm.n`` is a signed two's-complement word with ``m`` integer bits and
``n`` fraction bits plus the sign bit (word = 1 + m + n bits); Q15 = Q0.15 in int16.
Rounding everywhere is round-half-up on the fixed-point grid (add half an LSB, then
an arithmetic shift right), the same in numpy (tables) and in the numba helpers the
edge kernels call, so a kernel's bits never depend on which side computed them.

Phase words use binary angles: ``BAM32`` is int32 where 2**31 is pi (half-turns in
Q0.31), so wrapping at +-pi is the word's own two's-complement overflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardioradar.errors import CardioRadarError


class FixedPointOverflow(CardioRadarError):
    """A value does not fit the fixed-point format it must be stored in."""

    exit_code = 2


@dataclass(frozen=True)
class QFormat:
    """A signed fixed-point format ``Q<int_bits>.<frac_bits>`` (sign bit not counted)."""

    int_bits: int
    frac_bits: int

    @property
    def word_bits(self) -> int:
        return 1 + self.int_bits + self.frac_bits

    @property
    def max_int(self) -> int:
        return (1 << (self.word_bits - 1)) - 1

    @property
    def min_int(self) -> int:
        return -(1 << (self.word_bits - 1))

    @property
    def lsb(self) -> float:
        return 2.0 ** -self.frac_bits

    @property
    def dtype(self) -> np.dtype:
        for bits, dt in ((8, np.int8), (16, np.int16), (32, np.int32), (64, np.int64)):
            if self.word_bits <= bits:
                return np.dtype(dt)
        raise FixedPointOverflow(f"{self}: word of {self.word_bits} bits does not fit int64")

    def __str__(self) -> str:
        return f"Q{self.int_bits}.{self.frac_bits}"

    def to_fixed(self, x, *, name: str = "value", saturate: bool = False) -> np.ndarray:
        """Round ``x`` (float) to this format. Out of range: saturate, or raise naming ``name``."""
        x = np.asarray(x, dtype=np.float64)
        q = np.floor(x * (2.0 ** self.frac_bits) + 0.5)
        if saturate:
            q = np.clip(q, self.min_int, self.max_int)
        else:
            check_range(q, self.min_int, self.max_int, name=f"{name} ({self})")
        return q.astype(self.dtype)

    def to_float(self, q) -> np.ndarray:
        return np.asarray(q, dtype=np.float64) * self.lsb


Q15 = QFormat(0, 15)  # int16 coefficients in [-1, 1)
Q14 = QFormat(1, 14)  # int16 gains in [-2, 2): +1 and -1 exact
Q29 = QFormat(2, 29)  # int32 biquad coefficients in [-4, 4)
Q30 = QFormat(1, 30)  # int32 constants in [-2, 2)
Q31 = QFormat(0, 31)  # int32 binary angle (half-turns) / multipliers in [-1, 1)


def check_range(q, lo: int, hi: int, *, name: str) -> None:
    """Raise ``FixedPointOverflow`` if any element of ``q`` lies outside [lo, hi]."""
    q = np.asarray(q)
    if q.size and (q.min() < lo or q.max() > hi):
        bad = q.min() if q.min() < lo else q.max()
        raise FixedPointOverflow(f"{name}: expected values in [{lo}, {hi}], got {bad}")


def quantized_multiplier(real: float) -> tuple[int, int]:
    """Split a positive real into an int32 Q0.31 mantissa in [0.5, 1) and a left shift.

    ``x * real == (x * mantissa) >> (31 - shift)`` up to rounding (TFLite's scheme).
    """
    if not np.isfinite(real) or real <= 0.0:
        raise FixedPointOverflow(f"quantized_multiplier: expected a positive finite real, got {real}")
    mant, exp = np.frexp(real)
    q = int(np.floor(mant * (1 << 31) + 0.5))
    if q == 1 << 31:  # mantissa rounded up to 1.0
        q //= 2
        exp += 1
    return q, int(exp)


# ---- integer helpers the edge kernels call (int64 in, int64 out) ----
# Plain Python, so importing this leaf never loads numba (~60 MB on the board);
# edge.dsp.backend compiles them with the kernels (numba JIT or ahead of time).


def bit_length(v):
    """Number of bits of a non-negative integer (0 for 0), as int.bit_length() in a kernel."""
    n = 0
    while v > 0:
        v >>= 1
        n += 1
    return n


def round_shift(x, n):
    """Arithmetic shift right by ``n`` >= 1 with round-half-up (int64)."""
    return (x + (np.int64(1) << (n - 1))) >> n


def saturate(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


def sat16(x):
    return saturate(x, -32768, 32767)


def sat32(x):
    return saturate(x, -2147483648, 2147483647)


def wrap32(x):
    """Two's-complement wrap of an int64 into the int32 range (modular arithmetic)."""
    return ((x + 2147483648) & 0xFFFFFFFF) - 2147483648
