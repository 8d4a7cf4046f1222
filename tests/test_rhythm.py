"""AF screening on hand-made RR series: irregularly irregular -> AF; sinus with respiratory
arrhythmia, isolated PVCs (compensatory pause) and PACs -> not AF; episodes and burden."""

import numpy as np
import pytest

from cardioradar.errors import InputDataError
from edge.rhythm import AfConfig, af_burden, af_episodes, af_score, irregularity, window_scores


def sinus(rng, n=32, hr=70.0, rsa_s=0.04, noise_s=0.01):
    """Sinus rhythm: respiratory sinus arrhythmia (3-6 s breaths), a 10-s Mayer wave, jitter."""
    rr0 = 60.0 / hr
    t = np.cumsum(np.full(n, rr0))
    return (rr0 + rsa_s * np.sin(2 * np.pi * t / rng.uniform(3, 6) + rng.uniform(0, 6))
            + 0.02 * np.sin(2 * np.pi * t / 10) + rng.normal(0, noise_s, n))


def af(rng, n=32):
    """AF: independent RR around a mean of 0.5-0.9 s with a 12-25 % spread."""
    m = rng.uniform(0.5, 0.9)
    return np.clip(rng.normal(m, m * rng.uniform(0.12, 0.25), n), 0.3, 2.0)


def ectopic(rng, n=32, every=10, early=0.6, pause=1.4):
    """Sinus with an ectopic beat every ``every`` beats: PVC (0.6 then 1.4: full compensatory
    pause) or PAC (0.75 then 1.1)."""
    rr = sinus(rng, n)
    for i in range(int(rng.integers(2, 6)), n - 1, every):
        rr[i] *= early
        rr[i + 1] *= pause
    return rr


def _auc(pos, neg):
    pos, neg = np.asarray(pos), np.asarray(neg)
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def test_af_separates_from_sinus_and_ectopy():
    rngs = [np.random.default_rng(s) for s in range(60)]
    s_af = [af_score(af(r)) for r in rngs]
    s_other = ([af_score(sinus(r)) for r in rngs] + [af_score(ectopic(r)) for r in rngs]
               + [af_score(ectopic(r, early=0.75, pause=1.1)) for r in rngs]
               + [af_score(ectopic(r, every=6)) for r in rngs])
    assert _auc(s_af, s_other) >= 0.99
    assert np.mean(np.array(s_af) >= 0.5) >= 0.95  # sensitivity at the default threshold
    assert np.mean(np.array(s_other) < 0.5) >= 0.97  # specificity


def test_measures_follow_dash_definitions():
    rr = np.array([0.8, 0.9] * 8)  # alternating: every inner point turns
    m = irregularity(rr, trim_frac=0.0)
    assert m.tpr == pytest.approx(1.0)
    assert m.nrmssd == pytest.approx(0.1 / 0.85)
    flat = irregularity(np.full(16, 0.8), trim_frac=0.0)
    assert flat.nrmssd == 0.0 and flat.entropy == 0.0 and flat.tpr == 0.0
    with pytest.raises(InputDataError, match="expected >= 8 finite intervals, got 3"):
        irregularity([0.8, 0.9, np.nan, 1.0])


def test_episodes_and_burden_on_a_paroxysm():
    """60 sinus beats, 80 AF beats, 60 sinus beats: one episode covering the AF stretch."""
    rng = np.random.default_rng(4)
    rr = np.concatenate([sinus(rng, 60), af(rng, 80), sinus(rng, 60)])
    t = np.cumsum(rr)
    eps = af_episodes(t, rr)
    assert len(eps) == 1
    af_t0, af_t1 = t[59], t[139]
    assert abs(eps[0].t0_s - af_t0) < 12 and abs(eps[0].t1_s - af_t1) < 12
    assert 0.3 < af_burden(eps, float(t[-1])) < 0.55


def test_windows_never_span_a_gap():
    rng = np.random.default_rng(1)
    rr = af(rng, 70)
    rr[40] = np.nan  # first beat after a break in the recording
    t = np.cumsum(np.nan_to_num(rr, nan=5.0))
    for t0, t1, _ in window_scores(t, rr, AfConfig(window_beats=16, step_beats=4)):
        assert not (t0 < t[40] - 1 and t1 >= t[40])
    with pytest.raises(InputDataError, match="same shape"):
        window_scores(t[:-1], rr)


# ---------------------------------------------------------------- the board's stream (AfTracker)

def _beats(rr):
    """BeatRecords at the cumulative sum of ``rr`` (a NaN interval: a gap of 5 s, NaN RR)."""
    from edge.types import BeatRecord

    out, t = [], 10.0
    for x in rr:
        t += 5.0 if np.isnan(x) else float(x)
        out.append(BeatRecord(t, float(x), 60.0 / x if np.isfinite(x) else np.nan, 1.0))
    return out


