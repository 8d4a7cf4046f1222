"""Classical HR / BR on clean synthetic chests (quantize.synthetic), held-out seeds."""

import numpy as np
import pytest

from boards import load_profile
from edge.dsp.config import DspConfig
from edge.dsp.pipeline import process_recording
from cardioradar.errors import InputDataError
from edge.dsp.vitals import (ClassicalVitals, beat_rate_hz, beat_times, heart_envelopes, heart_rate, heart_reading,
                              systole_window_s)
from quantize.synthetic import SyntheticChest, render


@pytest.mark.parametrize("seed,chest", [
    (21, SyntheticChest(heart_bpm=72, breathing_hz=0.25)),
    (22, SyntheticChest(heart_bpm=55, breathing_hz=0.2, az_deg=-20, el_deg=10, breathing_pp_mm=12)),
    (23, SyntheticChest(heart_bpm=95, breathing_hz=0.33, az_deg=0)),
    (24, SyntheticChest(heart_bpm=118, breathing_hz=0.4, az_deg=20, range_m=0.8)),
])
def test_classical_rates_on_synthetic_chests(seed, chest):
    p = load_profile("sim")
    cfg = DspConfig.from_profile(p)
    rec = render(chest, p.virtual_positions(), cfg.wavelength_m, cfg.range_resolution_m, 4000, seed=seed)
    f = process_recording(rec.frames, cfg)[-1]
    t1 = (f.start_frame + cfg.window_samples) / cfg.fs_hz
    r = rec.r_peak_s[(rec.r_peak_s >= t1 - 25.6) & (rec.r_peak_s < t1)]
    assert abs(f.vitals.heart_rate_bpm - 60 / np.mean(np.diff(r))) <= 2.0
    assert abs(f.vitals.breathing_rate_bpm - 60 * chest.breathing_hz) <= 1.0
    assert f.vitals.voxel[0] == rec.subject_bin


def _phase(fs_hz, n, heart_hz, pulse_rad, seed):
    """Breathing (0.25 Hz, 8 rad) plus a train of Gaussian pulses at heart_hz, plus noise."""
    t = np.arange(n) / fs_hz
    beats = np.arange(0.3, t[-1], 1 / heart_hz)
    pulse = sum(np.exp(-0.5 * ((t - b) / 0.06) ** 2) for b in beats)
    rng = np.random.default_rng(seed)
    return 8.0 * np.sin(2 * np.pi * 0.25 * t) + pulse_rad * pulse + 0.002 * rng.standard_normal(n)


def test_vitals_take_the_heart_from_the_voxel_where_it_stands_out():
    fs, n = 100.0, 2560
    weak = _phase(fs, n, 1.3, 0.0, 1)  # breathing only
    strong = _phase(fs, n, 1.3, 0.3, 2)
    steps = np.diff(np.stack([weak, strong], 1), axis=0)
    v = ClassicalVitals(fs, (0.1, 0.6), (0.8, 3.0)).update(steps, n / fs, [(7, 3), (6, 3)], best=0)
    assert v.heart_voxel == (6, 3) and v.voxel == (7, 3)
    assert abs(v.heart_rate_bpm - 78.0) <= 1.0 and abs(v.breathing_rate_bpm - 15.0) <= 0.5


def test_vitals_reject_steps_that_do_not_match_the_voxels():
    with pytest.raises(InputDataError, match=r"expected \(n, 2\)"):
        ClassicalVitals(100.0, (0.1, 0.6), (0.8, 3.0)).update(np.zeros((10, 3)), 0.1, [(1, 2), (3, 4)])


def _valve_phase(fs_hz, n, heart_bpm, seed, systole_s=0.36):
    """Smooth breathing (0.25 Hz, 8 rad) plus two valve bursts a beat (18 Hz then 28 Hz, a
    systole apart: the S1/S2 pair), RR swinging +-5 % with the breath, plus noise."""
    t = np.arange(n) / fs_hz
    beats, b = [], 0.2
    while b < t[-1]:
        beats.append(b)
        b += 60.0 / heart_bpm * (1 + 0.05 * np.sin(2 * np.pi * 0.25 * b))
    x = 8.0 * np.sin(2 * np.pi * 0.25 * t)
    for b in beats:
        for c, f, w, a in ((b, 18.0, 0.03, 0.08), (b + systole_s, 28.0, 0.025, 0.05)):
            x += a * np.cos(2 * np.pi * f * (t - c)) * np.exp(-(((t - c) / w) ** 2))
    rng = np.random.default_rng(seed)
    return x + 0.002 * rng.standard_normal(n), 60.0 / np.mean(np.diff(beats))


