"""Training targets at the feature samples: ECG, R-peak anchors, R-peak mask, cycle length.

A ``Reference`` is the true ECG of one recording on its own clock. Feature sample k of a
DSP window sits at stream frame ``start_frame + k`` (``DspFeatures``); the caller maps
stream frames to seconds on the reference's clock (``frame_times_s``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfiltfilt

from cardioradar.errors import InputDataError
from host.data.format import N_LEADS, WindowSet

log = logging.getLogger(__name__)

ANCHOR_SIGMA_S = 0.020
ANTIALIAS_HZ = 40.0  # low-pass before sampling the reference at the 100 Hz feature rate


@dataclass(frozen=True)
class Reference:
    """The true ECG of a recording.

    ecg_mv: float32 (n, 12) mV, lead order I, II, III, aVR, aVL, aVF, V1-V6; NaN for
        leads (or stretches) the reference does not have.
    fs_hz: its sample rate; t0_s: time of sample 0 on the recording's clock.
    r_peaks_s: float64 (k,) true lead-II R-peak times on the same clock, sorted.
    """

    ecg_mv: np.ndarray
    fs_hz: float
    t0_s: float
    r_peaks_s: np.ndarray

    def __post_init__(self) -> None:
        if self.ecg_mv.ndim != 2 or self.ecg_mv.shape[1] != N_LEADS:
            raise InputDataError(f"Reference.ecg_mv: expected (n, {N_LEADS}), got {self.ecg_mv.shape}")
        if not self.fs_hz > 0:
            raise InputDataError(f"Reference.fs_hz: expected > 0, got {self.fs_hz}")

    def at(self, t_s: np.ndarray, out_fs_hz: float = 100.0) -> np.ndarray:
        """float32 (len(t_s), 12): the ECG at times ``t_s`` (linear interpolation after a
        zero-phase anti-alias low-pass when the reference is faster than ``out_fs_hz``);
        NaN outside the reference."""
        x = self.ecg_mv.astype(np.float64)
        cutoff = min(ANTIALIAS_HZ, 0.45 * out_fs_hz)
        if self.fs_hz > 2.2 * cutoff and len(x) > 64:
            sos = butter(4, cutoff, fs=self.fs_hz, output="sos")
            for j in range(N_LEADS):
                col = x[:, j]
                ok = np.isfinite(col)
                if ok.all():
                    x[:, j] = sosfiltfilt(sos, col)
                elif ok.any():
                    log.debug("lead %d has gaps: sampled without the anti-alias filter", j)
        t_ref = self.t0_s + np.arange(len(x)) / self.fs_hz
        out = np.empty((len(t_s), N_LEADS), np.float32)
        for j in range(N_LEADS):
            out[:, j] = np.interp(t_s, t_ref, x[:, j], left=np.nan, right=np.nan)
        return out


def anchors_at(t_s: np.ndarray, r_peaks_s: np.ndarray, sigma_s: float = ANCHOR_SIGMA_S) -> np.ndarray:
    """float32 (len(t_s),): max over R peaks of exp(-(t - r)^2 / 2 sigma^2) (peak 1)."""
    out = np.zeros(len(t_s), np.float64)
    if len(t_s) == 0:
        return out.astype(np.float32)
    near = r_peaks_s[(r_peaks_s > t_s[0] - 5 * sigma_s) & (r_peaks_s < t_s[-1] + 5 * sigma_s)]
    for r in near:
        np.maximum(out, np.exp(-0.5 * ((t_s - r) / sigma_s) ** 2), out=out)
    return out.astype(np.float32)


def peak_mask_at(t_s: np.ndarray, r_peaks_s: np.ndarray) -> np.ndarray:
    """uint8 (len(t_s),): 1 at the sample nearest each R peak inside the sampled span."""
    m = np.zeros(len(t_s), np.uint8)
    if len(t_s) < 2:
        return m
    half = 0.5 * float(np.median(np.diff(t_s)))
    for r in r_peaks_s[(r_peaks_s >= t_s[0] - half) & (r_peaks_s < t_s[-1] + half)]:
        m[int(np.argmin(np.abs(t_s - r)))] = 1
    return m


def mean_cycle_s(t0_s: float, t1_s: float, r_peaks_s: np.ndarray) -> float:
    """Mean RR over the intervals that overlap [t0_s, t1_s] (NaN with fewer than 2 peaks)."""
    lo = max(int(np.searchsorted(r_peaks_s, t0_s)) - 1, 0)
    hi = int(np.searchsorted(r_peaks_s, t1_s, side="right")) + 1
    r = r_peaks_s[lo:hi]
    return float(np.mean(np.diff(r))) if len(r) >= 2 else float("nan")


def make_windows(features: list, frame_times_s: np.ndarray, ref: Reference, subject_id: int,
                 condition: str, fs_hz: float = 100.0) -> WindowSet:
    """One ``WindowSet`` from DSP windows of one recording.

    features: list of ``edge.dsp.pipeline.DspFeatures`` (one stream).
    frame_times_s: float64 (n_frames,) time of each stream frame on the reference's clock.
    """
    if not features:
        return WindowSet.empty()
    t = np.stack([frame_times_s[f.start_frame:f.start_frame + f.features_q15.shape[0]] for f in features])
    n, w = t.shape
    ecg = ref.at(t.reshape(-1), fs_hz).reshape(n, w, N_LEADS)
    return WindowSet(
        features_q15=np.stack([f.features_q15 for f in features]).astype(np.int16),
        ecg_mv=ecg,
        anchors=np.stack([anchors_at(ti, ref.r_peaks_s) for ti in t]),
        r_peak_mask=np.stack([peak_mask_at(ti, ref.r_peaks_s) for ti in t]),
        cycle_s=np.array([mean_cycle_s(ti[0], ti[-1], ref.r_peaks_s) for ti in t], np.float32),
        subject_id=np.full(n, subject_id, np.int32),
        condition=np.full(n, condition),
        window_start_s=t[:, 0].astype(np.float64),
    )
