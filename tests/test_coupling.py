"""Electromechanical couplings: each one's effect on the simulated chest motion.

One test per coupling (docs/simulator.md, "Couplings", lists them with their sources). The
couplings map electrical facts (heart axis, conduction, beat kind, RR, QT, infarct) into the
mechanics; the ECG waveform never enters the motion (``test_motion_never_reads_the_ecg``).
"""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from hardware_sim.subject import VirtualSubject, coupling_for
from hardware_sim.subject.mechanics import (
    ElectromechanicalCoupling,
    HeartMechanics,
    MechanicalParams,
    filling_fraction,
)
from hardware_sim.subject.movement import MovementParams
from hardware_sim.subject.params import PRESETS
from hardware_sim.subject.types import Beat

FS = 1000.0
JITTER_MS = 3 * 2.0  # per-beat jitter bound of each interval (3 SD of 2 ms)


class Source:
    """A hand-made electrical source (what a recording gives): beats only, plus optional
    subject facts as attributes. Its ECG must never be read by the mechanics."""

    def __init__(self, rr_s, kinds=None, qt_s=None, t0_s=0.5, **facts):
        r = t0_s + np.cumsum(rr_s)
        kinds = kinds or ["N"] * len(rr_s)
        qt = qt_s if qt_s is not None else [None] * len(rr_s)
        self.beats = [Beat(i, float(r[i]), float(r[i] - 0.03), float(rr_s[i]), kinds[i], qt[i])
                      for i in range(len(rr_s))]
        for k, v in facts.items():
            setattr(self, k, v)

    def beats_between(self, t0_s, t1_s):
        return [b for b in self.beats if t0_s <= b.r_time_s < t1_s]

    def ecg_mv(self, t_s):
        raise AssertionError("the chest motion read the ECG waveform")


class Level:
    """Respiration stub: a constant breathing level (0 end-expiration, 1 end-inspiration)."""

    def __init__(self, level):
        self.level = level

    def resp_level(self, t_s):
        return np.full(np.shape(t_s), self.level)


def _mech(src, coupling=None, level=None, params=None, seed=3):
    return HeartMechanics(params or MechanicalParams(), src, "M", seed, coupling=coupling,
                          respiration=Level(level) if level is not None else None)


def _band(d, lo_hz=10.0, hi_hz=45.0):
    spec = np.fft.rfft(d - d.mean())
    f = np.fft.rfftfreq(d.size, 1 / FS)
    return np.fft.irfft(np.where((f > lo_hz) & (f < hi_hz), spec, 0), d.size)


def _pulse_peaks(mech, events, t, d):
    """Per beat: the slow pulse's peak (mm) between its QRS onset and mitral opening."""
    return np.array([d[(t >= e.qrs_onset_s) & (t < e.mo_s)].max() for e in events])


def _subject(source, preset="healthy-rest", seed=5):
    """A still subject (no body movement) driven by ``source``, as a recording drives one."""
    params = dataclasses.replace(PRESETS[preset].make(seed),
                                 movement=MovementParams(mild_per_h=0.0, extensive_per_h=0.0))
    return VirtualSubject(params, seed, electrical=source)


def _cardiac_per_point(subj, t):
    """Heartbeat part of each chest point's motion (n_t, n_s) mm: breathing removed."""
    resp = np.array([p.resp_scale for p in subj.params.chest])
    return subj.point_displacement_mm(t) - subj.resp_mm(t)[:, None] * resp[None, :]