def _stream(beats, seed):
    """Feed beats in random chunk sizes; returns the events and the largest buffer seen."""
    from edge.rhythm import AfTracker

    tr, events, biggest, i = AfTracker(), [], 0, 0
    rng = np.random.default_rng(seed)
    while i < len(beats):
        k = int(rng.integers(0, 6))  # pieces with 0..5 beats, as the post-processing gives
        events += tr.push(beats[i:i + k])
        biggest = max(biggest, len(tr._t))
        i += k
    return events + tr.finish(), biggest, tr


def test_tracker_streams_exactly_the_offline_episodes():
    from edge.rhythm import episodes_from_events

    rng = np.random.default_rng(7)
    # sinus, AF paroxysm, sinus, a gap (NaN) inside a second paroxysm that runs to the end
    rr = np.concatenate([sinus(rng, 100), af(rng, 120), sinus(rng, 80), af(rng, 50), [np.nan], af(rng, 60)])
    beats = _beats(rr)
    t = np.array([b.t_s for b in beats])
    offline = af_episodes(t, rr)
    assert len(offline) == 3  # the gap splits the second paroxysm
    for seed in range(3):
        events, biggest, tr = _stream(beats, seed)
        closed = episodes_from_events(events)
        assert [(e.t0_s, e.t1_s) for e in closed] == [(e.t0_s, e.t1_s) for e in offline]
        assert [e.score for e in closed] == pytest.approx([e.score for e in offline], abs=0.005)
        assert tr.episodes == offline
        assert biggest <= AfConfig().window_beats + AfConfig().step_beats  # bounded memory
        opened = [e for e in events if e.duration_s == 0]
        assert [e.t_s for e in opened] == [e.t0_s for e in offline]
        assert all(e.kind == "af" for e in events)
        # each onset is told before its episode is closed
        order = [(e.t_s, e.duration_s > 0) for e in events]
        for ep in offline:
            assert order.index((ep.t0_s, False)) < order.index((ep.t0_s, True))


def test_tracker_quiet_on_sinus_and_ectopy():
    from edge.rhythm import AfTracker

    rng = np.random.default_rng(3)
    rr = np.concatenate([sinus(rng, 150), ectopic(rng, 150), ectopic(rng, 150, early=0.75, pause=1.1)])
    tr = AfTracker()
    assert tr.push(_beats(rr)) + tr.finish() == []
    assert AfTracker().finish() == []  # a session without beats


def test_af_subject_through_the_edge_core(tmp_path):
    """A simulated AF subject (and a sinus one) through the board's core: DSP windows,
    stitching, post-processing and the AF hook. The model is a stand-in that draws an R wave at
    each of the subject's true R peaks (what a perfect reconstruction gives): the hook and the
    classical rules are tested here, the shipped model's accuracy is the bench's business."""
    from boards import load_profile
    from edge.dsp.config import DspConfig
    from edge.dsp.tensor import FeatureLayout, ModelInputSpec
    from edge.link import DecoderConfig, FrameDecoder
    from edge.rhythm import episodes_from_events
    from edge.runtime.core import EdgeCore
    from edge.runtime.replay import frames_bin_chunks, replay_stream
    from hardware_sim.record import record_session

    profile = load_profile("sim")
    cfg = DspConfig.from_profile(profile)

    class TruthModel:
        def __init__(self, r_s):
            self.input_spec = ModelInputSpec(2.0 / 255, 0, FeatureLayout(cfg.window_samples, cfg.n_voxels, cfg.fs_hz))
            self.r_s, self.calls = r_s, 0

        def predict_int8(self, x):
            t = (np.arange(cfg.window_samples) + cfg.hop_samples * self.calls) / cfg.fs_hz
            self.calls += 1
            d = np.min(np.abs(t[:, None] - self.r_s[None, :]), axis=1)
            ecg = np.exp(-(d / 0.02) ** 2)[:, None] * np.linspace(0.5, 1.5, 12)[None]
            return ecg.astype(np.float32), np.exp(-(d / 0.03) ** 2).astype(np.float32), 0.8

    class FlatModel(TruthModel):  # every piece excluded: the classical fallback's beats
        def predict_int8(self, x):
            ecg, anchors, cycle = super().predict_int8(x)
            return 0 * ecg, None, cycle

    burdens, radar = {}, {}
    for subject in ("af", "healthy-rest"):
        rec = tmp_path / subject
        record_session(rec, 90.0, subject, seed=1, mode="fast")
        truth = np.load(rec / "truth.npz")
        r_s = truth["r_peaks_s"] - truth["frame_times_s"][0]
        for model, into in ((TruthModel(r_s), burdens), (FlatModel(r_s), radar)):
            core = EdgeCore(cfg, model)
            events = []
            replay_stream(frames_bin_chunks(rec / "frames.bin"), FrameDecoder(DecoderConfig.from_profile(profile)),
                          core, lambda o: events.append(o.event) if o.event is not None else None)
            eps = episodes_from_events(events)
            into[subject] = af_burden(eps, 90.0)
            tracker, other = (core.af, core.af_radar) if into is burdens else (core.af_radar, core.af)
            assert [(e.t0_s, e.t1_s) for e in eps] == [(e.t0_s, e.t1_s) for e in tracker.episodes]
            assert other.episodes == []  # each source only where it should speak
            assert all(("radar beats" in e.detail) == (into is radar) for e in events if e.kind == "af")
    assert burdens["af"] >= 0.8  # the DSP warm-up, the first window and the last < 1 window carry no ECG
    assert burdens["healthy-rest"] == 0.0
    assert radar["af"] >= 0.3 and radar["healthy-rest"] == 0.0  # the radar's beats: weaker, still a decision


