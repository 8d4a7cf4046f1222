"""The noise a real reference ECG carries, as an optional layer on the simulated truth.

A cart or Holter ECG is never the clean heart vector: the MIT-BIH Noise Stress Test
Database (Moody, Muldrow & Mark 1984) collects the three classic kinds from active
volunteers with standard recorders and electrodes: baseline wander (``bw``), muscle
(EMG) artifact (``ma``) and electrode motion artifact (``em``, the most troublesome: it
can mimic ectopic beats and simple filters do not remove it); Friesen et al. 1990
(IEEE TBME 37:85) add power-line (50/60 Hz) interference and abrupt baseline shifts.

The noise is made per electrode (RA, LA, LL, V1-V6) and the 12 leads are formed from the
electrode potentials as a cart does (limb leads as differences, augmented leads against
the other two limb electrodes, V leads against Wilson's central terminal), so
Einthoven's and Goldberger's identities hold for the noisy leads too and an electrode
that moves shows in every lead that uses it.

Everything is a function of absolute time and the seed: random parts come in 10-s blocks
seeded by (seed, block), events from a block may reach into the next, so any chunking
gives the same values. Off by default: the truth the scorer uses stays clean; a training
set chooses ``NoisyReference`` (or adds ``ReferenceEcgNoise.leads_mv``) itself.
Amplitudes are our choices (docs/simulator.md, "Reference-ECG noise").
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, fields

import numpy as np

from cardioradar.errors import ConfigError

__all__ = ["ELECTRODES", "NOISE_LEVELS", "ReferenceNoiseParams", "ReferenceEcgNoise",
           "NoisyReference", "electrodes_to_leads"]

ELECTRODES = ("RA", "LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6")
_BLOCK_S = 10.0
_GRID_HZ = 1000.0  # EMG is white on this grid (band-limited to 500 Hz)
_KEEP_BLOCKS = 16
_BW_COMPONENTS = 4  # sinusoids per electrode: breathing (0.15-0.4 Hz) and drift (0.03-0.1 Hz)


@dataclass(frozen=True)
class ReferenceNoiseParams:
    """Per-electrode noise amplitudes (mV) and event rates (per minute).

    baseline_mv: RMS of the baseline wander; emg_mv: RMS of background EMG;
    emg_bursts_per_min / emg_burst_mv: muscle bursts (0.3-2 s) and their RMS;
    powerline_hz (50 or 60) / powerline_mv: mains amplitude left after the amplifier's
    common-mode rejection (differs per electrode); motion_per_min / motion_mv: electrode
    motion events (one electrode each, a baseline jump that decays over 0.1-0.6 s).
    """

    baseline_mv: float = 0.0
    emg_mv: float = 0.0
    emg_bursts_per_min: float = 0.0
    emg_burst_mv: float = 0.0
    powerline_hz: float = 50.0
    powerline_mv: float = 0.0
    motion_per_min: float = 0.0
    motion_mv: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"ReferenceNoiseParams.{f.name}: expected a number >= 0, got {v!r}")
        if self.powerline_hz not in (50.0, 60.0):
            raise ConfigError(f"ReferenceNoiseParams.powerline_hz: expected 50 or 60, got {self.powerline_hz!r}")
        for name, hi in (("emg_bursts_per_min", 60.0), ("motion_per_min", 60.0)):
            if getattr(self, name) > hi:
                raise ConfigError(f"ReferenceNoiseParams.{name}: expected <= {hi}, got {getattr(self, name)!r}")

    @property
    def active(self) -> bool:
        return any(getattr(self, n) > 0 for n in ("baseline_mv", "emg_mv", "emg_burst_mv",
                                                  "powerline_mv", "motion_mv"))

    @classmethod
    def level(cls, name: str, powerline_hz: float = 50.0) -> ReferenceNoiseParams:
        """A named level (``NOISE_LEVELS``): 'clean', 'rest' (resting cart), 'bedside'
        (overnight monitoring), 'ambulatory' (a moving subject)."""
        if name not in NOISE_LEVELS:
            raise ConfigError(f"noise level: expected one of {tuple(NOISE_LEVELS)}, got {name!r}")
        return cls(powerline_hz=float(powerline_hz), **NOISE_LEVELS[name])

    @classmethod
    def draw(cls, rng: np.random.Generator) -> ReferenceNoiseParams:
        """A random recording condition between 'rest' and 'ambulatory' (log-uniform
        scale per kind, mains 50 or 60 Hz): for training sets that want noisy truth."""
        lo, hi = NOISE_LEVELS["rest"], NOISE_LEVELS["ambulatory"]
        kw = {k: float(math.exp(rng.uniform(math.log(max(lo[k], 1e-3)), math.log(hi[k]))))
              for k in lo}
        return cls(powerline_hz=float(rng.choice([50.0, 60.0])), **kw)


# Our choices, set against the clean simulated ECG (QRS 1-2 mV peak to peak): 'rest' is a
# good resting cart recording (noise barely visible), 'ambulatory' looks like the noisier
# half of a Holter recording (NSTDB-style SNR around 6-12 dB during its events).
NOISE_LEVELS: dict[str, dict[str, float]] = {
    "clean": dict(baseline_mv=0.0, emg_mv=0.0, emg_bursts_per_min=0.0, emg_burst_mv=0.0,
                  powerline_mv=0.0, motion_per_min=0.0, motion_mv=0.0),
    "rest": dict(baseline_mv=0.03, emg_mv=0.005, emg_bursts_per_min=0.5, emg_burst_mv=0.02,
                 powerline_mv=0.005, motion_per_min=0.2, motion_mv=0.1),
    "bedside": dict(baseline_mv=0.08, emg_mv=0.01, emg_bursts_per_min=2.0, emg_burst_mv=0.05,
                    powerline_mv=0.01, motion_per_min=1.0, motion_mv=0.3),
    "ambulatory": dict(baseline_mv=0.2, emg_mv=0.02, emg_bursts_per_min=6.0, emg_burst_mv=0.12,
                       powerline_mv=0.03, motion_per_min=4.0, motion_mv=0.8),
}


def electrodes_to_leads(e_mv: np.ndarray) -> np.ndarray:
    """Electrode potentials (n, 9) in ``ELECTRODES`` order -> 12 leads (n, 12) mV in the
    order I, II, III, aVR, aVL, aVF, V1-V6 (augmented leads against the mean of the
    other two limb electrodes, V leads against Wilson's central terminal)."""
    e = np.asarray(e_mv, dtype=np.float64)
    ra, la, ll = e[:, 0], e[:, 1], e[:, 2]
    out = np.empty((e.shape[0], 12))
    out[:, 0] = la - ra
    out[:, 1] = ll - ra
    out[:, 2] = ll - la
    out[:, 3] = ra - (la + ll) / 2.0
    out[:, 4] = la - (ra + ll) / 2.0
    out[:, 5] = ll - (ra + la) / 2.0
    out[:, 6:] = e[:, 3:] - ((ra + la + ll) / 3.0)[:, None]
    return out


class ReferenceEcgNoise:
    """Seeded reference-ECG noise; ``electrode_mv(t)`` (n, 9), ``leads_mv(t)`` (n, 12)."""

    def __init__(self, params: ReferenceNoiseParams, seed: int):
        self.params = params
        self.seed = int(seed)
        rng = np.random.default_rng([self.seed, 0x4E5])
        n = len(ELECTRODES)
        # baseline wander: breathing-like and slower drift sinusoids per electrode; chest
        # electrodes move more with breathing than limb electrodes (ours: x1.5)
        self._bw_hz = np.concatenate([rng.uniform(0.15, 0.4, (n, 2)), rng.uniform(0.03, 0.1, (n, 2))], 1)
        self._bw_ph = rng.uniform(0, 2 * np.pi, (n, _BW_COMPONENTS))
        w = rng.uniform(0.5, 1.0, (n, _BW_COMPONENTS))
        w *= np.where(np.arange(n) >= 3, 1.5, 1.0)[:, None]
        # RMS of a sum of sinusoids = sqrt(sum a^2 / 2); scale the mean electrode to baseline_mv
        self._bw_amp = params.baseline_mv * w / math.sqrt(np.mean(np.sum(w ** 2, 1) / 2.0))
        self._pl_amp = params.powerline_mv * rng.uniform(0.5, 1.5, n)
        self._pl_ph = rng.uniform(0, 2 * np.pi, n)
        self._blocks: OrderedDict[int, tuple] = OrderedDict()

    # --- per-block random parts -------------------------------------------------------
    def _block(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Block b's EMG grid (n_grid + 1, 9) (one sample of the next block's start for
        differencing), EMG bursts (k, 4: start, duration, rms, electrode) and motion
        events (k, 4: start, tau, amplitude, electrode)."""
        got = self._blocks.get(b)
        if got is not None:
            return got
        p = self.params
        rng = np.random.default_rng([self.seed, 0xE3, b + (1 << 32)])  # seeds must be >= 0
        white = rng.standard_normal((int(_BLOCK_S * _GRID_HZ), len(ELECTRODES)))
        k = rng.poisson(p.emg_bursts_per_min * _BLOCK_S / 60.0)
        bursts = np.column_stack([b * _BLOCK_S + rng.uniform(0, _BLOCK_S, k), rng.uniform(0.3, 2.0, k),
                                  p.emg_burst_mv * rng.uniform(0.5, 1.5, k),
                                  rng.integers(0, 3, k)])  # limb muscles: one limb electrode
        k = rng.poisson(p.motion_per_min * _BLOCK_S / 60.0)
        motion = np.column_stack([b * _BLOCK_S + rng.uniform(0, _BLOCK_S, k), rng.uniform(0.1, 0.6, k),
                                  p.motion_mv * rng.uniform(0.3, 1.0, k) * rng.choice([-1.0, 1.0], k),
                                  rng.integers(0, len(ELECTRODES), k)])
        got = (white, bursts, motion)
        self._blocks[b] = got
        while len(self._blocks) > _KEEP_BLOCKS:
            self._blocks.popitem(last=False)
        return got

    def _emg(self, t: np.ndarray) -> np.ndarray:
        """EMG: first difference of white noise on the 1 kHz grid (flat up to a few
        hundred Hz, no DC), background RMS emg_mv, plus bursts on one limb electrode
        with a Hann envelope."""
        p = self.params
        out = np.zeros((t.size, len(ELECTRODES)))
        if p.emg_mv <= 0 and (p.emg_burst_mv <= 0 or p.emg_bursts_per_min <= 0):
            return out
        idx = np.floor(t * _GRID_HZ).astype(np.int64)
        n_block = int(_BLOCK_S * _GRID_HZ)
        cur = self._grid(idx, n_block)
        prev = self._grid(idx - 1, n_block)
        unit = (cur - prev) / math.sqrt(2.0)  # unit RMS
        env = np.full(t.size, p.emg_mv)
        env = np.repeat(env[:, None], len(ELECTRODES), axis=1)
        for b in np.unique(np.floor(t / _BLOCK_S).astype(np.int64)):
            for bb in (b - 1, b):
                for start, dur, rms, el in self._block(int(bb))[1]:
                    x = (t - start) / dur
                    on = (x >= 0) & (x <= 1) & (np.floor(t / _BLOCK_S) == b)
                    if on.any():
                        env[on, int(el)] += rms * math.sqrt(2.0) * np.sin(np.pi * x[on]) ** 2
        return unit * env

    def _grid(self, idx: np.ndarray, n_block: int) -> np.ndarray:
        blk = np.floor_divide(idx, n_block)
        out = np.empty((idx.size, len(ELECTRODES)))
        for b in np.unique(blk):
            sel = blk == b
            out[sel] = self._block(int(b))[0][idx[sel] - b * n_block]
        return out

    def _motion(self, t: np.ndarray) -> np.ndarray:
        """Electrode motion: a baseline jump with a fast rise (20 ms) and an exponential
        return (tau 0.1-0.6 s), on one electrode per event."""
        out = np.zeros((t.size, len(ELECTRODES)))
        if self.params.motion_mv <= 0 or self.params.motion_per_min <= 0:
            return out
        tb = np.floor(t / _BLOCK_S).astype(np.int64)
        for b in np.unique(tb):
            sel = tb == b
            ts = t[sel]
            for bb in (b - 1, b):
                for start, tau, amp, el in self._block(int(bb))[2]:
                    x = ts - start
                    on = (x >= 0) & (x < 8.0 * tau)
                    if on.any():
                        xo = x[on]
                        col = out[sel]
                        col[on, int(el)] += amp * (1.0 - np.exp(-xo / 0.02)) * np.exp(-xo / tau)
                        out[sel] = col
        return out

    # --- public -------------------------------------------------------------------------
    def electrode_mv(self, t_s: np.ndarray) -> np.ndarray:
        """Noise at each electrode (n, 9) mV at times t_s (n,) s."""
        t = np.asarray(t_s, dtype=np.float64).ravel()
        p = self.params
        out = np.zeros((t.size, len(ELECTRODES)))
        if t.size == 0 or not p.active:
            return out
        if p.baseline_mv > 0:
            ph = 2 * np.pi * self._bw_hz[None] * t[:, None, None] + self._bw_ph[None]
            out += np.sum(self._bw_amp[None] * np.sin(ph), axis=2)
        if p.powerline_mv > 0:
            base = 2 * np.pi * p.powerline_hz * t[:, None] + self._pl_ph[None]
            out += self._pl_amp[None] * (np.sin(base) + 0.1 * np.sin(3 * base))
        out += self._emg(t)
        out += self._motion(t)
        return out

    def leads_mv(self, t_s: np.ndarray) -> np.ndarray:
        """Noise in the 12 leads (n, 12) mV, lead order I, II, III, aVR, aVL, aVF, V1-V6."""
        return electrodes_to_leads(self.electrode_mv(t_s))


class NoisyReference:
    """An ``ElectricalSource`` whose ECG carries reference noise; beats and everything
    else come from ``source`` unchanged (the mechanics never see the noise)."""

    def __init__(self, source, params: ReferenceNoiseParams, seed: int):
        self.source = source
        self.noise = ReferenceEcgNoise(params, seed)

    def beats_between(self, t0_s: float, t1_s: float):
        return self.source.beats_between(t0_s, t1_s)

    def ecg_mv(self, t_s: np.ndarray) -> np.ndarray:
        t = np.asarray(t_s, dtype=np.float64)
        return np.asarray(self.source.ecg_mv(t)) + self.noise.leads_mv(t)

    def __getattr__(self, name: str):
        return getattr(self.source, name)