def test_heart_axis_moves_apex_and_chest_pattern():
    """Heart orientation <-> electrical axis: a vertical heart (rightward axis) has its apex
    lower and more medial, a horizontal heart (left axis deviation) higher and more lateral
    (AHA/ACCF/HRS ECG standardisation 2007-2009; apex impulse, cardiology texts). The
    point that moves most, and the motion-weighted centre, follow the axis."""
    t = np.arange(2.0, 12.0, 1 / FS)
    centres = {}
    for axis in (-30.0, 100.0):
        subj = _subject(Source(np.full(14, 0.9), frontal_axis_deg=axis))
        assert subj.coupling.frontal_axis_deg == axis
        amp = np.ptp(_cardiac_per_point(subj, t), axis=0)
        lat = np.array([p.lateral_m for p in subj.params.chest])
        cran = np.array([p.cranial_m for p in subj.params.chest])
        w = amp / amp.sum()
        centres[axis] = (float(w @ lat), float(w @ cran), lat[np.argmax(amp)], cran[np.argmax(amp)])
        np.testing.assert_allclose(amp / amp.max(), subj.cardiac_scale / subj.cardiac_scale.max(), atol=0.05)
    horiz, vert = centres[-30.0], centres[100.0]
    assert horiz[0] > vert[0] + 0.01  # more lateral (subject's left)
    assert horiz[1] > vert[1] + 0.01  # higher
    assert (horiz[2], horiz[3]) != (vert[2], vert[3])  # another point moves most
    # The pulse reaches points in order of their distance from the (moved) apex.
    subj = _subject(Source(np.full(14, 0.9), frontal_axis_deg=-30.0))
    apex = subj.coupling.apex_m((0.05, -0.05))
    lat = np.array([p.lateral_m for p in subj.params.chest])
    cran = np.array([p.cranial_m for p in subj.params.chest])
    d = np.hypot(lat - apex[0], cran - apex[1])
    assert np.argmin(subj.cardiac_delay_s) == np.argmin(d)


def test_lvh_displaces_apex_laterally_and_down():
    """LV enlargement displaces the apex impulse laterally and down (apex normally in the 5th
    intercostal space, mid-clavicular line; cardiology texts). The moving region follows."""
    t = np.arange(2.0, 12.0, 1 / FS)
    centre = {}
    for lvh in (False, True):
        subj = _subject(Source(np.full(14, 0.9), frontal_axis_deg=30.0, lvh=lvh), seed=6)
        assert subj.coupling.lvh is lvh
        amp = np.ptp(_cardiac_per_point(subj, t), axis=0)
        lat = np.array([p.lateral_m for p in subj.params.chest])
        cran = np.array([p.cranial_m for p in subj.params.chest])
        centre[lvh] = (float(amp @ lat / amp.sum()), float(amp @ cran / amp.sum()))
    assert centre[True][0] > centre[False][0] + 0.003
    assert centre[True][1] < centre[False][1] - 0.003


def _s2_centroid_ms(mech, t, d):
    """Per beat: energy centroid of the 10-45 Hz band around the second sound, relative to
    the A2 vibration's centre (ms). A2 carries 2/3 of S2's amplitude, so the centroid moves
    by about split / 5 towards P2."""
    hp = _band(d)
    out = []
    for e in mech.events_between(t[0] + 1.0, t[-1] - 1.0):
        a2c = 0.5 * (e.ac_s + e.mo_s)
        m = (t > a2c - 0.13) & (t < a2c + 0.13)
        w = hp[m] ** 2
        out.append(1e3 * (np.sum(w * t[m]) / np.sum(w) - a2c))
    return np.array(out)