def _chest_phase(rr_s: np.ndarray, seed: int, fs_hz: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """An unwrapped chest phase (rad) at ``fs_hz``: breathing and a 40-ms systolic bump at each
    beat (``rr_s`` apart, from 1 s), with a little white noise; -> (phase, beat times s)."""
    rng = np.random.default_rng(seed)
    beats = 1.0 + np.cumsum(rr_s)
    t = np.arange(int((beats[-1] + 2.0) * fs_hz)) / fs_hz
    phase = 0.8 * np.sin(2 * np.pi * 0.25 * t) + 2e-4 * rng.standard_normal(len(t))
    for tb in beats:
        phase += 0.04 * np.exp(-0.5 * ((t - tb) / 0.04) ** 2)
    return phase, beats


@pytest.mark.parametrize("seed", range(5))
def test_radar_beats_follow_af_and_keep_a_sinus_rhythm_regular(seed):
    """The classical fallback's beats (``edge.dsp.vitals.radar_beats``) on a hand-made chest:
    an AF series (log-normal RR, CV 0.25) scores AF at the radar threshold, a sinus rhythm with
    respiratory arrhythmia (+-50 ms) does not; the beat count is the chest's within 15 % (AF's
    intervals longer than 1.7x the period get a bridging beat)."""
    from edge.dsp.vitals import radar_beats
    from edge.runtime.core import RADAR_AF

    rng = np.random.default_rng(seed)
    af_rr = np.maximum(0.3, 0.75 * np.exp(0.25 * rng.standard_normal(60)))
    sinus_rr = 0.85 + 0.05 * np.sin(2 * np.pi * 0.25 * 0.85 * np.arange(60)) + 0.01 * rng.standard_normal(60)
    for rr, is_af in ((af_rr, True), (sinus_rr, False)):
        phase, beats = _chest_phase(rr, seed)
        b = radar_beats(phase, 100.0, (0.8, 3.0), float(np.median(rr)))
        assert abs(len(b) - len(beats)) <= 0.15 * len(beats)
        assert (af_score(np.diff(b), RADAR_AF) >= RADAR_AF.threshold) == is_af


def test_detector_slips_on_a_sinus_rhythm_are_not_af():
    """Missed beats (a double interval) and extra beats (an interval split in two), as the
    reconstructed ECG's R-peak detection makes them, must not turn sinus rhythm into AF."""
    scores, raw = [], []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        rr = list(sinus(rng, 40))
        for i in range(int(rng.integers(1, 5)), 34, 7):
            if rng.random() < 0.5:
                rr[i:i + 2] = [rr[i] + rr[i + 1]]  # a missed beat
            else:
                f = rng.uniform(0.35, 0.65)
                rr[i:i + 1] = [rr[i] * f, rr[i] * (1 - f)]  # an extra beat
        scores.append(af_score(np.array(rr[:32])))
    assert np.mean(np.array(scores) < 0.5) >= 0.95


def test_tracker_bridges_a_missed_beat_but_not_a_gap():
    """edge.post gives no interval over 2 s (NaN): without a gap() before it, that is a missed
    beat and its time from the last beat is the interval; after gap() it breaks the series."""
    from edge.rhythm import AfTracker
    from edge.types import BeatRecord

    rng = np.random.default_rng(11)
    rr = af(rng, 80)
    rr[40] = 2.2  # two AF intervals, the beat between them missed
    t = 10.0 + np.cumsum(rr)
    beats = [BeatRecord(float(a), float(r) if r <= 2.0 else np.nan, np.nan, 1.0) for a, r in zip(t, rr)]
    whole = AfTracker()
    ev = whole.push(beats) + whole.finish()
    assert len(whole.episodes) == 1 and whole.episodes[0].t0_s < t[10] and whole.episodes[0].t1_s > t[70]
    broken = AfTracker()
    ev = broken.push(beats[:40])
    broken.gap()  # e.g. the piece in between was excluded
    ev += broken.push(beats[40:]) + broken.finish()
    assert len(broken.episodes) == 2 and broken.episodes[0].t1_s <= t[39] < t[40] <= broken.episodes[1].t0_s + rr[41]
