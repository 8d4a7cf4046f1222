"""Seeded byte faults for one direction of a line, placed by position in the byte stream.

The gap to the next dropped (or corrupted) byte is drawn from a geometric distribution, so
the same seed puts the same faults on the same bytes however a program cuts its writes and
reads, and a rate of zero draws nothing.
"""

from __future__ import annotations

import math
import threading

import numpy as np


class FaultStream:
    def __init__(self, seed: int, direction: int):
        self._drop_rng = np.random.default_rng([seed, direction, 0])
        self._corrupt_rng = np.random.default_rng([seed, direction, 1])
        self._lock = threading.Lock()  # set_rates may come from another thread
        self.pos = 0  # bytes carried so far (dropped ones included)
        self.injected = 0
        self.set_rates(0.0, 0.0)

    def set_rates(self, drop_per_kb: float, corrupt_per_kb: float) -> None:
        """Expected dropped / corrupted bytes per 1000 carried, from the next byte on."""
        with self._lock:
            self._p_drop, self._p_corrupt = drop_per_kb / 1000, corrupt_per_kb / 1000
            self._next_drop = self.pos + self._gap(self._drop_rng, self._p_drop) - 1
            self._next_corrupt = self.pos + self._gap(self._corrupt_rng, self._p_corrupt) - 1

    @staticmethod
    def _gap(rng: np.random.Generator, p: float) -> float:
        return float(rng.geometric(p)) if p > 0 else math.inf

    def apply(self, data: bytes) -> bytes:
        """``data`` as the line delivers it (bytes flipped or missing)."""
        with self._lock:
            start, end = self.pos, self.pos + len(data)
            self.pos = end
            if self._next_drop >= end and self._next_corrupt >= end:
                return data
            buf = bytearray(data)
            while self._next_corrupt < end:
                buf[int(self._next_corrupt) - start] ^= 1 << int(self._corrupt_rng.integers(8))
                self.injected += 1
                self._next_corrupt += self._gap(self._corrupt_rng, self._p_corrupt)
            drops = []
            while self._next_drop < end:
                drops.append(int(self._next_drop) - start)
                self.injected += 1
                self._next_drop += self._gap(self._drop_rng, self._p_drop)
            for i in reversed(drops):
                del buf[i]
            return bytes(buf)
