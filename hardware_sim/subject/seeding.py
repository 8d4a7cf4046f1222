"""``np.random.default_rng(entropy)``'s first draws without building its objects.

The heart mechanics seed one generator per beat (``default_rng([seed, sign, index])``): numpy
builds a SeedSequence, a PCG64 and a Generator each time, ~16 us, about a third of a beat's
events. ``SeededNormals`` computes the same PCG64 state (numpy's SeedSequence: a pool of four
32-bit words mixed with its hash constants, then PCG64's seeding step, as in numpy's
bit_generator.pyx and pcg64.c), sets it on one reused generator and draws from it: ~5 us,
the same numbers (tests/test_sim_fast_paths.py compares them with numpy's on random entropy).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_M32 = 0xFFFFFFFF
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645
_M128 = (1 << 128) - 1


@njit(cache=True)
def _hashmix(v, h):
    """(hashed value, next hash constant): SeedSequence's hashmix on uint32 values held in int64."""
    v = (v ^ h) & _M32
    h = (h * _MULT_A) & _M32
    v = (v * h) & _M32
    return v ^ (v >> 16), h


@njit(cache=True)
def _mix(x, y):
    r = (_MIX_L * x - _MIX_R * y) & _M32
    return r ^ (r >> 16)


@njit(cache=True)
def _state_words(entropy):
    """SeedSequence(entropy).generate_state(8, uint32) for a pool of 4: (8,) int64 (uint32 values).
    entropy: (n,) int64 of uint32 words."""
    pool = np.zeros(4, np.int64)
    h = _INIT_A
    for i in range(4):
        pool[i], h = _hashmix(entropy[i] if i < entropy.shape[0] else 0, h)
    for s in range(4):
        for d in range(4):
            if s != d:
                v, h = _hashmix(pool[s], h)
                pool[d] = _mix(pool[d], v)
    for s in range(4, entropy.shape[0]):
        for d in range(4):
            v, h = _hashmix(entropy[s], h)
            pool[d] = _mix(pool[d], v)
    out = np.empty(8, np.int64)
    hb = _INIT_B
    for i in range(8):
        v = (pool[i % 4] ^ hb) & _M32
        hb = (hb * _MULT_B) & _M32
        v = (v * hb) & _M32
        out[i] = v ^ (v >> 16)
    return out


def pcg64_state(entropy: list[int]) -> tuple[int, int]:
    """(state, inc) of ``np.random.PCG64(np.random.SeedSequence(entropy))``; entropy: ints >= 0."""
    words = []
    for n in entropy:  # SeedSequence's int -> uint32 words, least significant first
        n = int(n)
        if n < 0:  # numpy refuses these; the split below would silently give other words
            raise ValueError(f"entropy: expected integers >= 0, got {n}")
        words.append(n & _M32)
        n >>= 32
        while n > 0:
            words.append(n & _M32)
            n >>= 32
    w = _state_words(np.array(words, np.int64)).tolist()
    seed = [w[2 * i] | (w[2 * i + 1] << 32) for i in range(4)]  # generate_state(4, uint64)
    initstate = (seed[0] << 64) | seed[1]
    inc = (((seed[2] << 64) | seed[3]) << 1 | 1) & _M128
    state = ((inc + initstate) * _PCG_MULT + inc) & _M128  # srandom: step, add initstate, step
    return state, inc


class SeededNormals:
    """``standard_normal(n)`` of ``np.random.default_rng(entropy)``, one reused generator:
    setting its state and drawing is not atomic, so one instance serves one thread (each
    subject's mechanics has its own, and a subject is stepped from one thread)."""

    def __init__(self):
        self._bitgen = np.random.PCG64(0)
        self._gen = np.random.Generator(self._bitgen)

    def __call__(self, entropy: list[int], n: int) -> np.ndarray:
        state, inc = pcg64_state(entropy)
        self._bitgen.state = {"bit_generator": "PCG64", "state": {"state": state, "inc": inc},
                              "has_uint32": 0, "uinteger": 0}
        return self._gen.standard_normal(n)
