"""Classical breathing and heart rate from the best voxel, without any model.

The vendor's vital-signs demo, done from the beamformed voxels instead of one range bin
on one antenna: phase increments between frames (unwrapped upstream) -> impulse-noise
removal -> breathing: band-pass (cascaded biquads) and spectral peak (zero-padded FFT,
parabolic interpolation) on the best voxel; heart: the eq.-4 differentiator, energy
envelopes in sub-bands of the valve-vibration band (and the pulse band), the beat period
from their summary autocorrelation over all selected voxels (the whole beat, not the burst
rate the envelope spectrum peaks at), checked against the systole (an S1->S2 lag that
Weissler's systolic time intervals explain is not a beat), then the mean rate of the beats
tracked along the envelopes at that period (else the spectral line) ->
the span's reading when it agrees with the recent ones, else the median of the last three.
A baseline and a fallback for the model.

Runs once per hop on a few thousand samples, in float64 (a decision, not a signal
the model sees).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardioradar.errors import InputDataError
from edge.dsp.biquad import sos_filter_ref
from edge.dsp.differentiator import DELAY_SAMPLES, second_derivative_ref
from fixedpoint.tables import bandpass_sos, butter_sos

CLIP_RATIO = 3.0  # envelope energy clipped at this x its median
ENVELOPE_LP_HZ = 6.0  # beat envelope low-pass
PULSE_BAND_HI_HZ = 10.0
VIB_SUB_HZ = (10.0, 16.0, 22.0, 30.0, 40.0)  # valve-band split (vibrations 12-35 Hz, tens of um)
# Valve sub-band energy clipped at this x its median: a jerk or a breath's turn (tens to
# hundreds x the median, in every sub-band at once) no longer outweighs the beats, while
# one valve burst can still be several times the other.
VALVE_CLIP_RATIO = 16.0
HR_SEARCH_LO_HZ = 0.65  # 39 bpm: sinus bradycardia below the profiles' 0.8 Hz cardiac edge
N_FFT_HEART = 8192
VALVE_MIN = 0.3  # valve autocorrelation peak under which the pulse band may take over ...
PULSE_CLEAR = 0.6  # ... if its own is this clear (its clipped envelope also shows breaths' turns)
PULSE_SHARE = 0.8  # pulse band: the shortest peak at this share of the highest (not 2x the period)
REFINE_TOL = 0.07  # beat-count / spectral refinement window around the autocorrelation's rate
# Beat tracking by dynamic programming (Ellis 2007): each interval between tracked beats
# costs BEAT_TIGHTNESS x log(interval / period)^2 against the onset strength (in SDs) of its
# beat, and lies within BEAT_INTERVALS x the period. librosa's default tightness is 100 for
# music's steady tempo; a heart's RR swings +-10 % and more with the breath (respiratory sinus
# arrhythmia), so ours is looser (30: chosen on the tests' seeds and 9500-9629, docs/runtime.md).
BEAT_TIGHTNESS = 30.0
BEAT_INTERVALS = (0.75, 1.33)
# Weissler, Harris & Schoenfeld 1968 (systolic time intervals, 211 normal adults), ms against
# heart rate HR (bpm), (intercept, slope): QS2 (Q onset -> aortic closure, S2) and LVET.
WEISSLER_QS2_MS = {"M": (546.0, -2.1), "F": (549.0, -2.0)}
WEISSLER_LVET_MS = {"M": (413.0, -1.7), "F": (418.0, -1.6)}
# The S1->S2 lag of the chest's valve bursts at rate HR lies between LVET (S1 at aortic
# opening) and QS2 (S1 at QRS onset); accepted from 0.85 x the shorter LVET to 1.05 x the
# longer QS2 of the two sexes (the margins are ours: subjects' own intervals and where a
# burst's energy centre sits).
SYSTOLE_WINDOW = (0.85, 1.05)
SYSTOLE_OWN = 0.3  # a lag with a peak this high (x its own) at its own systole is a beat
SYSTOLE_SUPPORT = 0.5  # beat + diastole (S2 -> next S1) peaks, summed, at least this x the lag's
PEAK_TOL = 0.04  # a peak is looked for within +-4 % of a predicted lag (beat-to-beat spread)
CONTINUITY_TOL = 0.05  # a span's reading within 5 % of the recent median is taken as it is
HINT_TOL = 0.15  # a trusted HR: a valve peak within +-15 % of its period ...
HINT_SHARE = 0.5  # ... at least this x the chosen peak replaces it
# Radar-only beats (``radar_beats``), for AF screening where the model's ECG is excluded: the
# same tracker, loosened so that AF's irregular intervals are followed rather than pulled to
# the period (chosen on simulated AF and sinus/PAC/PVC subjects, docs/rhythm.md); beats within
# RADAR_BEAT_MARGIN_S of a span's end are left to the next span (the track's end is loose).
RADAR_BEAT_TIGHTNESS = 10.0
RADAR_BEAT_INTERVALS = (0.6, 1.7)
RADAR_BEAT_MARGIN_S = 2.0


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
    """Energy envelopes of the eq.-4 outputs ``d`` (n, K) in [lo_hz, hi_hz], (K, n - fs) (one row
    a voxel, each row as if filtered alone): each sample's energy clipped at ``clip_ratio`` x its
    row's median (inf: not clipped) -- so a few large events (a breath's turn, a jerk) weigh no
    more than a heartbeat -- low-passed at 6 Hz, settling dropped, mean 1."""
    x = sos_filter_ref(d, bandpass_sos(4, lo_hz, hi_hz, fs_hz))
    e = x * x
    settle = int(fs_hz)
    np.minimum(e, clip_ratio * np.median(e[settle:], axis=0), out=e)
    e = np.ascontiguousarray(sos_filter_ref(e, butter_sos(2, ENVELOPE_LP_HZ, fs_hz, "lowpass"))[settle:].T)
    return e / (e.mean(axis=1, keepdims=True) + 1e-300)


def _autocorr(x: np.ndarray) -> np.ndarray:
    """Normalised (biased) autocorrelation of ``x`` (n,) at lags 0..n-1. One row at a time:
    numpy's irfft over the rows of a 2-D array is ~3x slower than row by row here."""
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
    tells a beat from half a beat; clipped only at ``VALVE_CLIP_RATIO`` x the median, against
    jerks). Spans (n, K) of K voxels: each envelope (K, n - 6 - fs), all voxels in one pass."""
    ph = np.asarray(phase_rad, float)
    d = second_derivative_ref(ph[:, None] if ph.ndim == 1 else ph)
    envs = [_band_envelope(d, band_hz[0], min(PULSE_BAND_HI_HZ, 0.45 * fs_hz), fs_hz, clip_ratio)]
    edges = [e for e in VIB_SUB_HZ if e <= 0.45 * fs_hz]
    for lo, hi in zip(edges[:-1], edges[1:]):
        envs.append(_band_envelope(d, lo, hi, fs_hz, VALVE_CLIP_RATIO))
    return [e[0] for e in envs] if ph.ndim == 1 else envs


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
    return _refine(r, int(peaks[np.argmax(r[peaks] >= share * r[peaks].max())]))


def _refine(r: np.ndarray, i: int) -> float:
    """Lag ``i`` of a local maximum of ``r`` refined by a parabola."""
    a, b, c = r[i - 1], r[i], r[i + 1]
    den = a - 2 * b + c
    return i + (0.5 * (a - c) / den if den < 0 else 0.0)


def _near_max(r: np.ndarray, lag: float, tol: float) -> float:
    """Highest ``r`` within ``lag`` +- ``tol`` (lags); -1 outside ``r``."""
    lo, hi = max(int(np.floor(lag - tol)), 0), min(int(np.ceil(lag + tol)), len(r) - 1)
    return float(r[lo:hi + 1].max()) if hi >= lo else -1.0


def systole_window_s(hr_bpm: float) -> tuple[float, float]:
    """(shortest, longest) S1->S2 lag, s, of a heart beating at ``hr_bpm`` (``SYSTOLE_WINDOW``
    around Weissler's LVET and QS2, both sexes)."""
    lvet = min(a + b * hr_bpm for a, b in WEISSLER_LVET_MS.values())
    qs2 = max(a + b * hr_bpm for a, b in WEISSLER_QS2_MS.values())
    return SYSTOLE_WINDOW[0] * lvet * 1e-3, SYSTOLE_WINDOW[1] * qs2 * 1e-3


def beat_not_systole(r: np.ndarray, lag: float, hi_lag: int, fs_hz: float, r_pulse: np.ndarray) -> float:
    """The beat period (lags) when the valve autocorrelation ``r``'s highest peak ``lag`` is
    the systole (S1->S2) of a longer beat, else ``lag``.

    S1->S2 hardly varies from beat to beat while RR does, so the systole's peak can stand
    higher than the beat's. ``lag`` stays when its own systole shows (a peak at the S1->S2
    lag of a heart at ``fs/lag``, ``SYSTOLE_OWN`` x its height or more). Otherwise a later
    peak ``t`` (up to ``hi_lag``) is the beat when ``lag`` lies in the systole window of
    rate ``fs/t`` (Weissler) and the beat and its diastole (S2 -> next S1: ``t - lag``)
    show (``SYSTOLE_SUPPORT``); of several, the highest. A ``t`` at 3x or more ``lag``
    (then ``t - lag`` is a harmonic too, and bursts a third of a beat apart are also a
    fast heart's harmonics) needs the pulse band ``r_pulse`` (one systolic pulse a beat)
    to repeat better at ``t`` than at ``lag``.
    """
    r_lag = float(np.interp(lag, np.arange(len(r)), r))
    lo_s, hi_s = systole_window_s(60.0 * fs_hz / lag)
    own = _local_maxima(r, max(int(lo_s * fs_hz), int(0.1 * fs_hz)), int(min(hi_s * fs_hz, 0.75 * lag)))
    if len(own) and r[own].max() >= SYSTOLE_OWN * r_lag:
        return lag
    best = None
    for t in _local_maxima(r, int(np.ceil(1.15 * lag)), hi_lag):
        lo_s, hi_s = systole_window_s(60.0 * fs_hz / t)
        tol = max(2.0, PEAK_TOL * t)
        if not lo_s * fs_hz <= lag <= hi_s * fs_hz or r[t] + _near_max(r, t - lag, tol) < SYSTOLE_SUPPORT * r_lag:
            continue
        k = round(t / lag)
        if k >= 3 and abs(t - k * lag) <= tol and \
                _near_max(r_pulse, t, tol) <= _near_max(r_pulse, lag, max(2.0, PEAK_TOL * lag)):
            continue
        if best is None or r[t] > r[best]:
            best = int(t)
    return lag if best is None else _refine(r, best)


def _hinted(r: np.ndarray, lag: float, hint_lag: float) -> float:
    """``lag``, or the highest peak of ``r`` within ``HINT_TOL`` of ``hint_lag`` when ``lag``
    is not and that peak stands at ``HINT_SHARE`` x ``lag``'s height or more."""
    if abs(lag - hint_lag) <= HINT_TOL * hint_lag:
        return lag
    near = _local_maxima(r, int(np.ceil(hint_lag * (1 - HINT_TOL))), int(hint_lag * (1 + HINT_TOL)))
    if len(near) == 0:
        return lag
    i = int(near[np.argmax(r[near])])
    return _refine(r, i) if r[i] > 0 and r[i] >= HINT_SHARE * float(np.interp(lag, np.arange(len(r)), r)) else lag


def beat_times(onset: np.ndarray, period: float, tightness: float = BEAT_TIGHTNESS,
               intervals: tuple[float, float] = BEAT_INTERVALS) -> np.ndarray:
    """Beats (sample indices, increasing) along an onset strength ``onset`` (n,) (zero mean,
    unit SD) of a heart beating about every ``period`` samples: the chain of samples that
    maximises the onset at them minus ``tightness`` x log(interval / period)^2 for each
    interval, every interval within ``intervals`` x the period (Ellis, "Beat tracking by
    dynamic programming", J. New Music Research 2007;36:51-60). A beat that hardly shows
    (half a breath where the chest hides it) is bridged at about the period, so the count
    over the span is the beats', not only the visible ones'. Empty when the span is not
    longer than the longest interval."""
    n = len(onset)
    w = np.arange(max(int(np.floor(intervals[0] * period)), 1), int(np.ceil(intervals[1] * period)) + 1)
    if n <= w[-1]:
        return np.zeros(0, int)
    gain = -tightness * np.log(w / period) ** 2
    pad, step = int(w[-1]), int(w[0])  # -inf before the span; a block of w[0] samples depends only on earlier ones
    score = np.concatenate([np.full(pad, -np.inf), np.asarray(onset, float)])
    back = np.full(pad + n, -1)
    offsets, rows = np.arange(step)[:, None] - w[None, :], np.arange(step)
    for s in range(pad + step, pad + n, step):
        m = min(step, pad + n - s)
        src = offsets[:m] + s
        cand = score[src] + gain
        j = np.argmax(cand, axis=1)
        score[s:s + m] += cand[rows[:m], j]
        back[s:s + m] = src[rows[:m], j]
    beats = [n - 1 + int(np.argmax(score[n - 1:]))]  # the last: within one interval (pad) of the end
    while back[beats[-1]] >= 0:
        beats.append(int(back[beats[-1]]))
    return np.array(beats[::-1]) - pad


def onset_strength(envelopes) -> np.ndarray:
    """The beat trackers' onset: ``envelopes`` (each (n,)) summed, zero mean, unit SD."""
    o = np.sum(envelopes, axis=0)
    return (o - o.mean()) / (o.std() + 1e-300)


def beat_rate_hz(envelopes, period: float, fs_hz: float) -> float:
    """Mean beat rate (Hz) of the beats ``beat_times`` tracks along the summed ``envelopes``
    (each (n,)) at about ``period`` samples: (beats - 1) / (last - first), the rate of the
    mean RR; NaN under three beats."""
    b = beat_times(onset_strength(envelopes), period)
    return fs_hz * (len(b) - 1) / (b[-1] - b[0]) if len(b) >= 3 else float("nan")


def radar_beats(phase_rad: np.ndarray, fs_hz: float, band_hz, period_s: float) -> np.ndarray:
    """Beat times (s after the span's first sample; increasing) of an unwrapped phase span
    (n,) or (n, K), tracked along all its beat envelopes summed (``heart_envelopes``) at about
    ``period_s`` with the loosened tracker (``RADAR_BEAT_*``). Mechanical events, so they
    follow the R peaks by a delay (the pre-ejection period): intervals are what they are for.
    Empty when the period is not a finite positive number or the span too short."""
    if not (np.isfinite(period_s) and period_s > 0):
        return np.zeros(0)
    ph = np.asarray(phase_rad, float)
    envs = heart_envelopes(ph[:, None] if ph.ndim == 1 else ph, fs_hz, band_hz)
    onset = onset_strength([e for band in envs for e in band])
    b = beat_times(onset, period_s * fs_hz, RADAR_BEAT_TIGHTNESS, RADAR_BEAT_INTERVALS)
    return (b + DELAY_SAMPLES + int(fs_hz)) / fs_hz  # envelope sample 0: differentiator delay + settling


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


def heart_rate(phase_rad: np.ndarray, fs_hz: float, band_hz, hint_hz: float | None = None) -> HeartRate:
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
    (``PULSE_SHARE``), not twice it. The valve period is checked against the systole
    (``beat_not_systole``: Weissler's intervals, the diastole's peak, the pulse band).
    ``hint_hz``, a rate trusted from elsewhere (the model's, before a movement), moves the
    period to a clear peak near its own when the chosen one is far from it (``_hinted``). The
    rate is then the mean rate of the beats tracked along the envelopes at that period
    (``beat_rate_hz``) when within +-7 % of it, else the envelopes' spectral line there: the
    autocorrelation peak and the spectral line lean to the beats that show best, and where
    the chest hides the beat over part of each breath while RR swings with it, those are
    the fast (or the slow) ones.
    """
    ph = np.asarray(phase_rad, float)
    ph = ph[:, None] if ph.ndim == 1 else ph
    bands = heart_envelopes(ph, fs_hz, band_hz)  # each (K, m)
    lo_hz = min(float(band_hz[0]), HR_SEARCH_LO_HZ)
    lags = (int(np.floor(fs_hz / band_hz[1])), int(np.ceil(fs_hz / lo_hz)))
    # per voxel, its bands' envelopes (voxel-major, as the beat tracker sums them)
    groups = {g: [[b[k] for b in bs] for k in range(ph.shape[1])]
              for g, bs in (("valve", bands[1:]), ("pulse", bands[:1]))}
    acs = {g: [np.mean([_autocorr(e) for e in ev], axis=0) for ev in evs] for g, evs in groups.items() if evs[0]}
    reads = {}  # group -> (lag, best voxel's autocorrelation there, that voxel)
    for g, share in (("valve", 1.0), ("pulse", PULSE_SHARE)):
        if g in acs:
            r = np.mean(acs[g], axis=0)
            lag = _peak_lag(r, *lags, share)
            if g == "valve" and np.isfinite(lag):
                lag = beat_not_systole(r, lag, lags[1], fs_hz, np.mean(acs["pulse"], axis=0))
            if hint_hz is not None and np.isfinite(hint_hz) and hint_hz > 0 and np.isfinite(lag):
                lag = _hinted(r, lag, fs_hz / hint_hz)
            at = [float(np.interp(lag, np.arange(len(r)), r)) if np.isfinite(lag) else -1.0 for r in acs[g]]
            reads[g] = (lag, max(at), int(np.argmax(at)))
    src = "valve" if "valve" in reads and np.isfinite(reads["valve"][0]) else "pulse"
    if src == "valve" and reads["valve"][1] < VALVE_MIN and reads["pulse"][1] >= PULSE_CLEAR:
        src = "pulse"
    lag, periodicity, slot = reads[src]
    if not np.isfinite(lag):
        return HeartRate(float("nan"), float("-inf"), -1.0, 0, src)
    f = np.fft.rfftfreq(N_FFT_HEART, 1.0 / fs_hz)
    hr_hz = fs_hz / lag
    counted = beat_rate_hz([e for ev in groups[src] for e in ev], lag, fs_hz)
    if abs(counted - hr_hz) <= REFINE_TOL * hr_hz:
        hr_hz = counted
    else:  # too few beats, or the track strayed: the spectral line near the period
        p = np.sum([_spectrum(e, fs_hz, N_FFT_HEART)[1] for ev in groups[src] for e in ev], axis=0)
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
    heartbeat is clearest). Breathing: the median of the last ``median_of`` estimates, as the
    vendor's demo does. Heart: the span's own reading when it lies within
    ``CONTINUITY_TOL`` of the median of the last ``median_of`` (that median lags a changing
    rate by about two hops), else the median of the last three (one odd span does not move
    it); a span without any repetition in the band does not vote.
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
        self._span: tuple[np.ndarray, float] | None = None  # (clipped phase span, its end t_s)
        self._beats: np.ndarray | None = None  # radar_beats of that span (on demand)

    def update(self, phase_step_rad: np.ndarray, t_s: float, voxels, best: int = 0,
               trusted_hr_bpm: float | None = None) -> VitalSigns:
        """phase_step_rad: (n,) or (n, K) float64 increments of the unwrapped phase, one per
        frame, per selected voxel (stable slots); voxels: the K (range_idx, angle_idx) (one
        tuple when K = 1); best: slot of the best voxel (breathing); trusted_hr_bpm: a recent
        HR known to be right (the model's), for continuity (``heart_rate``'s hint)."""
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
        self._span, self._beats = (phase, float(t_s)), None
        br_hz, br_snr = breathing_rate_hz(phase[:, best], self.fs_hz, self.breathing_band_hz)
        hint = trusted_hr_bpm / 60.0 if trusted_hr_bpm is not None and np.isfinite(trusted_hr_bpm) else None
        heart = heart_rate(phase, self.fs_hz, self.cardiac_band_hz, hint)
        hr_hz, hr_snr, k_hr = heart.rate_hz, heart.snr_db, heart.slot
        self._br = (self._br + [60.0 * br_hz])[-self.median_of:]
        self._hr = (self._hr + [60.0 * hr_hz])[-self.median_of:]
        return VitalSigns(t_s, heart_reading(self._hr), float(np.median(self._br)), hr_snr, br_snr,
                          vox[best], vox[k_hr])

    def beats_s(self) -> np.ndarray:
        """Radar-only beat times (frame clock, s) of the last span (``radar_beats`` at the HR
        shown), up to ``RADAR_BEAT_MARGIN_S`` before its end; computed on demand (the runtime
        asks only where the model's ECG is excluded) and once per span. Empty before the
        first reading or while no rate is known."""
        if self._span is None:
            return np.zeros(0)
        if self._beats is None:
            phase, t_end = self._span
            hr_bpm = heart_reading(self._hr)
            b = radar_beats(phase, self.fs_hz, self.cardiac_band_hz, 60.0 / hr_bpm if hr_bpm > 0 else np.nan)
            t = t_end - (len(phase) - 1) / self.fs_hz + b
            self._beats = t[t <= t_end - RADAR_BEAT_MARGIN_S]
        return self._beats


def heart_reading(history_bpm) -> float:
    """The HR to show from the last spans' readings (oldest first, NaN: no beat in that span,
    which does not vote): the newest when within ``CONTINUITY_TOL`` of their median, else
    the median of the last three known; NaN when none is known."""
    known = [float(h) for h in history_bpm if np.isfinite(h)]
    if not known:
        return float("nan")
    now, med = float(history_bpm[-1]), float(np.median(known))
    if np.isfinite(now) and abs(now - med) <= CONTINUITY_TOL * med:
        return now
    return float(np.median(known[-3:]))