@pytest.mark.parametrize("heart_bpm,seed,spectrum_misleads", [(72.0, 5, True), (64.0, 6, True), (45.0, 7, False)])
def test_heart_rate_is_the_beat_not_the_valve_burst_rate(heart_bpm, seed, spectrum_misleads):
    """Two bursts a beat: the valve envelope's spectral peak is the burst rate (about twice
    the heart rate), the beat period is where the whole pattern repeats; 45 bpm lies under
    the band's 0.8 Hz edge and is still searched (from 0.65 Hz)."""
    fs, n = 100.0, 2560
    phase, truth = _valve_phase(fs, n, heart_bpm, seed)
    envs = heart_envelopes(phase, fs, (0.65, 3.0))
    f, p = np.fft.rfftfreq(8192, 1 / fs), sum(np.abs(np.fft.rfft(e - e.mean(), 8192)) ** 2 for e in envs[1:])
    sel = (f >= 0.65) & (f <= 3.0)
    if spectrum_misleads:  # the envelope's spectral peak is not the heart rate
        assert abs(60 * f[sel][np.argmax(p[sel])] - truth) > 10
    hr = heart_rate(phase, fs, (0.8, 3.0))
    assert hr.source == "valve" and abs(60 * hr.rate_hz - truth) <= 2.0, (60 * hr.rate_hz, truth)


def test_envelopes_of_several_voxels_are_each_voxels_own():
    """Spans (n, K) are filtered in one pass: every voxel's envelopes are bit for bit those of
    its own column alone (the runtime's classical HR batches its voxels)."""
    rng = np.random.default_rng(11)
    phase = np.stack([_valve_phase(100.0, 2560, bpm, seed)[0] for bpm, seed in ((72.0, 1), (58.0, 2), (95.0, 3))], 1)
    phase[:, 2] += 0.3 * rng.standard_normal(2560)  # one noisy voxel: its own median, its own clipping
    together = heart_envelopes(phase, 100.0, (0.8, 3.0))
    for k in range(phase.shape[1]):
        alone = heart_envelopes(phase[:, k], 100.0, (0.8, 3.0))
        assert len(alone) == len(together)
        for a, t in zip(alone, together):
            assert np.array_equal(a, t[k])


def test_heart_rate_of_breathing_alone_shows_no_repetition():
    """Smooth breathing and noise, no heart: whatever lag wins, the envelopes hardly repeat."""
    rng = np.random.default_rng(9)
    t = np.arange(2560) / 100.0
    hr = heart_rate(8.0 * np.sin(2 * np.pi * 0.25 * t) + 0.002 * rng.standard_normal(len(t)), 100.0, (0.8, 3.0))
    assert hr.periodicity < 0.15, hr


def _same_pitch_phase(fs_hz, n, heart_bpm, seed, systole_s, noise=0.01):
    """Breathing plus S1 and S2 at the same pitch (20 Hz: one valve sub-band), RR varying
    at random (SD 6 %): the beat's autocorrelation peak spreads, the systole's does not."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs_hz
    beats, b = [], 0.2
    while b < t[-1]:
        beats.append(b)
        b += 60.0 / heart_bpm * (1 + 0.06 * rng.standard_normal())
    x = 8.0 * np.sin(2 * np.pi * 0.25 * t)
    for b in beats:
        for c, a in ((b, 0.08), (b + systole_s, 0.06)):
            x += a * np.cos(2 * np.pi * 20.0 * (t - c)) * np.exp(-(((t - c) / 0.03) ** 2))
    return x + noise * rng.standard_normal(n), 60.0 / np.mean(np.diff(beats))


def _highest_valve_peak_s(phase, fs_hz):
    """Lag (s) of the valve envelopes' highest autocorrelation peak in the 0.33-1.54 s search."""
    envs = heart_envelopes(phase, fs_hz, (0.8, 3.0))[1:]
    r = np.mean([np.fft.irfft(np.abs(np.fft.rfft(e - e.mean(), 8192)) ** 2)[:len(e)] for e in envs], axis=0)
    i = np.arange(33, 155)
    peaks = i[(r[i] >= r[i - 1]) & (r[i] > r[i + 1])]
    return peaks[np.argmax(r[peaks])] / fs_hz


def test_systole_window_follows_weissler():
    """S1->S2 of a heart at HR: 0.85 x the shorter LVET to 1.05 x the longer QS2 of Weissler's
    regressions (men: QS2 = 546 - 2.1 HR, LVET = 413 - 1.7 HR; women: 549 - 2.0 HR, 418 - 1.6 HR)."""
    lo, hi = systole_window_s(60.0)
    assert lo == pytest.approx(0.85 * (413 - 1.7 * 60) / 1e3) and hi == pytest.approx(1.05 * (549 - 2.0 * 60) / 1e3)
    lo_fast, hi_fast = systole_window_s(150.0)
    assert lo_fast < lo and hi_fast < hi and hi_fast < 0.3  # a 150-bpm heart has no 0.4-s systole


