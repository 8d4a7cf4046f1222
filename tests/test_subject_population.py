"""The synthetic 12-lead population against the published statistics it is drawn from
(docs/simulator.md, "Population"), and each condition against its ECG criteria.

Condition criteria are checked on the ECG the heart streams (a median beat of the
rendered 12 leads, measured here with this file's own simple reader), not on the
parameters the generator solved for.
"""

import json
from dataclasses import asdict

import numpy as np
import pytest

from hardware_sim.subject.ecg import LEADS, measure_beat, qtc_ms, rotation_matrix, vcg_to_leads
from hardware_sim.subject.electrical import CONDITIONS, ElectricalParams, SyntheticHeart
from hardware_sim.subject.params import PRESETS, random_population

L = {n: i for i, n in enumerate(LEADS)}
FS = 1000.0


class NoBreathing:
    """Respiration stand-in that neither rotates nor moves the heart (level 0)."""

    def resp_phase_rad(self, t_s):
        return 2 * np.pi * 0.25 * np.asarray(t_s, dtype=float)

    def resp_level(self, t_s):
        return np.zeros(np.shape(t_s))


def sinus_population(n, seed=7):
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        out.append(ElectricalParams.draw(rng, "sinus", sex="MF"[i % 2],
                                         age_y=float(rng.uniform(20.0, 85.0))))
    return out


@pytest.fixture(scope="module")
def population():
    return sinus_population(300)


def test_frontal_axis_covers_left_and_right_deviation(population):
    axis = np.array([p.qrs_axis_deg for p in population])
    lad, rad = np.mean(axis < -30), np.mean(axis > 90)
    # drawn shares 5 % / 3 % (Honolulu Heart Program, BIRNH); 300 subjects: +-2.5 / 2 %
    assert 0.02 <= lad <= 0.10 and 0.01 <= rad <= 0.07, (lad, rad)
    assert 40 <= np.median(axis) <= 65  # median about +55 deg at 30-49 y, leftward with age
    normal = axis[(axis >= -30) & (axis <= 90)]
    assert normal.std() > 18  # a real spread, not one dialect
    # habitus: broad subjects (horizontal heart) lie further left than slender ones
    h = np.array([p.habitus for p in population])
    assert np.median(axis[h > 0.5]) < np.median(axis[h < -0.5]) - 10
    assert all(abs(p.heart_tilt_deg - (-12.0 * p.habitus)) < 1e-9 for p in population)


def test_transition_zone_shares(population):
    tr = np.array([p.transition_lead for p in population])
    ccw, normal, cw = np.mean(tr <= 3), np.mean(tr == 4), np.mean(tr >= 5)
    # ARIC 52.9 / 40.5 / 6.6 %, NIPPON DATA80 41.4 / 51.7 / 6.9 %: drawn 47 / 46 / 7 %
    assert 0.35 <= ccw <= 0.6 and 0.35 <= normal <= 0.6 and 0.03 <= cw <= 0.14, (ccw, normal, cw)


def test_intervals_and_qtc_by_sex(population):
    pr = np.array([p.pr_ms for p in population])
    qrs = np.array([p.qrs_ms for p in population])
    qtc = np.array([p.qtc_ms for p in population])
    female = np.array([i % 2 == 1 for i in range(len(population))])
    assert 150 <= pr.mean() <= 168 and pr.std() > 12 and pr.min() >= 118 and pr.max() <= 202
    assert 82 <= qrs.mean() <= 95 and qrs.max() <= 112
    assert 380 <= qtc.min() and qtc.max() <= 462
    assert qtc[female].mean() - qtc[~female].mean() > 5  # women's QTc is longer (AHA 2009 IV)
    assert qrs[~female].mean() > qrs[female].mean()