@pytest.mark.parametrize("level", [0.0, 1.0])
def test_bundle_branch_block_splits_second_sound(level):
    """RBBB delays P2: a wide split that still widens in inspiration; LBBB delays LV
    ejection and A2, so P2 comes first in expiration and the two fuse in inspiration
    (paradoxical split) (MSD Manual heart-sound recordings by J. Constant; normal split
    20-40 ms in inspiration). Seen in the 10-45 Hz band of the displacement."""
    rr = np.full(30, 1.0)
    t = np.arange(0.0, 31.0, 1 / FS)
    split, centroid, pep = {}, {}, {}
    for cond in ("normal", "RBBB", "LBBB"):
        mech = _mech(Source(rr), ElectromechanicalCoupling(conduction=cond), level=level)
        ev = mech.events_between(0.0, 40.0)
        split[cond] = np.median([(e.p2_s - e.ac_s) * 1e3 for e in ev])
        pep[cond] = np.median([(e.ao_s - e.qrs_onset_s) * 1e3 for e in ev])
        centroid[cond] = np.median(_s2_centroid_ms(mech, t, mech.displacement_mm(t)))
    assert split["normal"] == pytest.approx(40.0 * level, abs=0.5)
    assert split["RBBB"] == pytest.approx(30.0 + 40.0 * level, abs=0.5)
    assert split["LBBB"] == pytest.approx(-40.0 + 40.0 * level, abs=0.5)  # P2 first, then fused
    assert pep["LBBB"] == pytest.approx(pep["normal"] + 40.0, abs=JITTER_MS)
    assert pep["RBBB"] == pytest.approx(pep["normal"], abs=JITTER_MS)
    # In the motion: S2's energy moves towards P2 by about split / 5.
    assert centroid["RBBB"] > centroid["normal"] + 4.0
    if level == 0.0:
        assert centroid["LBBB"] < centroid["normal"] - 4.0
    else:
        assert abs(centroid["LBBB"] - centroid["normal"]) > 4.0  # fused vs split


def test_bundle_branch_block_dyssynchrony_over_the_chest():
    """Dyssynchrony: in LBBB the RV side moves before the late LV and the lateral wall comes
    last (the LBBB contraction pattern, e.g. Quintana et al., Cardiovasc Ultrasound 2008;
    delays of 30-60 ms our choice); in RBBB the RV side lags. The rbbb preset, run exactly
    as docs tell a user, carries it."""
    base = PRESETS["healthy-rest"].make(7)
    spread = {}
    for cond in ("normal", "RBBB", "LBBB"):
        subj = _subject(Source(np.full(20, 0.85), conduction=cond), seed=7)
        assert subj.coupling.conduction == cond
        lat = np.array([p.lateral_m for p in base.chest])
        d = subj.cardiac_delay_s
        spread[cond] = float(np.mean(d[lat > 0.04]) - np.mean(d[lat < -0.04])) * 1e3
    assert spread["LBBB"] > spread["normal"] + 50.0  # lateral LV late vs RV side
    assert spread["RBBB"] < spread["normal"] - 20.0  # RV side late
    # Visible as a lag between a lateral and a medial point's heartbeat (cross-correlation).
    t = np.arange(2.0, 16.0, 1 / FS)
    lags = {}
    for cond in ("normal", "LBBB"):
        subj = _subject(Source(np.full(20, 0.85), conduction=cond), seed=7)
        c = _cardiac_per_point(subj, t)
        lat = np.array([p.lateral_m for p in subj.params.chest])
        a, b = c[:, np.argmax(lat)], c[:, np.argmin(lat)]
        xc = np.correlate(a - a.mean(), b - b.mean(), "full")
        lags[cond] = (np.argmax(xc) - (t.size - 1)) / FS * 1e3
    assert lags["LBBB"] > lags["normal"] + 40.0
    # The user's way: the rbbb preset's own electrical parameters select RBBB.
    subj = VirtualSubject(PRESETS["rbbb"].make(3), 3)
    assert subj.coupling.conduction == "RBBB"


def test_beat_conduction_overrides_the_subject():
    """A recording whose beats say their conduction (e.g. intermittent LBBB) drives the split
    beat by beat; beats that say nothing follow the subject's conduction."""
    rr = np.full(6, 1.0)
    src = Source(rr)
    src.beats = [dataclasses.replace(b, conduction="lbbb" if b.index % 2 else "") for b in src.beats]
    ev = _mech(src, ElectromechanicalCoupling(conduction="RBBB"), level=0.0).events_between(0.0, 20.0)
    split = [round((e.p2_s - e.ac_s) * 1e3) for e in ev]
    assert split == [30, -40, 30, -40, 30, -40]


