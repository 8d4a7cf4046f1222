"""Classical breathing and heart rate from the best voxel, without any model.

The vendor's vital-signs demo, done from the beamformed voxels instead of one range bin
on one antenna: phase increments between frames (unwrapped upstream) -> impulse-noise
removal -> breathing: band-pass (cascaded biquads) and spectral peak (zero-padded FFT,
parabolic interpolation) on the best voxel; heart: the eq.-4 differentiator, clipped
energy envelopes in the pulse and valve-vibration bands, spectral peak scored by the
envelope's autocorrelation at one and two periods (the harmonic check), on each selected
voxel, keeping the clearest -> median of the last estimates. A baseline and a fallback
for the model.

Runs once per hop on a few thousand samples, in float64 (a decision, not a signal
the model sees).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardioradar.errors import InputDataError
from edge.dsp.biquad import sos_filter_ref
from edge.dsp.differentiator import second_derivative_ref
from quantize.tables import bandpass_sos, butter_sos

CLIP_RATIO = 3.0  # envelope energy clipped at this x its median
ENVELOPE_LP_HZ = 6.0  # beat envelope low-pass
PULSE_BAND_HI_HZ = 10.0
VIB_BAND_HZ = (10.0, 40.0)  # valve vibrations (12-35 Hz in the simulator, tens of um)


@dataclass(frozen=True)
class VitalSigns:
    """Rates at the end of an analysis span (NaN until ``min_span_s`` of data).

    t_s: end of the span (frame clock). *_snr_db: peak power over the band's median
    power; a low value means the rate is unreliable. voxel: (range_idx, angle_idx)
    breathing was measured on (the best voxel); heart_voxel: the one of the selected
    voxels whose heartbeat stood out most (highest heart SNR) in this span.
    """

    t_s: float
    heart_rate_bpm: float
    breathing_rate_bpm: float
    heart_snr_db: float
    breathing_snr_db: float
    voxel: tuple[int, int]
    heart_voxel: tuple[int, int]


def _spectrum(x: np.ndarray, fs_hz: float, n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    x = (x - x.mean()) * np.hanning(len(x))
    p = np.abs(np.fft.rfft(x, n_fft)) ** 2
    return np.fft.rfftfreq(n_fft, 1.0 / fs_hz), p


def _interp_peak(f: np.ndarray, p: np.ndarray, i: int) -> float:
    if 0 < i < len(p) - 1:
        a, b, c = np.log(p[i - 1] + 1e-300), np.log(p[i] + 1e-300), np.log(p[i + 1] + 1e-300)
        den = a - 2 * b + c
        if den < 0:
            return float(f[i] + 0.5 * (a - c) / den * (f[1] - f[0]))
    return float(f[i])


def breathing_rate_hz(phase_rad: np.ndarray, fs_hz: float, band_hz, n_fft: int = 16384) -> tuple[float, float]:
    """Breathing rate (Hz) and its peak SNR (dB) from an unwrapped phase span."""
    x = sos_filter_ref(phase_rad[:, None], bandpass_sos(2, band_hz[0], band_hz[1], fs_hz))[:, 0]
    f, p = _spectrum(x[int(fs_hz / band_hz[0]):], fs_hz, n_fft)
    sel = (f >= band_hz[0]) & (f <= band_hz[1])
    i = int(np.flatnonzero(sel)[np.argmax(p[sel])])
    return _interp_peak(f, p, i), float(10 * np.log10(p[i] / (np.median(p[sel]) + 1e-300)))


def _band_envelope(d: np.ndarray, lo_hz: float, hi_hz: float, fs_hz: float, clip_ratio: float) -> np.ndarray:
    """Energy envelope of the eq.-4 output ``d`` (n,) in [lo_hz, hi_hz], each sample's energy
    clipped at ``clip_ratio`` x its median -- so a few large events (the kinks of a breath,
    a jerk) weigh no more than a heartbeat -- low-passed at 6 Hz, settling dropped, mean 1."""
    x = sos_filter_ref(d[:, None], bandpass_sos(4, lo_hz, hi_hz, fs_hz))[:, 0]
    e = x * x
    settle = int(fs_hz)
    np.minimum(e, clip_ratio * np.median(e[settle:]), out=e)
    e = sos_filter_ref(e[:, None], butter_sos(2, ENVELOPE_LP_HZ, fs_hz, "lowpass"))[settle:, 0]
    return e / (e.mean() + 1e-300)


def _autocorr(x: np.ndarray) -> np.ndarray:
    x = x - x.mean()
    r = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * len(x))) ** 2)[: len(x)]
    return r / (r[0] + 1e-300)


def heart_envelopes(phase_rad: np.ndarray, fs_hz: float, band_hz, clip_ratio: float = CLIP_RATIO) -> list[np.ndarray]:
    """Beat envelopes of an unwrapped phase span: the clipped energy of its eq.-4 second
    derivative in the pulse band (cardiac low edge to 10 Hz: the systolic pulse) and, where
    the frame rate allows, the valve-vibration band (10-40 Hz: two bursts per beat)."""
    d = second_derivative_ref(phase_rad[:, None])[:, 0]
    bands = [(band_hz[0], min(PULSE_BAND_HI_HZ, 0.45 * fs_hz))]
    vib_hi = min(VIB_BAND_HZ[1], 0.45 * fs_hz)
    if vib_hi > 1.2 * VIB_BAND_HZ[0]:
        bands.append((VIB_BAND_HZ[0], vib_hi))
    return [_band_envelope(d, lo, hi, fs_hz, clip_ratio) for lo, hi in bands]


def heart_rate_hz(phase_rad: np.ndarray, fs_hz: float, band_hz, n_fft: int = 16384) -> tuple[float, float]:
    """Heart rate (Hz) and its peak SNR (dB) from an unwrapped phase span.

    Each beat is a burst in the eq.-4 output, so the beat envelopes (``heart_envelopes``)
    repeat at the heart rate whatever the pulse shape. A candidate rate f is scored by the
    envelopes' summed power spectrum at f times their autocorrelation at one and two periods
    (1/f, 2/f): breathing harmonics and the second harmonic of the two valve bursts make
    spectral lines too, but an envelope only repeats itself after a whole beat, and again
    after two (the harmonic check and the vendor's autocorrelation in one score).
    """
    envs = heart_envelopes(phase_rad, fs_hz, band_hz)
    f, p = _spectrum(envs[0], fs_hz, n_fft)
    r = _autocorr(envs[0])
    for e in envs[1:]:
        p = p + _spectrum(e, fs_hz, n_fft)[1]
        r = r + _autocorr(e)
    sel = np.flatnonzero((f >= band_hz[0]) & (f <= band_hz[1]))
    lag = fs_hz / f[sel]
    lags = np.arange(len(r))
    rep = np.interp(lag, lags, r) + np.interp(2 * lag, lags, r, right=0.0)
    score = p[sel] / p[sel].max() * np.maximum(rep, 0.0)
    i = int(sel[np.argmax(score)])
    if not (p[i] >= p[i - 1] and p[i] >= p[i + 1]):  # climb to the spectral peak it sits on
        step = 1 if p[i + 1] > p[i - 1] else -1
        while sel[0] < i + step < sel[-1] and p[i + step] > p[i]:
            i += step
    return _interp_peak(f, p, i), float(10 * np.log10(p[i] / (np.median(p[sel]) + 1e-300)))


class ClassicalVitals:
    """Stateful estimator: feed per-frame phase increments of the selected voxels.

    Breathing is measured on the best voxel; the heart on each selected voxel, keeping the
    one whose beat stands out most (highest heart SNR): the voxel strongest in breathing is
    often not the one where the heartbeat is clearest. Then the median of the last
    ``median_of`` estimates, as the vendor's demo does.
    """

    def __init__(self, fs_hz: float, breathing_band_hz, cardiac_band_hz, span_s: float = 25.6,
                 min_span_s: float = 10.24, median_of: int = 5):
        self.fs_hz = fs_hz
        self.breathing_band_hz = tuple(breathing_band_hz)
        self.cardiac_band_hz = tuple(cardiac_band_hz)
        self.span = int(round(span_s * fs_hz))
        self.min_span = int(round(min_span_s * fs_hz))
        self.median_of = median_of
        self._steps = np.zeros((0, 1))
        self._hr: list[float] = []
        self._br: list[float] = []

    def update(self, phase_step_rad: np.ndarray, t_s: float, voxels, best: int = 0) -> VitalSigns:
        """phase_step_rad: (n,) or (n, K) float64 increments of the unwrapped phase, one per
        frame, per selected voxel (stable slots); voxels: the K (range_idx, angle_idx) (one
        tuple when K = 1); best: slot of the best voxel (breathing)."""
        steps_new = np.asarray(phase_step_rad, float)
        steps_new = steps_new[:, None] if steps_new.ndim == 1 else steps_new
        vox = [tuple(voxels)] if np.ndim(voxels) == 1 else [tuple(v) for v in voxels]
        if steps_new.shape[1] != len(vox) or not 0 <= best < len(vox):
            raise InputDataError(f"ClassicalVitals.update: expected (n, {len(vox)}) steps and best < {len(vox)}, "
                                 f"got {steps_new.shape} and best={best}")
        if self._steps.shape[1] != steps_new.shape[1]:
            self._steps = np.zeros((0, steps_new.shape[1]))
        self._steps = np.concatenate([self._steps, steps_new])[-self.span:]
        if len(self._steps) < self.min_span:
            return VitalSigns(t_s, np.nan, np.nan, np.nan, np.nan, vox[best], vox[best])
        steps = self._steps.copy()
        # impulse noise (a glitch or a jerk): clip increments far outside the typical ones
        lim = 8.0 * np.median(np.abs(steps), axis=0) + 1e-9
        np.clip(steps, -lim, lim, out=steps)
        phase = np.cumsum(steps, axis=0)
        br_hz, br_snr = breathing_rate_hz(phase[:, best], self.fs_hz, self.breathing_band_hz)
        hearts = [heart_rate_hz(phase[:, k], self.fs_hz, self.cardiac_band_hz) for k in range(phase.shape[1])]
        k_hr = int(np.argmax([snr for _, snr in hearts]))
        hr_hz, hr_snr = hearts[k_hr]
        self._br = (self._br + [60.0 * br_hz])[-self.median_of:]
        self._hr = (self._hr + [60.0 * hr_hz])[-self.median_of:]
        return VitalSigns(t_s, float(np.median(self._hr)), float(np.median(self._br)), hr_snr, br_snr,
                          vox[best], vox[k_hr])
