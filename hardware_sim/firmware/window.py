"""The CardioRadar firmware's range window: it follows where the chest moves.

``rangeBinSelCfg <rangeStart m> <rangeEnd m> <numBins> <reselectFrames>`` names the search span
and the window size. What the firmware streams (docs/radar-module.md, "Range window"):

- **Motion map.** Every ``SAMPLE_S`` (0.1 s: every 10th frame at 100 Hz) the firmware keeps
  the range-FFT output of the search span and one bin either side (all virtual antennas;
  that frame is made over every bin a window could cover, its window rows streamed). Per bin and antenna the complex slow-time signal passes a first-order high-pass at
  ``BAND_HZ[0]`` (DC removal: static reflectors, the TX->RX leakage) and a first-order
  low-pass at ``BAND_HZ[1]``; its power is averaged with a ``TAU_S`` time constant and summed
  over the antennas: the chest's vital-sign band energy per range bin. Static reflectors,
  however strong (furniture, walls, a bed frame), contribute only noise.
- **First choice.** From ``FIRST_CHECK_S`` after sensorStart, at every motion-map sample
  until found: the bin c in the span with the most 3-bin energy, if that energy is at least
  ``MOTION_RATIO`` x 3 x the median bin's (the noise); the window is the ``numBins`` bins
  centred on c. Before that the window is centred on the span's middle (a provisional
  window; no reflector decides it).
- **Reselection** (``reselectFrames`` > 0; 0 = the first choice is kept): at every check, a
  motion peak c outside the window's inner part (closer than ``EDGE_BINS`` to an edge) on
  ``CONFIRM`` consecutive checks moves the window to centre on c (hysteresis: small or
  brief excursions do not move it).

Frames are made in blocks: ``WindowTracker.block`` computes the frames the motion map
samples over the whole span (their window rows are cut from those), the others over the
window only, and cuts the block where the window moves. Everything is keyed by frame index,
so a block made again from the same frame gives the same bytes.
"""

from __future__ import annotations

import logging
import math
from typing import Callable

import numpy as np
from numba import njit

from boards.radarcfg import RangeBinSelCfg

log = logging.getLogger(__name__)

DEFAULT_RANGE_SEL = RangeBinSelCfg(0.25, 1.50, 15, 50)  # when the .cfg has no rangeBinSelCfg
SAMPLE_S = 0.1  # motion-map sampling period (10 Hz: the band's 3 Hz under Nyquist)
BAND_HZ = (0.1, 3.0)  # vital-sign band: breathing 0.1-0.6 Hz, heart 0.8-3 Hz
TAU_S = 0.5  # energy averaging time constant (a chest that left fades at ~5 dB/s)
FIRST_CHECK_S = 0.2  # first check after sensorStart (then one per sample until a choice)
MOTION_RATIO = 10.0  # 10 dB over the noise floor counts as a moving chest
EDGE_BINS = 2  # reselect when the motion peak comes this close to an edge ...
CONFIRM = 2  # ... on this many consecutive checks