def test_pvc_smaller_later_stroke_then_potentiation():
    """PVC: abnormal activation (later ejection), smaller stroke, no atrial push before it,
    a compensatory pause, and a stronger next beat (post-extrasystolic potentiation: pulse
    amplitude 9.8 +- 5.4 % in controls, J Physiol, PMC2290033). Recorded drives give the
    same through their beats' kinds."""
    rr = np.array([1.0, 1.0, 1.0, 0.62, 1.38, 1.0, 1.0, 1.0])
    kinds = ["N", "N", "N", "V", "N", "N", "N", "N"]
    mech = _mech(Source(rr, kinds=kinds))
    ev = mech.events_between(0.0, 20.0)
    t = np.arange(0.0, 10.0, 1 / FS)
    d = mech.displacement_mm(t)
    peak = _pulse_peaks(mech, ev, t, d)
    normal = peak[2]
    assert peak[3] < 0.7 * normal  # the PVC's own pulse
    assert peak[4] > 1.1 * normal  # potentiated beat after the compensatory pause
    assert peak[5] == pytest.approx(normal, rel=0.02)  # back to normal
    # Same RR, conducted instead: the ectopic beat ejects ~40 ms later.
    as_sinus = _mech(Source(rr)).events_between(0.0, 20.0)[3]
    assert (ev[3].ao_s - as_sinus.ao_s) * 1e3 == pytest.approx(40.0, abs=1e-6)
    assert ev[3].atrial_s is None and ev[2].atrial_s is not None
    assert ev[4].stroke_rel == pytest.approx(1.15 * filling_fraction(1.38), rel=1e-12)


def test_af_no_atrial_kick_and_stroke_follows_preceding_rr():
    """AF: no atrial contraction (kick 15-30 % of filling) and a stroke that follows the
    preceding RR while filling is incomplete (Frank-Starling; Gosselink et al. JACC 1995;
    Doppler in AF: stroke flat above ~600 ms). Sinus beats keep a presystolic atrial bump."""
    rng = np.random.default_rng(11)
    rr = rng.uniform(0.35, 1.1, 60)
    t = np.arange(0.0, float(rr.sum()) + 1.5, 1 / FS)
    af = _mech(Source(rr, kinds=["F"] * rr.size))
    ev = af.events_between(0.0, 1e3)
    peak = _pulse_peaks(af, ev, t, af.displacement_mm(t))
    short = rr < 0.55
    assert np.corrcoef(rr[short], peak[short])[0, 1] > 0.8
    assert peak[rr > 0.8].std() / peak[rr > 0.8].mean() < 0.05  # flat once filled
    assert peak[rr < 0.42].mean() < 0.8 * peak[rr > 0.8].mean()
    assert filling_fraction(0.4) < filling_fraction(0.6) < filling_fraction(1.0) <= 1.0
    # No atrial bump before AF beats; a sinus beat after a long RR shows one.
    long_rr = np.full(8, 1.3)
    for kind, has_bump in (("N", True), ("F", False)):
        mech = _mech(Source(long_rr, kinds=[kind] * 8))
        t2 = np.arange(0.0, 11.0, 1 / FS)
        d = mech.displacement_mm(t2)
        e = mech.events_between(3.0, 8.0)
        pre = [d[(t2 > x.qrs_onset_s - 0.12) & (t2 < x.qrs_onset_s - 0.01)].max() for x in e]
        if has_bump:
            assert min(pre) > 0.5 * 0.5 * 0.2 * 0.3  # half of 0.5 x kick x pulse
        else:
            assert max(pre) < 1e-3
    # AF beats also lose the kick's share of the stroke at full filling.
    sinus = _mech(Source(long_rr)).events_between(0.0, 20.0)
    fib = _mech(Source(long_rr, kinds=["F"] * 8)).events_between(0.0, 20.0)
    assert fib[3].stroke_rel == pytest.approx(sinus[3].stroke_rel * (1 - 0.5 * 0.2))


