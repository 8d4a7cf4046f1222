"""Selection of the voxels that carry the heartbeat.

Once per hop the whole grid (every range bin x every angle) is beamformed from the
window at a reduced rate (every ``decimation``-th frame, 25 Hz by default), and each
voxel gets a cardiac-band quality: the energy of its I and Q in the cardiac band over
the grid's noise floor (the median over voxels of the energy above the band, where
empty voxels hold only thermal noise, which beamforming spreads evenly), in dB -- a
voxel scores high when it is both strong and moving at cardiac (and breathing-harmonic)
rates; static clutter and empty voxels score low.
``VoxelSelector`` keeps ``n_voxels`` of them with hysteresis -- a held voxel is only
replaced by one at least ``hysteresis_db`` better -- and re-selects from scratch when
the person moves (the strongest echo jumps to another range bin or angle).

Fixed point: quality energies int64 from the Q.4 I/Q filtered by Q2.29 biquads;
the ratio, hysteresis and ranking are decisions made in float once per hop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.dsp.beamform import beamform_q15, beamform_ref, full_grid
from edge.dsp.biquad import band_energy_q, sos_filter_q29, sos_filter_ref

ENERGY_SHIFT = 0  # Q.4 I/Q < 2**24: squares < 2**48, a window of sums < 2**56


@dataclass(frozen=True)
class GridQuality:
    """Per-voxel scores of one window, voxel order of ``beamform.full_grid`` (range-major).

    quality_db: (R * A,) float64, cardiac-band I/Q energy over the grid's noise floor, dB.
    power: (R * A,) float64, moving-echo power: the variance of I + jQ over the window
        (static clutter -- bed rails, walls -- removed, as the module's clutterRemoval
        would), beamformer Q.4 units squared.
    strongest: (range_idx, angle_idx) of the largest moving-echo power: the person.
    """

    quality_db: np.ndarray
    power: np.ndarray
    strongest: tuple[int, int]


def _to_db(e_card: np.ndarray, e_noise: np.ndarray) -> np.ndarray:
    floor = float(np.median(e_noise)) * 1.0  # a float decision, once per hop
    return 10.0 * np.log10((e_card.astype(float) + 1.0) / (floor + 1.0))


def grid_quality_q(cal: np.ndarray, weights_q15: np.ndarray, n_angles: int, decimation: int,
                   card_sos_q29: np.ndarray, noise_sos_q29: np.ndarray, skip: int) -> GridQuality:
    """cal int16 (n, R, V, 2) calibrated window -> ``GridQuality`` (fixed-point path)."""
    r_idx, a_idx = full_grid(cal.shape[1], n_angles)
    beams = beamform_q15(cal, weights_q15, r_idx, a_idx, decimation)
    n, k = beams.shape[:2]
    iq = np.ascontiguousarray(beams.reshape(n, 2 * k))  # channels I0, Q0, I1, Q1, ...
    e_card = band_energy_q(sos_filter_q29(iq, card_sos_q29), skip, ENERGY_SHIFT).reshape(k, 2).sum(1)
    e_noise = band_energy_q(sos_filter_q29(iq, noise_sos_q29), skip, ENERGY_SHIFT).reshape(k, 2).sum(1)
    mean_iq = iq.mean(axis=0)  # the static echo of each voxel (float: a decision)
    power = band_energy_q(iq, 0, ENERGY_SHIFT).reshape(k, 2).sum(1) / max(n, 1) - (mean_iq**2).reshape(k, 2).sum(1)
    best = int(np.argmax(power))
    return GridQuality(_to_db(e_card, e_noise), power, (best // n_angles, best % n_angles))


def grid_quality_ref(cal: np.ndarray, weights: np.ndarray, decimation: int,
                     card_sos: np.ndarray, noise_sos: np.ndarray, skip: int) -> GridQuality:
    """Float reference: complex (n, R, V) window -> ``GridQuality`` (energies in the
    fixed-point path's units so the dB values compare directly)."""
    n_angles = weights.shape[0]
    r_idx, a_idx = full_grid(cal.shape[1], n_angles)
    beams = beamform_ref(cal, weights, r_idx, a_idx, decimation) * 2.0**(4 - ENERGY_SHIFT)
    iq = np.stack([beams.real, beams.imag], -1).reshape(len(beams), -1)
    e_card = (sos_filter_ref(iq, card_sos)[skip:] ** 2).sum(0).reshape(-1, 2).sum(1)
    e_noise = (sos_filter_ref(iq, noise_sos)[skip:] ** 2).sum(0).reshape(-1, 2).sum(1)
    power = np.var(beams, axis=0)
    best = int(np.argmax(power))
    return GridQuality(_to_db(e_card, e_noise), power, (best // n_angles, best % n_angles))


@dataclass(frozen=True)
class VoxelChoice:
    """The selected voxels, in stable slots.

    range_idx, angle_idx: (n_voxels,) int64. quality_db: (n_voxels,) float64.
    reason: 'initial', 'moved', 'better' (hysteresis swap) or 'held'.
    """

    range_idx: np.ndarray
    angle_idx: np.ndarray
    quality_db: np.ndarray
    reason: str

    @property
    def changed(self) -> bool:
        return self.reason != "held"

    @property
    def best_slot(self) -> int:
        return int(np.argmax(self.quality_db))


class VoxelSelector:
    """Stateful choice of ``n_voxels`` voxels with hysteresis (one instance per stream)."""

    def __init__(self, n_voxels: int, n_angles: int, n_az: int, hysteresis_db: float = 3.0,
                 move_range_bins: int = 1, move_angle_steps: int = 1):
        self.n_voxels = n_voxels
        self.n_angles = n_angles
        self.n_az = n_az
        self.hysteresis_db = hysteresis_db
        self.move_range_bins = move_range_bins
        self.move_angle_steps = move_angle_steps
        self._slots: list[int] | None = None  # flat voxel indices
        self._strongest: tuple[int, int] | None = None

    def _moved(self, strongest: tuple[int, int]) -> bool:
        if self._strongest is None:
            return False
        (r0, a0), (r1, a1) = self._strongest, strongest
        d_az = abs(a0 % self.n_az - a1 % self.n_az)
        d_el = abs(a0 // self.n_az - a1 // self.n_az)
        return abs(r0 - r1) > self.move_range_bins or max(d_az, d_el) > self.move_angle_steps

    def update(self, q: GridQuality) -> VoxelChoice:
        order = [int(i) for i in np.argsort(-q.quality_db, kind="stable")]
        moved = self._moved(q.strongest)
        self._strongest = q.strongest
        if self._slots is None or moved:
            reason = "initial" if self._slots is None else "moved"
            self._slots = order[: self.n_voxels]
        else:
            reason = "held"
            slots = list(self._slots)
            for cand in order:
                if cand in slots:
                    continue
                weakest = min(range(len(slots)), key=lambda s: q.quality_db[slots[s]])
                if q.quality_db[cand] < q.quality_db[slots[weakest]] + self.hysteresis_db:
                    break  # candidates come best first: no later one can pass either
                slots[weakest] = cand
                reason = "better"
            self._slots = slots
        flat = np.asarray(self._slots, np.int64)
        return VoxelChoice(flat // self.n_angles, flat % self.n_angles, q.quality_db[flat], reason)
