"""Post-processing: beats from the anchor head or lead II, artifact exclusion, HR sources."""

import math

import numpy as np
import pytest

from edge.post import (ClassicalRates, MovementDetector, PostConfig, PostProcessor, amplitude_mv,
                       pick_peaks)

FS = 100.0
CLASSICAL = ClassicalRates(hr_bpm=61.0, br_bpm=14.0, heart_snr_db=9.0)


def synth(t0_s, n, rr_s=0.8, amp_mv=1.0, r_offset_s=0.4):
    """12-lead ECG with Gaussian R waves (lead II peak = amp_mv) and matching anchors."""
    t = t0_s + np.arange(n) / FS
    ph = (t - r_offset_s + rr_s / 2) % rr_s - rr_s / 2
    r = np.exp(-(ph / 0.015) ** 2)
    ecg = (amp_mv * r[:, None] * np.ones(12)[None]).astype(np.float32)
    return ecg, np.exp(-(ph / 0.03) ** 2).astype(np.float32)


def run(pieces, **cfg):
    post = PostProcessor(PostConfig(fs_hz=FS, **cfg))
    return [post.process(t0, e, a, CLASSICAL) for t0, e, a in pieces], post


def test_beats_hr_and_rr_across_piece_seams():
    pieces = [(k * 2.56, *synth(k * 2.56, 256)) for k in range(6)]
    res, _ = run(pieces)
    beats = [b for r in res for b in r.beats]
    t = np.array([b.t_s for b in beats])
    want = np.arange(0.4, 6 * 2.56, 0.8)
    np.testing.assert_allclose(t, want, atol=0.011)  # one beat per R wave, none doubled at a seam
    assert math.isnan(beats[0].rr_s)
    np.testing.assert_allclose([b.rr_s for b in beats[1:]], 0.8, atol=0.011)
    assert res[-1].vitals.source == "model" and res[-1].vitals.hr_bpm == pytest.approx(75.0, abs=0.5)
    assert res[-1].vitals.br_bpm == 14.0  # breathing always from the classical path
    assert 0.9 < res[-1].vitals.quality <= 1.0
    assert not any(r.block.excluded for r in res)


def test_lead_ii_fallback_when_the_anchor_head_is_silent():
    pieces = [(k * 2.56, synth(k * 2.56, 256, rr_s=1.0)[0], np.zeros(256, np.float32)) for k in range(4)]
    res, _ = run(pieces)
    rr = [b.rr_s for r in res for b in r.beats if np.isfinite(b.rr_s)]
    assert len(rr) >= 7
    np.testing.assert_allclose(rr, 1.0, atol=0.011)


def test_low_amplitude_is_excluded_and_marked_not_dropped():
    good = [(k * 2.56, *synth(k * 2.56, 256)) for k in range(3)]
    flat_ecg, flat_anc = synth(3 * 2.56, 256, amp_mv=0.15)
    res, _ = run(good + [(3 * 2.56, flat_ecg, flat_anc)] + [(4 * 2.56, *synth(4 * 2.56, 256))])
    ex = res[3]
    assert ex.block.excluded and ex.block.n_samples == 256  # kept, marked
    np.testing.assert_array_equal(ex.block.ecg_mv, flat_ecg)
    assert ex.beats == ()
    (ev,) = ex.events
    assert ev.kind == "exclusion" and ev.duration_s == pytest.approx(2.56) and "0.2 mV" in ev.detail
    assert ex.amplitude_mv == pytest.approx(0.15, abs=0.01)
    # just above the threshold is kept
    res2, _ = run([(0.0, *synth(0.0, 256, amp_mv=0.25))])
    assert not res2[0].block.excluded
    # no RR spans the excluded stretch, and its R waves (10.0 s) are not reported from the context
    assert math.isnan(res[4].beats[0].rr_s) and res[4].beats[0].t_s >= 4 * 2.56


def test_classical_fallback_without_beats_and_gap_resets_rr():
    flat = np.zeros((256, 12), np.float32)
    res, post = run([(0.0, flat, np.zeros(256, np.float32))])
    v = res[0].vitals
    assert v.source == "classical" and v.hr_bpm == 61.0 and v.quality == pytest.approx(0.5)
    e, a = synth(0.0, 256)
    post.process(0.0, e, a, CLASSICAL)
    post.gap()
    e, a = synth(10.0, 256)
    r = post.process(10.0, e, a, CLASSICAL)
    assert math.isnan(r.beats[0].rr_s)