def test_qt_sets_aortic_closure():
    """QT <-> QS2: QS2 parallels QT and is 26 +- 13 ms longer in health (Boudoulas et al.,
    Chest 1981; Am J Cardiol 1982), so the end of T sits near aortic closure. A beat's QT,
    when its source gives it, moves A2 and the second sound in the motion."""
    rr = np.full(20, 0.9)
    t = np.arange(0.0, 20.0, 1 / FS)
    params = MechanicalParams(qs2_minus_qt_ms=26.0)
    s2 = {}
    for qt in (0.36, 0.42):
        mech = _mech(Source(rr, qt_s=[qt] * rr.size), params=params)
        ev = mech.events_between(0.0, 30.0)
        for e in ev:
            assert (e.ac_s - e.qrs_onset_s) * 1e3 == pytest.approx(qt * 1e3 + 26.0, abs=JITTER_MS)
        hp = _band(mech.displacement_mm(t))
        # time of S2's strongest vibration after each QRS onset
        s2[qt] = np.median([
            (t[(t > e.qrs_onset_s + 0.3) & (t < e.qrs_onset_s + 0.7)][
                np.argmax(np.abs(hp[(t > e.qrs_onset_s + 0.3) & (t < e.qrs_onset_s + 0.7)]))] - e.qrs_onset_s)
            for e in ev[1:-1]])
    assert (s2[0.42] - s2[0.36]) * 1e3 == pytest.approx(60.0, abs=12.0)
    # Without per-beat QT, the subject's QT relative to the population scales QS2.
    base = _mech(Source(rr)).events_between(0.0, 30.0)
    long = _mech(Source(rr), ElectromechanicalCoupling(qt_ratio=1.1)).events_between(0.0, 30.0)
    qs2 = lambda ev: np.median([e.ac_s - e.qrs_onset_s for e in ev])  # noqa: E731
    assert qs2(long) / qs2(base) == pytest.approx(1.1, abs=0.01)


@pytest.mark.parametrize("wall", ["anterior", "lateral", "inferior"])
def test_infarct_regional_hypokinesis(wall):
    """Ischaemia / infarct: the affected wall's points move less (regional hypokinesis,
    echocardiographic wall-motion scoring); far points much less affected. Also ejection a
    little shorter, so QT > QS2 (Boudoulas et al. 1982)."""
    t = np.arange(2.0, 12.0, 1 / FS)
    healthy = _subject(Source(np.full(14, 0.9)), seed=9)
    mi = _subject(Source(np.full(14, 0.9), infarct_wall=wall), seed=9)
    assert mi.coupling.infarct_wall == wall and mi.coupling.infarct_severity > 0
    ratio = np.ptp(_cardiac_per_point(mi, t), axis=0) / np.ptp(_cardiac_per_point(healthy, t), axis=0)
    assert ratio.min() < 0.6  # the wall's own points
    assert ratio.max() > ratio.min() + 0.2  # regional, not global
    qs2 = lambda s: np.median([e.ac_s - e.qrs_onset_s for e in s.mechanical_events(2.0, 12.0)])  # noqa: E731
    assert qs2(mi) < qs2(healthy) - 0.015


def test_synthetic_subject_couplings_from_its_parameters():
    """A synthetic subject's coupling comes from its ElectricalParams: RBBB flag, ST
    depression (ischaemia), QT scale, and the net-QRS frontal axis from its VCG model."""
    presets = [("rbbb", "RBBB", ""), ("st-depression", "normal", "lateral"), ("healthy-rest", "normal", "")]
    # conditions of the re-parameterised population, where this tree has them
    presets += [(n, c, w) for n, c, w in (("lbbb", "LBBB", ""), ("infarct-inferior", "normal", "inferior"),
                                          ("infarct-anterior", "normal", "anterior")) if n in PRESETS]
    for preset, cond, wall in presets:
        params = PRESETS[preset].make(4)
        subj = VirtualSubject(params, 4)
        c = coupling_for(params, subj.electrical)
        assert c == subj.coupling
        assert (c.conduction, c.infarct_wall) == (cond, wall)
        assert -90.0 <= c.frontal_axis_deg <= 150.0 and c.frontal_axis_deg != 30.0
        assert 0.8 <= c.qt_ratio <= 1.25
        if cond != "normal":  # the wide QRS's part of QT is not counted twice
            assert c.qt_ratio < 1.08