def test_amplitude_spread_and_t_wave_variants(population):
    sl = np.array([p.sokolow_lyon_mv for p in population])
    assert 1.8 <= sl.mean() <= 2.8 and sl.std() > 0.4
    meas = [measure_beat(p.vcg, rotation_matrix(*p.axis_rotation_rad)) for p in population[:120]]
    t = {ld: np.array([m.t_mv[L[ld]] for m in meas]) for ld in ("II", "III", "aVR", "V1", "V5")}
    assert np.mean(t["aVR"] < 0) > 0.9 and np.mean(t["II"] > 0) > 0.9 and np.mean(t["V5"] > 0) > 0.9
    for ld in ("III", "V1"):  # variable leads: some flat or inverted, most upright
        share = np.mean(t[ld] < 0.05)
        assert 0.05 <= share <= 0.6, (ld, share)


def median_beat(heart, t0=2.0, t1=14.0):
    """Median of the rendered 12 leads around conducted R peaks (-400..+600 ms, 1 kHz),
    baseline = the PR-segment level; returns (beat (1000, 12), R index, a beat's QRS
    onset index from the source's own estimate)."""
    beats = [b for b in heart.beats_between(t0, t1) if b.kind != "V"]
    rel = np.arange(-400, 600) / FS
    stack = np.stack([heart.ecg_mv(b.r_time_s + rel) for b in beats])
    med = np.median(stack, axis=0)
    r = 400
    onset = r - int(round(np.median([b.r_time_s - b.qrs_onset_s for b in beats]) * FS))
    return med - med[max(onset - 20, 0)], r, onset


def qrs_window(beat, r):
    """QRS onset/offset from the spatial velocity of the (inverse-free) 12 leads."""
    sv = np.abs(np.diff(beat, axis=0)).sum(axis=1)
    thr = 0.08 * sv[r - 80:r + 80].max()

    def edge(start, step):
        i, quiet = start, 0
        while 0 < i < sv.size - 1:
            i += step
            quiet = quiet + 1 if sv[i] < thr else 0
            if quiet >= 10:
                return i - step * 9
        return i

    peak = r - 80 + int(np.argmax(sv[r - 80:r + 80]))
    return edge(peak, -1), edge(peak, +1)


def q_wave(x):
    """(duration ms, depth mV, QS) of an initial negative deflection of one lead's QRS."""
    if x.max() < 0.05:
        return x.size, -x.min(), True
    first_pos = int(np.argmax(x > 0.0))
    return first_pos, -min(x[:first_pos + 1].min(), 0.0), False


def heart_for(condition, i, hr=72.0):
    rng = np.random.default_rng([31, i])
    p = ElectricalParams.draw(rng, condition, hr_bpm=hr, sex="MF"[i % 2],
                              age_y=float(rng.uniform(30, 80)))
    return p, SyntheticHeart(p, i, respiration=NoBreathing())


@pytest.mark.parametrize("condition", ["rbbb", "lbbb"])
def test_bundle_branch_blocks_are_wide_and_look_the_part(condition):
    for i in range(8):
        p, h = heart_for(condition, i, hr=float(60 + 6 * i))
        beat, r, _ = median_beat(h)
        on, off = qrs_window(beat, r)
        assert off - on >= 120, (i, off - on)
        qrs = beat[on:off]
        assert p.bbb == condition and all(b.conduction == condition.upper()
                                          for b in h.beats_between(2, 6))
        if condition == "rbbb":  # rsR' in V1, terminal S in I and V6
            v1 = qrs[:, L["V1"]]
            s = int(np.argmin(v1))
            assert v1[s:].max() > 0.1, i
            assert qrs[r - on:, L["I"]].min() < -0.05 and qrs[r - on:, L["V6"]].min() < -0.05, i
        else:  # no septal q in I, V5, V6; QS/rS in V1; discordant T in V6 and I
            for ld in ("I", "V5", "V6"):
                assert q_wave(qrs[:, L[ld]])[1] < 0.05, (i, ld)
            assert -qrs[:, L["V1"]].min() > 2 * max(qrs[:, L["V1"]].max(), 0), i
            st_t = beat[off + 40:off + 300]
            assert st_t[:, L["V6"]].min() < -0.05 and abs(st_t[:, L["V6"]].min()) > st_t[:, L["V6"]].max()