def frames_of(fe, scene, idx: np.ndarray, t_s: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """int16 (len(idx), len(bins), n_virtual, 2) from a front end with ``frames`` or only ``frame``."""
    if len(idx) == 0:
        return np.empty((0, len(bins), 1, 2), np.int16)  # (assigned to nothing)
    if hasattr(fe, "frames"):
        return np.asarray(fe.frames(scene, idx, t_s, bins), np.int16)
    return np.stack([np.asarray(fe.frame(scene, int(i), float(t), bins), np.int16) for i, t in zip(idx, t_s)])


@njit(cache=True)
def _update(samples, b0, first, mean, lp, energy, a_hp, a_lp, b_e):
    """Advance the motion map (bins b0 .. b0 + n_map of samples (m, n_bins, n_virtual, 2) int16,
    C-contiguous; state (n_map, n_virtual[, 2])) by the samples; see the module doc.

    ``first``: the map has no sample yet (the high-pass starts at the first sample, so a
    static reflector gives zero from the start)."""
    n_map, n_v = energy.shape
    n = n_map * n_v  # (bin, antenna) pairs, one flat loop over them (it vectorizes)
    m = mean.reshape(-1)
    f = lp.reshape(-1)
    e = energy.reshape(-1)
    if first:
        x = samples[0, b0:b0 + n_map].reshape(-1)
        for j in range(2 * n):
            m[j] = x[j]
    for i in range(samples.shape[0]):
        x = samples[i, b0:b0 + n_map].reshape(-1)
        for j in range(n):
            yr = x[2 * j] - m[2 * j]
            yi = x[2 * j + 1] - m[2 * j + 1]
            m[2 * j] += a_hp * yr
            m[2 * j + 1] += a_hp * yi
            f[2 * j] += a_lp * (yr - f[2 * j])
            f[2 * j + 1] += a_lp * (yi - f[2 * j + 1])
            e[j] += b_e * (f[2 * j] * f[2 * j] + f[2 * j + 1] * f[2 * j + 1] - e[j])


@njit(cache=True)
def _motion_peak(energy, lo, hi):
    """(bin, its 3-bin energy, median bin energy) of the map energy (n_bins, n_virtual),
    the peak searched in bins lo..hi (indices into the map)."""
    e = energy.sum(axis=1)
    n = e.shape[0]
    best, c = -1.0, lo
    for b in range(lo, hi + 1):
        e3 = e[b] + (e[b - 1] if b > 0 else 0.0) + (e[b + 1] if b + 1 < n else 0.0)
        if e3 > best:
            best, c = e3, b
    return c, best, np.median(e)


def warm_kernels() -> None:
    """Load the compiled kernels now (from numba's cache: ~0.5 s in a fresh process), not at the
    first sensorStart, where a live module would answer ``Done`` and send its first frame late."""
    state = np.zeros((1, 1, 2))
    energy = np.zeros((1, 1))
    _update(np.zeros((1, 1, 1, 2), np.int16), 0, True, state, state.copy(), energy, 0.5, 0.5, 0.5)
    _motion_peak(energy, 0, 0)


class WindowTracker:
    """The window of one sensorStart. ``frame_rate_hz``: frames per second; ``n_valid``:
    usable range bins (the FFT size for complex ADC output); ``bin_of_range``: the front
    end's range -> bin."""

    def __init__(self, sel: RangeBinSelCfg, frame_rate_hz: float, n_valid: int,
                 bin_of_range: Callable[[float], int], n_virtual: int):
        self.num_bins = nb = sel.num_bins
        self.n_virtual = n_virtual
        self.reselect_frames = sel.reselect_frames
        self._half = nb // 2
        self._max_first = max(0, n_valid - nb)
        self.lo = lo = max(0, bin_of_range(sel.range_start_m))
        self.hi = hi = min(max(lo, bin_of_range(sel.range_end_m)), n_valid - 1)
        # every window this tracker can choose lies inside [ext0, ext1)
        self.ext0 = self._first(lo)
        self.ext1 = min(n_valid, self._first(hi) + nb)
        self.ext_bins = np.arange(self.ext0, self.ext1)
        self.sample_every = max(1, int(round(SAMPLE_S * frame_rate_hz)))
        fs = frame_rate_hz / self.sample_every
        self._a_hp = 1.0 - math.exp(-2.0 * math.pi * BAND_HZ[0] / fs)
        self._a_lp = 1.0 - math.exp(-2.0 * math.pi * BAND_HZ[1] / fs)
        self._b_e = 1.0 - math.exp(-1.0 / (TAU_S * fs))
        self._check = sel.reselect_frames
        # the motion map: the search span and one bin either side (its 3-bin sums)
        self.map0 = max(self.ext0, lo - 1)
        self.map1 = map1 = min(self.ext1, hi + 2)
        shape = (map1 - self.map0, n_virtual)
        self._mean = np.zeros((*shape, 2))
        self._lp = np.zeros((*shape, 2))
        self._energy = np.zeros(shape)
        self._last_sample = -1  # frame index of the last sample in the map
        self._next_check = max(1, int(round(FIRST_CHECK_S * frame_rate_hz)))
        self._chosen = False
        self._pending = 0
        # window changes: (first frame, first bin), the provisional window from frame 0
        self.changes: list[tuple[int, int]] = [(0, self._first((lo + hi) // 2))]

    def _first(self, centre: int) -> int:
        return int(np.clip(centre - self._half, 0, self._max_first))

    def first_bin_at(self, k: int) -> int:
        """First streamed bin at frame k (the decisions up to k must have been made)."""
        first = self.changes[0][1]
        for frame, b in self.changes:
            if frame > k:
                break
            first = b
        return first

    # -- the motion map ----------------------------------------------------------------------

    def _push(self, idx: np.ndarray, ext_frames: np.ndarray) -> None:
        """Samples at frames ``idx`` (increasing multiples of sample_every); checks due before a
        sample are made first; samples already in the map are skipped."""
        keep = idx > self._last_sample
        idx, ext_frames = idx[keep], ext_frames[keep]
        while len(idx):
            nxt = self._next_check
            if nxt is not None and idx[0] >= nxt:
                self._decide(nxt)
                continue
            stop = len(idx) if nxt is None else int(np.searchsorted(idx, nxt))  # the samples before it
            _update(np.ascontiguousarray(ext_frames[:stop]), self.map0 - self.ext0, self._last_sample < 0,
                    self._mean, self._lp, self._energy, self._a_hp, self._a_lp, self._b_e)
            self._last_sample = int(idx[stop - 1])
            idx, ext_frames = idx[stop:], ext_frames[stop:]

    def _decide_through(self, k: int) -> None:
        """Make every check at frames <= k (their samples, all before them, are in the map)."""
        while self._next_check is not None and self._next_check <= k:
            self._decide(self._next_check)

    def _decide(self, d: int) -> None:
        c, peak, noise = _motion_peak(self._energy, self.lo - self.map0, self.hi - self.map0)
        c += self.map0
        moving = peak > MOTION_RATIO * 3.0 * noise and self._last_sample >= 0
        current = self.changes[-1][1]
        new = current
        if not moving:
            self._pending = 0
        elif not self._chosen:
            new, self._chosen = self._first(c), True
        else:
            inner = current + EDGE_BINS <= c <= current + self.num_bins - 1 - EDGE_BINS
            self._pending = 0 if inner else self._pending + 1
            if self._pending >= CONFIRM:
                new, self._pending = self._first(c), 0
        if new != current:
            self.changes.append((d, new))
            log.info("frame %d: chest motion peaks at bin %d (%.0fx the noise); streaming bins %d-%d",
                     d + 1, c, peak / max(3.0 * noise, 1e-30), new, new + self.num_bins - 1)
        if not self._chosen:
            self._next_check = d + self.sample_every  # acquiring: check at every sample
        else:
            self._next_check = d + self._check if self._check > 0 else None

    # -- frames -------------------------------------------------------------------------------

    def block(self, fe, scene, k: int, n: int, t_of: Callable[[np.ndarray], np.ndarray]) -> tuple[int, int, np.ndarray]:
        """Frames k .. k + n - 1, cut where the window moves: (first bin, frames, heatmaps
        int16 (frames, num_bins, n_virtual, 2)). ``t_of(idx)``: each frame's start time (s)."""
        idx = np.arange(k, k + n)
        is_sample = idx % self.sample_every == 0
        if not hasattr(fe, "scene_at"):  # a test source: frame by frame
            ext = frames_of(fe, scene, idx[is_sample], t_of(idx[is_sample]), self.ext_bins)
            first, n = self._advance(k, n, idx[is_sample], ext)
            out = frames_of(fe, scene, idx[:n], t_of(idx[:n]), np.arange(first, first + self.num_bins))
        else:  # one scene evaluation for every frame of the block
            pos, amp = fe.scene_at(scene, t_of(idx))
            if fe.mode == "adc":  # every bin comes out of the range FFT anyway: one call
                full = fe.frames_at((pos, amp), idx, self.ext_bins)
                ext = full[is_sample]
                first, n = self._advance(k, n, idx[is_sample], ext)
                out = np.ascontiguousarray(full[:n, first - self.ext0:first - self.ext0 + self.num_bins])
            else:  # the analytic path pays per bin: only the sampled frames get the motion map's
                # bins (the rows of an all-span request: each bin's noise keyed by its place in it),
                # then the window's rows the map does not cover
                s_rows, s_idx = (pos[is_sample], amp[is_sample]), idx[is_sample]
                ext = np.zeros((len(s_idx), len(self.ext_bins), fe.n_virtual, 2), np.int16)
                m0, m1 = self.map0 - self.ext0, self.map1 - self.ext0
                ext[:, m0:m1] = fe.frames_at(s_rows, s_idx, self.ext_bins[m0:m1], noise_bin0=m0)
                first, n = self._advance(k, n, s_idx, ext)
                m = int(is_sample[:n].sum())
                w0, w1 = first - self.ext0, first - self.ext0 + self.num_bins
                for a, b in ((w0, min(w1, m0)), (max(w0, m1), w1)):
                    if m and a < b:
                        ext[:m, a:b] = fe.frames_at((s_rows[0][:m], s_rows[1][:m]), s_idx[:m],
                                                    self.ext_bins[a:b], noise_bin0=a)
                out = fe.frames_at((pos[:n], amp[:n]), idx[:n], np.arange(first, first + self.num_bins),
                                   skip=is_sample[:n])
        # a sampled frame streams the rows the motion map saw (the same range-FFT output)
        m = int(is_sample[:n].sum())
        out[is_sample[:n]] = ext[:m, first - self.ext0:first - self.ext0 + self.num_bins]
        return first, n, out

    def _advance(self, k: int, n: int, s_idx: np.ndarray, ext: np.ndarray) -> tuple[int, int]:
        """Feed the block's samples, make its checks; (first bin at k, frames before a move)."""
        self._push(s_idx, ext)
        self._decide_through(k + n - 1)
        for frame, _ in self.changes:
            if k < frame < k + n:
                n = frame - k
                break
        return self.first_bin_at(k), n