SUITE = Path(__file__).parent / "data" / "ecg-suite"


@pytest.mark.skipif(not (SUITE / "mitdb100_1500s-1620s_360hz.hea").exists(), reason="real-record suite absent")
def test_recorded_ecg_drives_the_couplings_through_its_beats():
    """A real recording (MIT-BIH 100, annotated PVCs and PACs; a DICOM cart ECG stating its
    QRS axis) drives the mechanics through its beat events and stated facts only."""
    params = PRESETS["healthy-rest"].make(1)
    subj = VirtualSubject.from_recording(SUITE / "mitdb100_1500s-1620s_360hz.hea", params, 1)
    ev = subj.mechanical_events(0.0, 240.0)
    kinds = [e.kind for e in ev]
    assert "V" in kinds and "A" in kinds
    for i, e in enumerate(ev[1:-1], 1):
        if e.kind == "V":
            assert e.atrial_s is None and e.stroke_rel < 0.65
            if ev[i + 1].kind == "N":
                assert ev[i + 1].stroke_rel > 1.1
    dicom = SUITE / "dicom_mortara-el250_12lead_10s_1000hz.dcm"
    if dicom.exists():
        cart = VirtualSubject.from_recording(dicom, params, 1)
        axis = getattr(cart.electrical, "frontal_axis_deg", None)
        if axis is not None:
            assert cart.coupling.frontal_axis_deg == pytest.approx(axis)


def test_unknown_facts_leave_a_normal_heart():
    """A recording that states nothing (or NaN) about axis, conduction or infarct gives the
    standard layout and normal conduction, not an error."""
    subj = _subject(Source(np.full(10, 0.9), frontal_axis_deg=float("nan"), conduction=None))
    assert subj.coupling == ElectromechanicalCoupling()
    np.testing.assert_allclose(subj.cardiac_scale, [p.cardiac_scale for p in subj.params.chest])
    np.testing.assert_allclose(subj.cardiac_delay_s, [p.cardiac_delay_s for p in subj.params.chest], atol=1e-15)


def test_motion_never_reads_the_ecg_and_is_deterministic():
    """The couplings act through beats and subject facts only (``Source.ecg_mv`` raises),
    and a coupled subject is a pure function of (params, seed): same bytes, any chunking."""
    rr = np.array([0.8, 0.8, 0.5, 1.1, 0.8] * 8)
    kinds = ["N", "N", "V", "N", "N"] * 8
    src = Source(rr, kinds=kinds, conduction="LBBB", infarct_wall="anterior", frontal_axis_deg=80.0)
    t = np.arange(0.0, 30.0, 0.01)
    whole = _subject(src, seed=12).point_displacement_mm(t)
    subj = _subject(src, seed=12)
    parts = [subj.point_displacement_mm(c) for c in np.array_split(t, 17)[::-1]][::-1]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert not np.array_equal(_subject(src, seed=13).point_displacement_mm(t), whole)