@pytest.mark.parametrize("condition", ["infarct_inferior", "infarct_anterior"])
def test_infarct_q_waves_meet_the_universal_definition(condition):
    """Fourth Universal Definition of MI (Thygesen et al. 2018): Q >= 30 ms and >= 0.1 mV
    (or QS) in 2 contiguous leads of II/III/aVF; any Q >= 20 ms or QS in V2 and V3."""
    for i in range(10):
        p, h = heart_for(condition, i)
        beat, r, _ = median_beat(h)
        on, off = qrs_window(beat, r)
        qrs = beat[on:off]
        if condition == "infarct_inferior":
            assert p.infarct_wall == "inferior"
            ok = [(d >= 30 and q >= 0.1) or qs for d, q, qs in
                  (q_wave(qrs[:, L[ld]]) for ld in ("II", "III", "aVF"))]
            assert sum(ok) >= 2 and (ok[1] or ok[0] and ok[2]), (i, ok)
        else:
            assert p.infarct_wall == "anterior"
            for ld in ("V2", "V3"):
                d, _, qs = q_wave(qrs[:, L[ld]])
                assert d >= 20 or qs, (i, ld, d)
    # healthy subjects of the same draw have no such Q waves
    for i in range(6):
        _, h = heart_for("sinus", i)
        beat, r, _ = median_beat(h)
        on, off = qrs_window(beat, r)
        d, q, qs = q_wave(beat[on:off, L["II"]])
        assert not (qs or (d >= 30 and q >= 0.1)), (i, d, q)


def test_lvh_low_voltage_and_early_repolarisation_criteria():
    for i in range(8):
        p, h = heart_for("lvh", i)
        beat, r, _ = median_beat(h)
        on, off = qrs_window(beat, r)
        q = beat[on:off]
        sokolow = -q[:, L["V1"]].min() + max(q[:, L["V5"]].max(), q[:, L["V6"]].max())
        assert p.lvh and sokolow >= 3.5, (i, sokolow)  # Sokolow-Lyon
    for i in range(8):
        p, h = heart_for("low_voltage", i)
        beat, r, _ = median_beat(h)
        on, off = qrs_window(beat, r)
        p2p = np.ptp(beat[on:off, :6], axis=0)
        assert p.low_voltage and p2p.max() < 0.5, (i, p2p)
    for i in range(8):
        p, h = heart_for("early_repol", i)
        beat, r, _ = median_beat(h)
        _, off = qrs_window(beat, r)
        j = beat[off]
        inferior = np.sort(j[[L["II"], L["III"], L["aVF"]]])[-2]
        lateral = np.sort(j[[L["I"], L["aVL"], L["V4"], L["V5"], L["V6"]]])[-2]
        assert p.early_repol_mv >= 0.1 and max(inferior, lateral) >= 0.1, (i, inferior, lateral)


def test_qtc_follows_rate_and_fridericia_differs():
    p, h = heart_for("sinus", 3, hr=95.0)
    b = h.beats_between(5, 10)[1]
    assert b.qt_s == pytest.approx(p.qt_ms(b.rr_s) / 1000.0)
    assert qtc_ms(b.qt_s * 1000, b.rr_s) == pytest.approx(p.qtc_ms)
    assert qtc_ms(b.qt_s * 1000, b.rr_s, "fridericia") < p.qtc_ms  # faster than 60 bpm
    with pytest.raises(ValueError, match="formula"):
        qtc_ms(400.0, 1.0, "hodges")