def test_movement_detector_and_helpers():
    m = MovementDetector(ratio=6.0)
    flags = [m.update(p, False)[0] for p in [1.0, 1.1, 0.9, 1.0, 10.0, 1.0]]
    assert flags == [False, False, False, False, True, False]
    assert m.update(1.0, True)[0]
    assert amplitude_mv(np.full(10, np.nan)) == 0.0
    assert list(pick_peaks(np.array([0, 1, 0, 0.9, 0, 0, 0.2, 0]), 0.5, 2)) == [1, 3]
    assert list(pick_peaks(np.array([0, 1, 0.95, 0.9, 0]), 0.5, 3)) == [1]


def weak_beats(n_pieces, weak_s, height, rr_s=0.8, piece=256):
    """Pieces of ``piece`` samples whose anchor peaks are 0.9, except those at ``weak_s``
    (``height``): the head's answer on a beat it is unsure of."""
    out = []
    for k in range(n_pieces):
        t0 = k * piece / FS
        ecg, anc = synth(t0, piece, rr_s=rr_s)
        t = t0 + np.arange(piece) / FS
        anc = 0.9 * anc
        for w in weak_s:
            near = np.abs(t - w) < 0.1
            anc[near] *= height / 0.9
        out.append((t0, ecg, anc.astype(np.float32)))
    return out


def beat_times(pieces, **cfg):
    res, _ = run(pieces, **cfg)
    return np.array([b.t_s for r in res for b in r.beats])


def test_search_back_finds_a_weak_beat_in_a_long_interval():
    want = np.arange(0.4, 5 * 2.56, 0.8)
    weak = [4.4, 7.6]  # one inside a piece, one beside a seam (7.68)
    t = beat_times(weak_beats(5, weak, 0.35))
    np.testing.assert_allclose(t, want, atol=0.011)  # found at half the threshold (0.25)
    without = beat_times(weak_beats(5, weak, 0.35), searchback_rr=math.inf)
    assert len(without) == len(want) - 2 and not np.any(np.abs(without[:, None] - weak).min(axis=1) < 0.05)
    # below half the threshold it stays a gap: no beat is made up from the flanks of others
    assert len(beat_times(weak_beats(5, weak, 0.2))) == len(want) - 2


def test_search_back_needs_a_rhythm_and_a_long_interval():
    # the first beats: no RR history yet, so a weak one is not searched for
    t = beat_times(weak_beats(2, [1.2], 0.35))
    assert not np.any(np.abs(t - 1.2) < 0.05)
    # a weak peak between two beats at the usual interval is not a missed beat
    pieces = weak_beats(4, [], 0.35)
    for t0, _, anc in pieces:
        tt = t0 + np.arange(len(anc)) / FS
        anc += (0.35 * np.exp(-((tt - 6.4) / 0.03) ** 2)).astype(np.float32)  # mid-interval bump
    t = beat_times(pieces)
    np.testing.assert_allclose(t, np.arange(0.4, 4 * 2.56, 0.8), atol=0.011)


def test_a_peak_on_the_last_sample_of_a_piece_is_found_in_the_next():
    # R wave peaking exactly on a seam: no local maximum inside either piece alone
    pieces = [(k * 1.28, *synth(k * 1.28, 128, rr_s=1.28, r_offset_s=1.27)) for k in range(4)]
    t = beat_times(pieces)
    np.testing.assert_allclose(t, 1.27 + 1.28 * np.arange(3), atol=0.011)


def test_fast_af_intervals_are_beats():
    # AF with a fast ventricular response: RR down to 0.27 s (222 bpm) are all beats
    rr = np.tile([0.27, 0.62, 0.41, 0.9], 4)
    r_s = 0.5 + np.concatenate([[0.0], np.cumsum(rr)])
    n = 256
    pieces = []
    for k in range(int(np.ceil((r_s[-1] + 0.5) * FS / n))):
        t = k * n / FS + np.arange(n) / FS
        d = t[:, None] - r_s[None, :]
        anc = np.exp(-(d / 0.03) ** 2).sum(axis=1).astype(np.float32)
        ecg = (np.exp(-(d / 0.015) ** 2).sum(axis=1)[:, None] * np.ones(12)).astype(np.float32)
        pieces.append((k * n / FS, ecg, anc))
    np.testing.assert_allclose(beat_times(pieces), r_s, atol=0.011)