def _figures():
    """The figures quoted in docs/simulator.md ("Couplings"): ``python tests/test_coupling.py``."""
    t = np.arange(0.0, 31.0, 1 / FS)
    for lvl in (0.0, 1.0):
        row = []
        for cond in ("normal", "RBBB", "LBBB"):
            m = _mech(Source(np.full(30, 1.0)), ElectromechanicalCoupling(conduction=cond), level=lvl)
            ev = m.events_between(0, 40)
            row.append(f"{cond}: split {np.median([(e.p2_s-e.ac_s)*1e3 for e in ev]):+.0f} ms, S2 centroid {np.median(_s2_centroid_ms(m, t, m.displacement_mm(t))):+.1f} ms")
        print(f"level {lvl}:", "; ".join(row))
    tt = np.arange(2.0, 16.0, 1 / FS)
    for cond in ("normal", "RBBB", "LBBB"):
        s = _subject(Source(np.full(20, 0.85), conduction=cond), seed=7)
        c = _cardiac_per_point(s, tt)
        lat = np.array([p.lateral_m for p in s.params.chest])
        a, b = c[:, np.argmax(lat)], c[:, np.argmin(lat)]
        xc = np.correlate(a - a.mean(), b - b.mean(), "full")
        print(f"{cond}: lateral-vs-medial point lag {(np.argmax(xc) - (tt.size - 1)) / FS * 1e3:+.0f} ms, delay spread {np.ptp(s.cardiac_delay_s)*1e3:.0f} ms")
    for axis in (-30.0, 30.0, 100.0):
        s = _subject(Source(np.full(14, 0.9), frontal_axis_deg=axis))
        amp = np.ptp(_cardiac_per_point(s, tt), axis=0)
        lat = np.array([p.lateral_m for p in s.params.chest]); cran = np.array([p.cranial_m for p in s.params.chest])
        print(f"axis {axis:+.0f}: apex {tuple(round(v*100,1) for v in s.coupling.apex_m((0.05,-0.05)))} cm, motion centre ({amp@lat/amp.sum()*100:.1f}, {amp@cran/amp.sum()*100:.1f}) cm")
    rr = np.array([1.0, 1.0, 1.0, 0.62, 1.38, 1.0, 1.0, 1.0]); kinds = ["N","N","N","V","N","N","N","N"]
    m = _mech(Source(rr, kinds=kinds)); ev = m.events_between(0, 20); tp = np.arange(0, 10, 1/FS)
    pk = _pulse_peaks(m, ev, tp, m.displacement_mm(tp))
    print("PVC pulse / normal %.2f, post-PVC / normal %.2f" % (pk[3]/pk[2], pk[4]/pk[2]))
    rng = np.random.default_rng(11); rr = rng.uniform(0.35, 1.1, 60); ta = np.arange(0, rr.sum()+1.5, 1/FS)
    for kind in ("N", "F"):
        m = _mech(Source(rr, kinds=[kind]*60)); ev = m.events_between(0, 1e3)
        pk = _pulse_peaks(m, ev, ta, m.displacement_mm(ta))
        print(f"{kind} beats RR 0.35-1.1 s: pulse CV {pk.std()/pk.mean():.2f}, corr(RR<0.55 s, pulse) {np.corrcoef(rr[rr<0.55], pk[rr<0.55])[0,1]:.2f}, mean {pk.mean():.3f} mm")
    for wall in ("anterior", "lateral", "inferior"):
        h = _subject(Source(np.full(14, 0.9)), seed=9); mi = _subject(Source(np.full(14, 0.9), infarct_wall=wall), seed=9)
        r = np.ptp(_cardiac_per_point(mi, tt[:10000]), axis=0) / np.ptp(_cardiac_per_point(h, tt[:10000]), axis=0)
        print(f"infarct {wall}: per-point motion ratio {r.min():.2f}..{r.max():.2f}")
    # Not observable: features that change the ECG but no coupling input.
    base = dataclasses.replace(PRESETS["healthy-rest"].make(21), movement=MovementParams(mild_per_h=0.0, extensive_per_h=0.0))
    ep = base.electrical
    tv = np.arange(0.0, 20.0, 0.002)
    ref = VirtualSubject(base, 21)
    d0, e0 = ref.point_displacement_mm(tv), ref.electrical.ecg_mv(tv)
    for name, fn in (("T polarity (T x -1)", lambda g: g.scaled(("T",), -1.0)),
                     ("P wave removed", lambda g: g.scaled(("P",), 0.0)),
                     ("QRS/T amplitudes x 0.5 (low voltage)", lambda g: g.scaled(("Q","R","S","T"), 0.5))):
        p2 = dataclasses.replace(base, electrical=dataclasses.replace(ep, vcg=ep.vcg.map(fn)))
        s2 = VirtualSubject(p2, 21)
        print(f"{name}: ECG max |change| {np.abs(s2.electrical.ecg_mv(tv)-e0).max():.2f} mV, chest motion max |change| {np.abs(s2.point_displacement_mm(tv)-d0).max():.2e} mm")


if __name__ == "__main__":
    _figures()