def test_beat_to_beat_jitter_is_seeded_and_small():
    p, h = heart_for("sinus", 5)
    assert 0.005 <= p.beat_jitter_frac <= 0.02
    beats = h.beats_between(2, 30)
    r_amp = np.array([h.ecg_mv(np.array([b.r_time_s]))[0, L["II"]] for b in beats])
    cv = r_amp.std() / r_amp.mean()
    assert 0.002 < cv < 0.06  # no breathing here: the jitter alone
    again = SyntheticHeart(p, 5, respiration=NoBreathing())
    assert np.array_equal(again.ecg_mv(np.arange(0, 20, 1 / 500)), h.ecg_mv(np.arange(0, 20, 1 / 500)))


def test_every_condition_round_trips_and_keeps_einthoven_goldberger():
    for cond in CONDITIONS:
        p = ElectricalParams.draw(np.random.default_rng(9), cond)
        assert ElectricalParams.from_dict(json.loads(json.dumps(asdict(p)))) == p
        e = SyntheticHeart(p, 9).ecg_mv(np.arange(0, 6, 1 / 500))
        I, II = e[:, 0], e[:, 1]
        assert np.abs(e[:, L["III"]] - (II - I)).max() < 1e-12
        assert np.abs(e[:, L["aVR"]] + (I + II) / 2).max() < 1e-12
        assert np.abs(e[:, L["aVL"]] - (I - II / 2)).max() < 1e-12
        assert np.abs(e[:, L["aVF"]] - (II - I / 2)).max() < 1e-12
        assert np.isfinite(e).all() and np.abs(e).max() < 8.0


def test_older_params_without_the_new_fields_still_load():
    p = ElectricalParams.draw(np.random.default_rng(1), "rbbb")
    d = json.loads(json.dumps(asdict(p)))
    for k in ("habitus", "qrs_axis_deg", "bbb", "infarct_wall", "beat_jitter_frac", "qtc_ms"):
        del d[k]
    old = ElectricalParams.from_dict(d)
    assert old.bbb == "" and old.rbbb and old.beat_jitter_frac == 0.0
    h = SyntheticHeart(old, 1)
    assert h.beats_between(1, 4)[0].conduction == "RBBB"


def test_population_mix_includes_the_new_conditions_and_presets_build():
    pop = random_population(200, seed=3)
    seen = {p.condition for p in pop}
    for c in ("lbbb", "infarct_inferior", "infarct_anterior", "lvh", "early_repol", "low_voltage"):
        assert c in seen, c
    for name, cond in (("lbbb", "lbbb"), ("infarct-inferior", "infarct_inferior"),
                       ("infarct-anterior", "infarct_anterior"), ("lvh", "lvh"),
                       ("early-repol", "early_repol"), ("low-voltage", "low_voltage")):
        s = PRESETS[name].make(2)
        assert s.condition == cond and s.electrical.condition == cond
        assert PRESETS[name].make(2).to_json() == s.to_json()


def test_ecg_generation_is_deterministic_to_the_byte():
    a = random_population(3, seed=11)
    b = random_population(3, seed=11)
    t = np.arange(0, 10, 1 / 500)
    for pa, pb in zip(a, b):
        ea = SyntheticHeart(pa.electrical, 4).ecg_mv(t)
        eb = SyntheticHeart(pb.electrical, 4).ecg_mv(t)
        assert ea.tobytes() == eb.tobytes()


def test_measure_beat_on_the_template_matches_the_spec():
    # physiology.md: R ~0.8 mV in I and II, rS in V1, R 1.6-1.7 mV in V4-V5
    from hardware_sim.subject.ecg import NORMAL_VCG

    m = measure_beat(NORMAL_VCG)
    assert 0.7 < m.lead("r_mv", "I") < 0.9 and 0.7 < m.lead("r_mv", "II") < 0.9
    assert m.lead("s_mv", "V1") > m.lead("r_mv", "V1")
    assert 1.5 < m.lead("r_mv", "V4") < 1.8
    assert 120 <= m.pr_ms <= 200 and 60 <= m.qrs_ms <= 100
    e = vcg_to_leads(np.eye(3))
    assert np.allclose(e[:, 2], e[:, 1] - e[:, 0])
