"""Classical breathing and heart rate from the best voxel, without any model.

The vendor's vital-signs demo, done from the beamformed voxels instead of one range bin
on one antenna: phase increments between frames (unwrapped upstream) -> impulse-noise
removal -> breathing: band-pass (cascaded biquads) and spectral peak (zero-padded FFT,
parabolic interpolation) on the best voxel; heart: the eq.-4 differentiator, energy
envelopes in sub-bands of the valve-vibration band (and the pulse band), the beat period
from their summary autocorrelation over all selected voxels (the whole beat, not the burst
rate the envelope spectrum peaks at), refined on the spectral line -> median of the last
estimates. A baseline and a fallback for the model.

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
VIB_SUB_HZ = (10.0, 16.0, 22.0, 30.0, 40.0)  # valve-band split (vibrations 12-35 Hz, tens of um)
HR_SEARCH_LO_HZ = 0.65  # 39 bpm: sinus bradycardia below the profiles' 0.8 Hz cardiac edge
N_FFT_HEART = 8192
VALVE_MIN = 0.3  # valve autocorrelation peak under which the pulse band may take over ...
PULSE_CLEAR = 0.6  # ... if its own is this clear (its clipped envelope also shows breaths' turns)
PULSE_SHARE = 0.8  # pulse band: the shortest peak at this share of the highest (not 2x the period)
REFINE_TOL = 0.07  # spectral refinement window around the autocorrelation's rate


@dataclass(frozen=True)
class VitalSigns:
    """Rates at the end of an analysis span (NaN until ``min_span_s`` of data).

    t_s: end of the span (frame clock). *_snr_db: peak power over the band's median
    power (heart: ``HeartRate.snr_db``); a low value means the rate is unreliable. voxel:
    (range_idx, angle_idx) breathing was measured on (the best voxel); heart_voxel: the one
    of the selected voxels where the beat repeated best in this span.
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
    clipped at ``clip_ratio`` x its median (inf: not clipped) -- so a few large events (a
    breath's turn, a jerk) weigh no more than a heartbeat -- low-passed at 6 Hz, settling
    dropped, mean 1."""
    x = sos_filter_ref(d[:, None], bandpass_sos(4, lo_hz, hi_hz, fs_hz))[:, 0]
    e = x * x
    settle = int(fs_hz)
    np.minimum(e, clip_ratio * np.median(e[settle:]), out=e)
    e = sos_filter_ref(e[:, None], butter_sos(2, ENVELOPE_LP_HZ, fs_hz, "lowpass"))[settle:, 0]
    return e / (e.mean() + 1e-300)


def _autocorr(x: np.ndarray) -> np.ndarray:
    """Normalised (biased) autocorrelation of ``x`` (n,) at lags 0..n-1."""
    x = x - x.mean()
    n_fft = 1 << int(np.ceil(np.log2(2 * len(x))))  # a power of two: an odd length is many times slower
    r = np.fft.irfft(np.abs(np.fft.rfft(x, n_fft)) ** 2, n_fft)[: len(x)]
    return r / (r[0] + 1e-300)


def heart_envelopes(phase_rad: np.ndarray, fs_hz: float, band_hz, clip_ratio: float = CLIP_RATIO) -> list[np.ndarray]:
    """Beat envelopes of an unwrapped phase span (each (n - 6 - fs,) float64, mean 1): the
    energy of its eq.-4 second derivative in the pulse band (cardiac low edge to 10 Hz: the
    systolic pulse; clipped at ``clip_ratio`` x its median, so that a breath's turn weighs no
    more than a beat) and, where the frame rate allows, in each sub-band of the valve band
    (``VIB_SUB_HZ``, unclipped: how much larger one valve burst is than the other is what
    tells a beat from half a beat)."""
    d = second_derivative_ref(phase_rad[:, None])[:, 0]
    envs = [_band_envelope(d, band_hz[0], min(PULSE_BAND_HI_HZ, 0.45 * fs_hz), fs_hz, clip_ratio)]
    edges = [e for e in VIB_SUB_HZ if e <= 0.45 * fs_hz]
    for lo, hi in zip(edges[:-1], edges[1:]):
        envs.append(_band_envelope(d, lo, hi, fs_hz, np.inf))
    return envs


def _local_maxima(r: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Lags in [lo, hi] where ``r`` has a local maximum."""
    i = np.arange(max(lo, 1), min(hi, len(r) - 2) + 1)
    return i[(r[i] >= r[i - 1]) & (r[i] > r[i + 1])]


def _peak_lag(r: np.ndarray, lo: int, hi: int, share: float) -> float:
    """The shortest lag in [lo, hi] where ``r`` peaks at ``share`` x its highest peak there or
    more (share 1: the highest), refined by a parabola; NaN without a positive peak."""
    peaks = _local_maxima(r, lo, hi)
    peaks = peaks[r[peaks] > 0]
    if len(peaks) == 0:
        return float("nan")
    i = int(peaks[np.argmax(r[peaks] >= share * r[peaks].max())])
    a, b, c = r[i - 1], r[i], r[i + 1]
    den = a - 2 * b + c
    return i + (0.5 * (a - c) / den if den < 0 else 0.0)


@dataclass(frozen=True)
class HeartRate:
    """A heart-rate reading of one span: rate_hz (NaN when no beat repeats in the band);
    snr_db: the beat's strongest spectral line (the rate or its 2nd / 3rd harmonic) in the
    envelope spectrum over that spectrum's median (search band to 6 Hz); periodicity: the
    envelope autocorrelation at the beat period (-1..1); slot: the voxel (of those given)
    where the beat repeats best; source: 'valve' or 'pulse' (which envelopes it came from)."""

    rate_hz: float
    snr_db: float
    periodicity: float
    slot: int
    source: str


def heart_rate(phase_rad: np.ndarray, fs_hz: float, band_hz) -> HeartRate:
    """Heart rate from unwrapped phase spans (n,) or (n, K) of K voxels on the same chest.

    Each beat gives two valve bursts (MC/AO, AC/MO: S1 and S2), a systole apart (0.25-0.45
    s), and one slow systolic pulse. The bursts come at about twice the heart rate, so the
    spectral peak of their envelope is often the burst rate (or the systole's inverse) and
    not the heart rate: the period is read from the autocorrelation instead, which peaks
    where the whole beat repeats. Split into sub-bands (``VIB_SUB_HZ``) a burst mostly
    matches itself and not the other one (their pitches differ), so the mean of the
    sub-band autocorrelations (over the voxels too) peaks higher at the beat period than at
    the systole: the valve period is its highest peak in the search band (lags of
    ``HR_SEARCH_LO_HZ`` or the band's low edge, whichever is lower, to its high edge).
    Where the valve bursts do not show (no voxel's autocorrelation at that peak reaches
    ``VALVE_MIN``) and the pulse band's clearly does (``PULSE_CLEAR``), the pulse band gives
    the period: one event a beat, so the shortest lag with a peak near the highest
    (``PULSE_SHARE``), not twice it. The
    period is then refined on the envelopes' spectral line within +-7 % of it, more precise
    than the autocorrelation peak when beat-to-beat intervals vary.
    """
    ph = np.asarray(phase_rad, float)
    ph = ph[:, None] if ph.ndim == 1 else ph
    envs = [heart_envelopes(ph[:, k], fs_hz, band_hz) for k in range(ph.shape[1])]
    lo_hz = min(float(band_hz[0]), HR_SEARCH_LO_HZ)
    lags = (int(np.floor(fs_hz / band_hz[1])), int(np.ceil(fs_hz / lo_hz)))
    groups = {"valve": [e[1:] for e in envs], "pulse": [e[:1] for e in envs]}
    acs = {g: [np.mean([_autocorr(e) for e in ev], axis=0) for ev in evs] for g, evs in groups.items() if evs[0]}
    reads = {}  # group -> (lag, best voxel's autocorrelation there, that voxel)
    for g, share in (("valve", 1.0), ("pulse", PULSE_SHARE)):
        if g in acs:
            lag = _peak_lag(np.mean(acs[g], axis=0), *lags, share)
            at = [float(np.interp(lag, np.arange(len(r)), r)) if np.isfinite(lag) else -1.0 for r in acs[g]]
            reads[g] = (lag, max(at), int(np.argmax(at)))
    src = "valve" if "valve" in reads and np.isfinite(reads["valve"][0]) else "pulse"
    if src == "valve" and reads["valve"][1] < VALVE_MIN and reads["pulse"][1] >= PULSE_CLEAR:
        src = "pulse"
    lag, periodicity, slot = reads[src]
    if not np.isfinite(lag):
        return HeartRate(float("nan"), float("-inf"), -1.0, 0, src)
    f = np.fft.rfftfreq(N_FFT_HEART, 1.0 / fs_hz)
    p = np.sum([_spectrum(e, fs_hz, N_FFT_HEART)[1] for ev in groups[src] for e in ev], axis=0)
    hr_hz = fs_hz / lag
    sel = np.flatnonzero((f >= hr_hz * (1 - REFINE_TOL)) & (f <= hr_hz * (1 + REFINE_TOL)))
    i = int(sel[np.argmax(p[sel])])
    if sel[0] < i < sel[-1]:  # a line, not the slope of one outside the window
        hr_hz = _interp_peak(f, p, i)
    p_slot = np.sum([_spectrum(e, fs_hz, N_FFT_HEART)[1] for e in groups[src][slot]], axis=0)
    line = max(float(p_slot[(f >= k * hr_hz * 0.97) & (f <= k * hr_hz * 1.03)].max(initial=0.0)) for k in (1, 2, 3))
    floor = float(np.median(p_slot[(f >= lo_hz) & (f <= ENVELOPE_LP_HZ)]))
    return HeartRate(hr_hz, float(10 * np.log10(line / (floor + 1e-300) + 1e-300)), periodicity, slot, src)


class ClassicalVitals:
    """Stateful estimator: feed per-frame phase increments of the selected voxels.

    Breathing is measured on the best voxel; the heart on all selected voxels together
    (``heart_rate``: the voxel strongest in breathing is often not the one where the
    heartbeat is clearest). Then the median of the last ``median_of`` estimates, as the
    vendor's demo does (a span without any repetition in the band does not vote).
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
        heart = heart_rate(phase, self.fs_hz, self.cardiac_band_hz)
        hr_hz, hr_snr, k_hr = heart.rate_hz, heart.snr_db, heart.slot
        self._br = (self._br + [60.0 * br_hz])[-self.median_of:]
        self._hr = (self._hr + [60.0 * hr_hz])[-self.median_of:]
        hr_known = [h for h in self._hr if np.isfinite(h)]  # a span without a beat does not vote
        return VitalSigns(t_s, float(np.median(hr_known)) if hr_known else float("nan"), float(np.median(self._br)), hr_snr, br_snr,
                          vox[best], vox[k_hr])
