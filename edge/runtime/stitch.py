"""Overlap stitching of model windows into contiguous pieces (hop = window / 2).

Window k covers samples [s_k, s_k + W) with s_{k+1} = s_k + H, H = W / 2. Each window is
weighted by a periodic Hann (two of them, half a window apart, sum to exactly 1), the
first window of a segment by 1 over its first half (nothing precedes it). When window k
arrives, samples [s_k, s_k + H) have all their contributions and come out as one piece;
``flush`` gives the last window's second half alone. Memory: one window of accumulators.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardioradar.errors import InputDataError


@dataclass(frozen=True)
class Piece:
    """Final samples [start, start + n) on the model's ECG grid.

    start: sample index on the segment's ECG grid. ecg_mv: float32 (n, L). anchors: float32 (n,).
    """

    start: int
    ecg_mv: np.ndarray
    anchors: np.ndarray


class OverlapStitcher:
    def __init__(self, window: int, hop: int, n_leads: int):
        if window != 2 * hop:
            raise InputDataError(f"stitcher: expected hop = window / 2, got window {window}, hop {hop}")
        self.window, self.hop = window, hop
        self._w = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)).astype(np.float64)
        self._acc = np.zeros((window, n_leads + 1))  # ECG leads + anchors
        self._wsum = np.zeros(window)
        self._start: int | None = None

    def push(self, start: int, ecg_mv: np.ndarray, anchors: np.ndarray) -> list[Piece]:
        """One window starting at sample ``start``: ecg_mv (W, L), anchors (W,)."""
        y = np.concatenate([np.asarray(ecg_mv, float), np.asarray(anchors, float)[:, None]], axis=1)
        if y.shape != self._acc.shape:
            raise InputDataError(f"stitcher: expected a window of shape {self._acc.shape[0]} x "
                                 f"{self._acc.shape[1] - 1} leads, got {np.shape(ecg_mv)}")
        out: list[Piece] = []
        w = self._w
        if self._start is None:
            w = w.copy()
            w[: self.hop] = 1.0
        elif start != self._start + self.hop:
            raise InputDataError(f"stitcher: window at {start} does not follow the one at {self._start} "
                                 f"(hop {self.hop}); flush and reset at a break")
        self._acc += w[:, None] * y
        self._wsum += w
        out.append(self._take(start, self.hop))
        self._acc = np.roll(self._acc, -self.hop, axis=0)
        self._wsum = np.roll(self._wsum, -self.hop)
        self._acc[-self.hop:] = 0.0
        self._wsum[-self.hop:] = 0.0
        self._start = start
        return out

    def flush(self) -> list[Piece]:
        """The second half of the last window; the stitcher is then empty (a new segment)."""
        if self._start is None:
            return []
        piece = self._take(self._start + self.hop, self.hop)
        self.reset()
        return [piece]

    def reset(self) -> None:
        self._acc[:] = 0.0
        self._wsum[:] = 0.0
        self._start = None

    def _take(self, start: int, n: int) -> Piece:
        y = self._acc[:n] / np.maximum(self._wsum[:n], 1e-12)[:, None]
        return Piece(start, y[:, :-1].astype(np.float32), y[:, -1].astype(np.float32))