@pytest.mark.parametrize("heart_bpm,systole_s,seed", [(75.0, 0.38, 2), (75.0, 0.38, 3), (90.0, 0.33, 3)])
def test_heart_rate_is_the_beat_not_the_systole(heart_bpm, systole_s, seed):
    """S1->S2 is steadier than RR, so the envelopes repeat best after one systole (the old
    reading: twice the rate); that lag lies in Weissler's systole window of the slower rate
    whose beat and diastole also show, so the beat is read."""
    fs = 100.0
    phase, truth = _same_pitch_phase(fs, 2560, heart_bpm, seed, systole_s)
    assert abs(_highest_valve_peak_s(phase, fs) - systole_s) <= 0.03  # the trap is there
    hr = heart_rate(phase, fs, (0.8, 3.0))
    assert hr.source == "valve" and abs(60 * hr.rate_hz - truth) <= 2.0, (60 * hr.rate_hz, truth)


@pytest.mark.parametrize("heart_bpm,systole_s,seed", [(130.0, 0.27, 1), (120.0, 0.29, 2), (48.0, 0.44, 3)])
def test_heart_rate_of_a_fast_or_slow_heart_is_not_taken_for_a_systole(heart_bpm, systole_s, seed):
    """A fast heart's beat (0.46 s) is as long as a slow heart's systole, and a slow heart's
    systole is a third of its beat: neither is moved to a multiple."""
    phase, truth = _same_pitch_phase(100.0, 2560, heart_bpm, seed, systole_s)
    assert abs(60 * heart_rate(phase, 100.0, (0.8, 3.0)).rate_hz - truth) <= 2.0


def test_trusted_hr_keeps_the_classical_hr_on_the_beat():
    """A noisier fast heart reads a third of its rate; the model's HR from before a movement
    (the hint) brings it back to the beat's peak, and a hint where the radar shows no beat
    changes nothing."""
    fs = 100.0
    phase, truth = _same_pitch_phase(fs, 2560, 130.0, 1, 0.27, noise=0.02)
    alone = 60 * heart_rate(phase, fs, (0.8, 3.0)).rate_hz
    assert abs(alone - truth) > 20  # the failure the hint is for
    assert abs(60 * heart_rate(phase, fs, (0.8, 3.0), hint_hz=128.0 / 60).rate_hz - truth) <= 2.0
    phase, truth = _same_pitch_phase(fs, 2560, 75.0, 2, 0.38)
    assert heart_rate(phase, fs, (0.8, 3.0), hint_hz=100.0 / 60).rate_hz == heart_rate(phase, fs, (0.8, 3.0)).rate_hz


def test_heart_reading_follows_the_rate_and_ignores_an_odd_span():
    assert heart_reading([70.0, 71.0, 72.0, 73.0, 74.0]) == 74.0  # the median of 5 would lag at 72
    assert heart_reading([70.0, 70.0, 70.0, 70.0, 140.0]) == 70.0  # a harmonic in one span
    assert heart_reading([70.0, 70.0, 71.0, float("nan")]) == 70.0  # no beat: median of the last 3
    assert np.isnan(heart_reading([float("nan"), float("nan")]))


@pytest.mark.parametrize("heart_bpm,seed", [(130.0, 1), (130.0, 2), (75.0, 3)])
def test_beat_count_reads_the_mean_rate_where_the_slow_beats_hardly_show(heart_bpm, seed):
    """RR swings +-10 % with the breath (0.31 Hz) and the beats of the slow half hardly show
    (x0.15): the envelope's autocorrelation peak leans to the fast beats (the failure), the
    beats tracked at that period count the hidden ones too and read the mean RR's rate."""
    fs, n = 100.0, 2460
    rng = np.random.default_rng(seed)
    t, ph0 = np.arange(n) / fs, rng.uniform(0, 2 * np.pi)
    beats = [0.3]
    while beats[-1] < t[-1]:
        beats.append(beats[-1] + 60 / heart_bpm * (1 + 0.1 * np.sin(2 * np.pi * 0.31 * beats[-1] + ph0)))
    beats = np.array(beats[:-1])
    amp = np.where(np.sin(2 * np.pi * 0.31 * beats + ph0) < 0.2, 1.0, 0.15)
    env = sum(a * np.exp(-0.5 * ((t - b) / 0.04) ** 2) for a, b in zip(amp, beats)) + 0.05 * rng.standard_normal(n)
    truth = 60 * (len(beats) - 1) / (beats[-1] - beats[0])
    r = np.fft.irfft(np.abs(np.fft.rfft(env - env.mean(), 8192)) ** 2)[:n]
    i = np.arange(30, 155)
    peaks = i[(r[i] >= r[i - 1]) & (r[i] > r[i + 1])]
    lag = float(peaks[np.argmax(r[peaks])])
    assert 60 * fs / lag - truth > 3.0  # the trap is there
    assert abs(60 * beat_rate_hz([env], lag, fs) - truth) <= 1.0
    assert len(beat_times((env - env.mean()) / env.std(), lag)) in (len(beats) - 1, len(beats), len(beats) + 1)


def test_beat_times_of_a_span_shorter_than_one_beat_is_empty():
    assert len(beat_times(np.zeros(50), 45.0)) == 0 and np.isnan(beat_rate_hz([np.zeros(50)], 45.0, 100.0))
