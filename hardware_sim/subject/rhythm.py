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
from (params, seed), and cached; asking for any span in any order gives the same
beats. Times before the first beat are not scheduled.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from hardware_sim.subject.types import Beat

log = logging.getLogger(__name__)

__all__ = ["RhythmParams", "HrvAmplitudes", "hrv_amplitudes", "SinusoidRespiration",
           "BeatSchedule"]

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
    the LF/HF ratio and then RMSSD are lowered, with a warning.
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
        log.warning("HRV targets SDNN %.1f / RMSSD %.1f ms at RR %.2f s: LF/HF %.2f -> %.2f, "
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


class BeatSchedule:
    """R peaks and beat kinds as time advances; cached, a pure function of (params, seed)."""

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
        self._beat_rng = np.random.default_rng(beat_seed)
        first_r = -crng.uniform(0.0, self.rr0_s)  # first R before t = 0, so t = 0 is covered
        self._r_s = [first_r]
        self._kind = ["N"]
        self._next_sinus_s: float | None = None  # set while a PVC's compensatory pause runs

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

    def _next_beat(self) -> None:
        p, rng = self.params, self._beat_rng
        last_r, last_kind = self._r_s[-1], self._kind[-1]
        u, z = rng.random(), rng.standard_normal()  # always two draws: fixed stream layout
        if p.condition == "af":
            sigma = math.sqrt(math.log1p(p.af_rr_cv ** 2))
            rr = self.rr0_s * math.exp(sigma * z - 0.5 * sigma ** 2)
            self._append(last_r + max(rr, 0.25), "F")
            return
        rr = max(self.sinus_rr_s(last_r) + 1e-3 * self.amps.white_sd_ms * z, 0.25)
        if self._next_sinus_s is not None:  # conducted beat after a PVC's pause
            self._append(self._next_sinus_s, "N")
            self._next_sinus_s = None
            return
        ectopic_kind = {"pvc": "V", "pac": "A"}.get(p.condition)
        if ectopic_kind and last_kind == "N" and u >= p.ectopic_p_stay_normal:
            self._append(last_r + p.ectopic_coupling * rr, ectopic_kind)
            if ectopic_kind == "V":  # sinus node undisturbed: full compensatory pause
                self._next_sinus_s = last_r + rr + self.sinus_rr_s(last_r + rr)
            return
        self._append(last_r + rr, "N")

    def _append(self, r_s: float, kind: str) -> None:
        self._r_s.append(r_s)
        self._kind.append(kind)

    # --- queries ------------------------------------------------------------------
    def extend_to(self, t_s: float) -> None:
        """Make sure beats are scheduled up to and including the first R after t_s."""
        while self._r_s[-1] <= t_s:
            self._next_beat()

    def ensure_beats(self, n: int) -> None:
        """Make sure at least ``n`` beats are scheduled."""
        while len(self._r_s) < n:
            self._next_beat()

    def r_times_s(self, upto_s: float) -> np.ndarray:
        """(n,) R times (s) of all beats scheduled up to past ``upto_s``."""
        self.extend_to(upto_s)
        return np.asarray(self._r_s)

    def kinds(self, upto_s: float) -> list[str]:
        self.extend_to(upto_s)
        return list(self._kind)

    def beats_between(self, t0_s: float, t1_s: float,
                      qrs_onset_offset_s=None) -> list[Beat]:
        """Beats with R in [t0_s, t1_s). ``qrs_onset_offset_s(index) -> s`` (R minus onset)."""
        self.extend_to(t1_s)
        r = np.asarray(self._r_s)
        lo, hi = np.searchsorted(r, t0_s, "left"), np.searchsorted(r, t1_s, "left")
        out = []
        for k in range(max(int(lo), 1), int(hi)):  # beat 0 has no previous R
            off = qrs_onset_offset_s(k) if qrs_onset_offset_s else 0.04
            out.append(Beat(index=k, r_time_s=float(r[k]), qrs_onset_s=float(r[k] - off),
                            rr_s=float(r[k] - r[k - 1]), kind=self._kind[k]))
        return out
