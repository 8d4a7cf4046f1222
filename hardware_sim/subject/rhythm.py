"""Streaming beat schedule: R-peak times and beat kinds, generated lazily.

The sinus RR process follows ECGSYN's spectrum (McSharry et al. 2003): a Mayer
wave (narrow band around 0.1 Hz, here a sum of sinusoids with Gaussian-spread
frequencies), a very-low-frequency part (0.01-0.04 Hz) that carries the SDNN
the faster parts leave, plus respiratory sinus arrhythmia locked to the breathing phase
of a respiration object, plus a little beat-to-beat white noise. Amplitudes are
solved so that the expected SDNN and RMSSD equal the subject's targets.

Ectopy: a two-state Markov chain over sinus slots. A PVC replaces a sinus beat,
comes early (coupling x RR) and is followed by a full compensatory pause (the
next conducted sinus beat keeps the sinus clock). A PAC comes early too but
resets the sinus node (no compensatory pause). AF: irregular, nearly
uncorrelated RR (log-normal around the mean RR).

Purity: beats are generated sequentially from beat 0 with generators seeded only
from (params, seed); asking for any span in any order gives the same beats. Memory
is bounded: a few blocks of beats are cached and the rest replayed from per-block
checkpoints of the generator state. Times before the first beat are not scheduled.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from cardioradar.errors import ConfigError
from hardware_sim.subject.types import Beat

log = logging.getLogger(__name__)

__all__ = ["RhythmParams", "HrvAmplitudes", "hrv_amplitudes", "SinusoidRespiration",
           "BeatSchedule", "ScheduleCacheInfo"]

_WHITE_RMSSD_SHARE = 0.10  # fraction of RMSSD^2 carried by beat-to-beat white noise
_N_MAYER = 6  # sinusoids making up the Mayer-wave band


@dataclass(frozen=True)
class RhythmParams:
    """What the beat schedule needs. Times in s, rates in bpm / Hz."""

    condition: str
    hr_bpm: float
    sdnn_ms: float
    rmssd_ms: float
    mayer_hz: float = 0.1
    mayer_width_hz: float = 0.01
    lf_hf: float = 1.5  # Mayer (LF) to RSA (HF) variance ratio
    rsa_lag_rad: float = 0.3  # heart rate responds a little after the breathing phase
    af_rr_cv: float = 0.2  # AF: coefficient of variation of RR
    ectopic_p_stay_normal: float = 1.0  # Markov chain: P(normal slot -> normal slot)
    ectopic_coupling: float = 0.65  # ectopic R comes at coupling x RR after the previous R


@dataclass(frozen=True)
class HrvAmplitudes:
    """Standard deviations (ms) of the RR components."""

    vlf_sd_ms: float
    mayer_sd_ms: float
    rsa_sd_ms: float
    white_sd_ms: float


def hrv_amplitudes(sdnn_ms: float, rmssd_ms: float, rr_s: float, resp_hz: float,
                   mayer_hz: float = 0.1, lf_hf: float = 1.5) -> HrvAmplitudes:
    """Component SDs giving the expected SDNN and RMSSD for a sinus RR series.

    A sinusoid of SD sigma at frequency f sampled once per RR contributes
    4 sigma^2 sin^2(pi f RR) to RMSSD^2; white noise contributes 2 sigma^2; the very
    slow (VLF, 0.01-0.04 Hz) part almost nothing. RMSSD fixes RSA and Mayer (in the
    ratio ``lf_hf`` of their variances), the VLF part makes up the SDNN. If the
    targets are inconsistent (RMSSD too large for the SDNN at this rate and breathing),
    the LF/HF ratio and then RMSSD are lowered (logged at DEBUG: for many ordinary
    subjects this is the expected outcome, not a fault).
    """
    s_m2 = math.sin(math.pi * mayer_hz * rr_s) ** 2
    s_r2 = max(math.sin(math.pi * resp_hz * rr_s) ** 2, 1e-3)
    sdnn2 = sdnn_ms ** 2
    rmssd, ratio = rmssd_ms, lf_hf
    for _ in range(400):
        r2 = rmssd ** 2
        white2 = _WHITE_RMSSD_SHARE * r2 / 2.0
        rsa2 = (1.0 - _WHITE_RMSSD_SHARE) * r2 / (4.0 * (s_r2 + ratio * s_m2))
        vlf2 = sdnn2 - white2 - rsa2 * (1.0 + ratio)
        if vlf2 >= 0.0:
            break
        if ratio > 0.25:
            ratio *= 0.9
        else:
            rmssd *= 0.98
    else:
        raise ValueError(f"hrv_amplitudes: no solution for SDNN {sdnn_ms} ms, RMSSD {rmssd_ms} ms")
    if rmssd < rmssd_ms or ratio < lf_hf:
        log.debug("HRV targets SDNN %.1f / RMSSD %.1f ms at RR %.2f s: LF/HF %.2f -> %.2f, "
                    "RMSSD -> %.1f ms", sdnn_ms, rmssd_ms, rr_s, lf_hf, ratio, rmssd)
    return HrvAmplitudes(math.sqrt(vlf2), math.sqrt(ratio * rsa2), math.sqrt(rsa2),
                         math.sqrt(white2))


class SinusoidRespiration:
    """Stand-in breathing: phase 2 pi f t, level 0 (end-exhale) .. 1 (end-inhale)."""

    def __init__(self, rate_hz: float = 0.25):
        self.rate_hz = rate_hz

    def resp_phase_rad(self, t_s: np.ndarray) -> np.ndarray:
        return 2.0 * np.pi * self.rate_hz * np.asarray(t_s, dtype=np.float64)

    def resp_level(self, t_s: np.ndarray) -> np.ndarray:
        return 0.5 - 0.5 * np.cos(self.resp_phase_rad(t_s))


def _estimate_resp_hz(respiration) -> float:
    """Mean breathing rate over the first minute, from the phase (+2 pi per breath)."""
    ph = respiration.resp_phase_rad(np.array([0.0, 60.0]))
    return float(np.clip((ph[1] - ph[0]) / (2.0 * np.pi * 60.0), 0.08, 0.7))


_BLOCK_BEATS = 256  # beats per block: the unit of generation, caching and checkpoints
_KEEP_BLOCKS = 4  # blocks held in memory (most recently used); 60 s spans at most 2


@dataclass(frozen=True, slots=True)
class _Checkpoint:
    """Generator state just after beat b * _BLOCK_BEATS was scheduled: enough to replay
    block b bit for bit (its first beat and the PCG64 state for the draws that follow)."""

    r_s: float
    kind: str
    next_sinus_s: float | None
    pcg_state: int
    has_uint32: int
    uinteger: int


@dataclass(frozen=True)
class ScheduleCacheInfo:
    """What a ``BeatSchedule`` holds: ``blocks`` (indices of the cached blocks of
    ``block_beats`` beats each), ``checkpoints`` (one small record per block reached)."""

    blocks: tuple[int, ...]
    checkpoints: int
    block_beats: int


class BeatSchedule:
    """R peaks and beat kinds as time advances; a pure function of (params, seed).

    Memory stays bounded over hours: beats are generated in blocks of ``_BLOCK_BEATS``;
    only the ``_KEEP_BLOCKS`` most recently used blocks are kept, plus one checkpoint
    (R time, kind, pending compensatory beat, PCG64 state) per block reached. A block
    asked for again after eviction is replayed from its checkpoint with the same draws,
    so any order of requests gives the same bits. A first request far ahead walks all
    beats from 0 once (about 2 s for 8 h), keeping only the checkpoints.
    """

    def __init__(self, params: RhythmParams, seed: int, respiration=None):
        self.params = params
        self.respiration = respiration if respiration is not None else SinusoidRespiration()
        self.rr0_s = 60.0 / params.hr_bpm
        ss = np.random.SeedSequence([int(seed), 0x5EED_0B])
        comp_seed, beat_seed = ss.spawn(2)
        crng = np.random.default_rng(comp_seed)
        self.resp_hz = _estimate_resp_hz(self.respiration)
        self.amps = hrv_amplitudes(params.sdnn_ms, params.rmssd_ms, self.rr0_s, self.resp_hz,
                                   params.mayer_hz, params.lf_hf)
        self._mayer_f_hz = params.mayer_hz + params.mayer_width_hz * crng.standard_normal(_N_MAYER)
        self._mayer_ph = crng.uniform(0.0, 2.0 * np.pi, _N_MAYER)
        self._vlf_f_hz = crng.uniform(0.01, 0.04, _N_MAYER)
        self._vlf_ph = crng.uniform(0.0, 2.0 * np.pi, _N_MAYER)
        self._rng = np.random.default_rng(beat_seed)  # rewound to a checkpoint per block
        self._pcg_inc = self._rng.bit_generator.state["state"]["inc"]
        first_r = -crng.uniform(0.0, self.rr0_s)  # first R before t = 0, so t = 0 is covered
        self._checkpoints: list[_Checkpoint] = [self._checkpoint(first_r, "N", None)]
        self._blocks: OrderedDict[int, tuple[np.ndarray, tuple[str, ...]]] = OrderedDict()

    # --- RR process ---------------------------------------------------------------
    def sinus_rr_s(self, t_s: float) -> float:
        """Sinus RR (s) of the interval starting at time t_s, without the white part."""
        a = self.amps
        mayer = math.sqrt(2.0 / _N_MAYER) * a.mayer_sd_ms * float(
            np.sum(np.sin(2.0 * np.pi * self._mayer_f_hz * t_s + self._mayer_ph)))
        vlf = math.sqrt(2.0 / _N_MAYER) * a.vlf_sd_ms * float(
            np.sum(np.sin(2.0 * np.pi * self._vlf_f_hz * t_s + self._vlf_ph)))
        phase = float(self.respiration.resp_phase_rad(np.array([t_s]))[0])
        rsa = math.sqrt(2.0) * a.rsa_sd_ms * math.cos(phase - self.params.rsa_lag_rad)
        return self.rr0_s + 1e-3 * (vlf + mayer + rsa)

    def _step(self, last_r: float, last_kind: str, next_sinus_s: float | None
              ) -> tuple[float, str, float | None]:
        """The beat after (last_r, last_kind): (R time, kind, pending compensatory beat)."""
        p, rng = self.params, self._rng
        u, z = rng.random(), rng.standard_normal()  # always two draws: fixed stream layout
        if p.condition == "af":
            sigma = math.sqrt(math.log1p(p.af_rr_cv ** 2))
            rr = self.rr0_s * math.exp(sigma * z - 0.5 * sigma ** 2)
            return last_r + max(rr, 0.25), "F", next_sinus_s
        rr = max(self.sinus_rr_s(last_r) + 1e-3 * self.amps.white_sd_ms * z, 0.25)
        if next_sinus_s is not None:  # conducted beat after a PVC's pause
            return next_sinus_s, "N", None
        ectopic_kind = {"pvc": "V", "pac": "A"}.get(p.condition)
        if ectopic_kind and last_kind == "N" and u >= p.ectopic_p_stay_normal:
            pause = None
            if ectopic_kind == "V":  # sinus node undisturbed: full compensatory pause
                pause = last_r + rr + self.sinus_rr_s(last_r + rr)
            return last_r + p.ectopic_coupling * rr, ectopic_kind, pause
        return last_r + rr, "N", None

    # --- blocks and checkpoints ---------------------------------------------------
    def _checkpoint(self, r_s: float, kind: str, next_sinus_s: float | None) -> _Checkpoint:
        st = self._rng.bit_generator.state
        return _Checkpoint(r_s, kind, next_sinus_s, st["state"]["state"], st["has_uint32"],
                           st["uinteger"])

    def _generate(self, b: int) -> tuple[np.ndarray, tuple[str, ...]]:
        """Replay block b from its checkpoint; records checkpoint b + 1 on first pass."""
        c = self._checkpoints[b]
        self._rng.bit_generator.state = {
            "bit_generator": "PCG64", "state": {"state": c.pcg_state, "inc": self._pcg_inc},
            "has_uint32": c.has_uint32, "uinteger": c.uinteger}
        r = np.empty(_BLOCK_BEATS)
        kinds = [c.kind]
        r[0] = last_r = c.r_s
        last_kind, pending = c.kind, c.next_sinus_s
        for i in range(1, _BLOCK_BEATS + 1):  # one beat past the block: the next checkpoint
            last_r, last_kind, pending = self._step(last_r, last_kind, pending)
            if i < _BLOCK_BEATS:
                r[i] = last_r
                kinds.append(last_kind)
        if b + 1 == len(self._checkpoints):
            self._checkpoints.append(self._checkpoint(last_r, last_kind, pending))
        r.setflags(write=False)
        return r, tuple(kinds)

    def _block(self, b: int) -> tuple[np.ndarray, tuple[str, ...]]:
        """(R times (_BLOCK_BEATS,) s read-only, kinds) of beats b*_BLOCK_BEATS onwards."""
        got = self._blocks.get(b)
        if got is not None:
            self._blocks.move_to_end(b)
            return got
        while len(self._checkpoints) <= b:  # walk forward; only checkpoints are kept
            self._block(len(self._checkpoints) - 1)
        got = self._generate(b)
        self._blocks[b] = got
        while len(self._blocks) > _KEEP_BLOCKS:
            self._blocks.popitem(last=False)
        return got

    def _extend_past(self, t_s: float) -> None:
        """Checkpoints until one lies after t_s (so every beat up to t_s has a block)."""
        if not math.isfinite(t_s):
            raise ConfigError(f"BeatSchedule: time: expected finite seconds, got {t_s}")
        while self._checkpoints[-1].r_s <= t_s:
            self._block(len(self._checkpoints) - 1)

    def cache_info(self) -> ScheduleCacheInfo:
        return ScheduleCacheInfo(tuple(sorted(self._blocks)), len(self._checkpoints),
                                 _BLOCK_BEATS)

    # --- queries ------------------------------------------------------------------
    def n_beats_before(self, t_s: float, inclusive: bool = False) -> int:
        """Number of beats with R < t_s (R <= t_s when ``inclusive``): the index of the
        first beat at or after (after) t_s."""
        t_s = float(t_s)
        self._extend_past(t_s)
        find = bisect.bisect_right if inclusive else bisect.bisect_left
        b = find(self._checkpoints, t_s, key=lambda c: c.r_s) - 1
        if b < 0:
            return 0
        r, _ = self._block(b)
        return b * _BLOCK_BEATS + int(np.searchsorted(r, t_s, "right" if inclusive else "left"))

    def beat_span(self, k0: int, k1: int) -> tuple[np.ndarray, tuple[str, ...]]:
        """R times (k1 - k0,) float64 s and kinds of beats k0 .. k1 - 1 (0 <= k0 <= k1)."""
        if not 0 <= k0 <= k1:
            raise ConfigError(f"BeatSchedule.beat_span: k0, k1: expected 0 <= k0 <= k1, "
                              f"got {k0}, {k1}")
        rs, kinds = [np.empty(0)], []
        for b in range(k0 // _BLOCK_BEATS, (k1 - 1) // _BLOCK_BEATS + 1 if k1 > k0 else 0):
            r, kd = self._block(b)
            lo, hi = max(k0 - b * _BLOCK_BEATS, 0), min(k1 - b * _BLOCK_BEATS, _BLOCK_BEATS)
            rs.append(r[lo:hi])
            kinds.extend(kd[lo:hi])
        return np.concatenate(rs), tuple(kinds)

    def extend_to(self, t_s: float) -> None:
        """Make sure beats are scheduled up to and including the first R after t_s."""
        self._extend_past(float(t_s))

    def ensure_beats(self, n: int) -> None:
        """Make sure at least ``n`` beats are scheduled."""
        while len(self._checkpoints) * _BLOCK_BEATS < n:
            self._block(len(self._checkpoints) - 1)

    def r_times_s(self, upto_s: float) -> np.ndarray:
        """(n,) R times (s) of beats 0 .. the first R after ``upto_s`` (O(n): not for
        streaming; ``beat_span`` gives a window)."""
        return self.beat_span(0, self.n_beats_before(upto_s, inclusive=True) + 1)[0]

    def kinds(self, upto_s: float) -> list[str]:
        """Kinds of the beats ``r_times_s(upto_s)`` returns."""
        return list(self.beat_span(0, self.n_beats_before(upto_s, inclusive=True) + 1)[1])

    def beats_between(self, t0_s: float, t1_s: float,
                      qrs_onset_offset_s=None) -> list[Beat]:
        """Beats with R in [t0_s, t1_s). ``qrs_onset_offset_s(index) -> s`` (R minus onset)."""
        lo = max(self.n_beats_before(t0_s), 1)  # beat 0 has no previous R
        hi = self.n_beats_before(t1_s)
        if hi <= lo:
            return []
        r, kinds = self.beat_span(lo - 1, hi)
        out = []
        for i, k in enumerate(range(lo, hi), start=1):
            off = qrs_onset_offset_s(k) if qrs_onset_offset_s else 0.04
            out.append(Beat(index=k, r_time_s=float(r[i]), qrs_onset_s=float(r[i] - off),
                            rr_s=float(r[i] - r[i - 1]), kind=kinds[i]))
        return out
