"""Synthetic heart: 12-lead identities, intervals measured on the generated ECG,
condition signatures, determinism."""

import json
from dataclasses import asdict, replace

import numpy as np
import pytest

from cardioradar.errors import ConfigError
from hardware_sim.subject.ecg import (
    DOWER, INVERSE_DOWER, LEADS, NORMAL_VCG, _quiet_from, leads_to_vcg, rate_scaled, vcg_from_phase,
    vcg_to_leads,
)
from hardware_sim.subject.electrical import CONDITIONS, ElectricalParams, SyntheticHeart

FS = 1000.0
L = {n: i for i, n in enumerate(LEADS)}


class StandInBreathing:
    """Tiny respiration stand-in: 0.2 Hz, phase 0 at end-exhale."""

    def resp_phase_rad(self, t_s):
        return 2 * np.pi * 0.2 * np.asarray(t_s, dtype=float)

    def resp_level(self, t_s):
        return 0.5 - 0.5 * np.cos(self.resp_phase_rad(t_s))


def make(condition="sinus", seed=0, hr=None, resp=None):
    p = ElectricalParams.draw(np.random.default_rng(seed), condition, hr_bpm=hr)
    return p, SyntheticHeart(p, seed, resp)


def _quiet_edge(x, start, step, thr):
    """Index where x stays below thr for 8 samples, walking from start by step (ecg.py's walk)."""
    return _quiet_from(x, start, step, thr, run=8)


def measure(heart, beat):
    """PR, QRS, QT (ms) of one beat from the VCG (spatial velocity for QRS, magnitude
    around the isoelectric PR level for P onset and T end)."""
    t = np.arange(beat.r_time_s - 0.7 * beat.rr_s, beat.r_time_s + 0.9 * beat.rr_s, 1 / FS)
    v = heart.vcg_mv(t)
    r = int(round(0.7 * beat.rr_s * FS))
    sv = np.linalg.norm(np.gradient(v, axis=0), axis=1) * FS  # mV/s
    thr = 0.06 * sv[r - 60:r + 60].max()
    on, off = _quiet_edge(sv, r, -1, thr), _quiet_edge(sv, r, +1, thr)
    pw = slice(max(r - int(0.45 * beat.rr_s * FS), 0), on - 15)
    ppk = pw.start + int(np.argmax(sv[pw]))  # steepest point of the P wave
    pon = _quiet_edge(sv, ppk, -1, 0.1 * sv[ppk])
    iso = v[pon]  # TP level just before the P wave
    m = np.linalg.norm(v - iso, axis=1)
    tw = slice(off + 40, r + int(0.7 * beat.rr_s * FS))
    tpk = tw.start + int(np.argmax(m[tw]))
    tend = tpk + int(np.argmax(m[tpk:] < 0.1 * m[tpk]))
    return dict(pr=on - pon, qrs=off - on, qt=tend - on, on=on, off=off, r=r,
                t=t, v=v, iso=iso)


def test_lead_identities_exact():
    vcg = np.random.default_rng(1).normal(size=(500, 3))
    e = vcg_to_leads(vcg)
    I, II = e[:, 0], e[:, 1]
    np.testing.assert_allclose(e[:, L["III"]], II - I, atol=1e-12)
    np.testing.assert_allclose(e[:, L["aVR"]], -(I + II) / 2, atol=1e-12)
    np.testing.assert_allclose(e[:, L["aVL"]], I - II / 2, atol=1e-12)
    np.testing.assert_allclose(e[:, L["aVF"]], II - I / 2, atol=1e-12)
    # inverse Dower is the pseudo-inverse to three decimals
    np.testing.assert_allclose(INVERSE_DOWER @ DOWER, np.eye(3), atol=6e-3)
    np.testing.assert_allclose(leads_to_vcg(e), vcg, atol=0.02)
    with pytest.raises(ValueError):
        vcg_to_leads(np.zeros((4, 2)))


def test_normal_template_is_a_physiologic_12_lead():
    th = np.linspace(-np.pi, np.pi, 4000)
    v = np.stack([vcg_from_phase(th, *rate_scaled(g, 60.0)) for g in NORMAL_VCG.axes()], 1)
    e = vcg_to_leads(v)
    assert 0.6 < e[:, L["I"]].max() < 1.0 and 0.6 < e[:, L["II"]].max() < 1.0
    qrs = np.abs(th) < 0.3
    assert e[qrs, L["V1"]].min() < -0.6 and e[qrs, L["V1"]].max() < 0.6 * -e[qrs, L["V1"]].min()
    assert 1.4 < e[:, L["V4"]].max() < 1.9
    assert e[:, L["aVR"]].min() < -0.4 and e[:, L["aVR"]].max() < 0.1
    t_wave = th > 0.8
    for lead in ("I", "II", "V2", "V3", "V4", "V5", "V6"):
        assert 0.15 < e[t_wave, L[lead]].max() < 1.4, lead


@pytest.mark.parametrize("hr", [48.0, 62.0, 78.0, 95.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_sinus_rate_and_intervals_measured(hr, seed):
    p, h = make("sinus", seed, hr=hr if hr >= 55 else None) if hr >= 55 else make("brady", seed, hr)
    beats = h.beats_between(0.0, 60.0)
    rr = np.array([b.rr_s for b in beats])
    assert abs(60.0 / rr.mean() - hr) < 0.03 * hr
    e = h.ecg_mv(np.arange(0, 20, 1 / 500))
    assert np.abs(e[:, L["III"]] - (e[:, L["II"]] - e[:, L["I"]])).max() < 1e-12
    for b in beats[3:9]:
        m = measure(h, b)
        qtc = m["qt"] / np.sqrt(b.rr_s)
        assert 120 <= m["pr"] <= 200, m["pr"]
        assert 60 <= m["qrs"] <= 110, m["qrs"]
        assert 388 <= qtc <= 460, qtc
        # the beat's own onset estimate agrees with the measured onset
        assert abs((b.r_time_s - b.qrs_onset_s) * FS - (m["r"] - m["on"])) < 20


def test_tachy_and_brady_ranges():
    p, h = make("tachy", 3)
    assert p.hr_bpm > 100
    b = h.beats_between(0, 60)
    assert 60 / np.mean([x.rr_s for x in b]) > 100
    m = measure(h, b[5])
    assert m["qrs"] <= 110 and 120 <= m["pr"] <= 200
    p, h = make("brady", 3)
    assert p.hr_bpm < 60 and 60 / np.mean([x.rr_s for x in h.beats_between(0, 60)]) < 60
    with pytest.raises(ConfigError, match="hr_bpm"):
        ElectricalParams.draw(np.random.default_rng(0), "brady", hr_bpm=80)
    with pytest.raises(ConfigError, match="condition"):
        ElectricalParams.draw(np.random.default_rng(0), "vfib")


def test_rbbb_wide_qrs_and_terminal_r_prime_in_v1():
    p, h = make("rbbb", 2, hr=70)
    assert p.rbbb
    for b in h.beats_between(2, 8):
        m = measure(h, b)
        assert m["qrs"] >= 120, m["qrs"]
        v1 = vcg_to_leads(m["v"])[m["on"]:m["off"], L["V1"]]
        s_idx = int(np.argmin(v1))
        assert v1[s_idx:].max() - max(v1[-1], 0) > 0.1  # R' after the S
        i_lead = vcg_to_leads(m["v"])[m["r"]:m["off"], L["I"]]
        assert i_lead.min() < -0.1  # terminal S in I


def _st_and_t(h, b):
    m = measure(h, b)
    e = vcg_to_leads(m["v"]) - vcg_to_leads(m["iso"][None])
    st = e[m["off"] + 60]
    t_win = e[m["off"] + 60:m["r"] + int(0.6 * b.rr_s * FS)]
    return st, t_win


def test_st_depression_two_contiguous_leads():
    p, h = make("st_depression", 4, hr=70)
    _, normal = make("sinus", 4, hr=70)
    assert p.st_depression_mv < 0
    for b in h.beats_between(2, 6):
        st, _ = _st_and_t(h, b)
        assert st[L["V5"]] <= -0.05 and st[L["V6"]] <= -0.05, st
    st_n, _ = _st_and_t(normal, normal.beats_between(2, 6)[0])
    assert st_n[L["V5"]] > -0.05  # the normal subject has no depression


def test_t_inversion():
    p, h = make("t_inversion", 5, hr=70)
    assert p.t_wave_factor < 0
    for b in h.beats_between(2, 6):
        _, tw = _st_and_t(h, b)
        assert tw[:, L["V4"]].min() <= -0.1 and tw[:, L["V5"]].min() <= -0.1
        assert tw[:, L["V4"]].max() < 0.05


def test_pvc_wide_no_p_discordant_t_compensatory_pause():
    p, h = make("pvc", 6, hr=70)
    beats = h.beats_between(0, 120)
    kinds = [b.kind for b in beats]
    assert 0.1 < kinds.count("V") / len(kinds) < 0.35
    checked = 0
    for i, b in enumerate(beats[1:-1], start=1):
        if i < 2 or i + 2 >= len(beats) or any(
                beats[j].kind != "N" for j in (i - 2, i - 1, i + 1, i + 2)) or b.kind != "V":
            continue
        sinus_rr = (beats[i - 1].rr_s + beats[i + 2].rr_s) / 2  # local sinus interval
        assert b.rr_s < 0.8 * sinus_rr  # early
        # full compensatory pause (exact against the sinus clock in test_subject_rhythm;
        # here the local sinus RR is only estimated, HRV moves it by up to ~15 %)
        assert abs((b.rr_s + beats[i + 1].rr_s) / (2 * sinus_rr) - 1) < 0.2
        m = measure(h, b)
        assert m["qrs"] >= 120, m["qrs"]
        checked += 1
    assert checked >= 3
    # discordant T: the ectopic T points against its QRS (largest-lobe sign per axis)
    for g in p.pvc_vcg.axes():
        qrs = [a for a, w in zip(g.alpha_mv, g.wave) if w in "QRS"]
        t = [a for a, w in zip(g.alpha_mv, g.wave) if w == "T"]
        p_amp = [a for a, w in zip(g.alpha_mv, g.wave) if w == "P"]
        assert np.sign(sum(qrs)) != np.sign(sum(t)) or abs(sum(qrs)) < 0.05
        assert all(a == 0 for a in p_amp)


def test_pac_early_normal_qrs_changed_p():
    p, h = make("pac", 7, hr=70)
    beats = h.beats_between(0, 120)
    pacs = [b for b in beats[5:-1] if b.kind == "A"]
    assert len(pacs) >= 5
    normal = next(b for b in beats[5:] if b.kind == "N")
    mn = measure(h, normal)
    pw_n = vcg_to_leads(mn["v"])[mn["on"] - 140:mn["on"] - 10, L["II"]]
    for b in pacs[:4]:
        prev = beats[b.index - beats[0].index - 1]
        assert b.rr_s < 0.85 * prev.rr_s
        m = measure(h, b)
        assert m["qrs"] <= 110
        e = vcg_to_leads(m["v"])
        # P wave in II: upright in the sinus beat, inverted in the PAC
        pw = e[m["on"] - 140:m["on"] - 10, L["II"]]
        assert pw_n.max() > 0.02 and pw_n.min() > -0.01 and pw.min() < -0.02


def test_af_irregular_no_p_fwaves_in_band():
    p, h = make("af", 8, hr=85)
    beats = h.beats_between(0, 120)
    rr = np.array([b.rr_s for b in beats])
    assert all(b.kind == "F" for b in beats)
    assert rr.std() / rr.mean() > 0.12
    assert abs(np.corrcoef(rr[:-1], rr[1:])[0, 1]) < 0.3  # irregularly irregular
    assert all(0.015 <= r <= 0.07 for r in p.af_f_rms_mv)
    # f-waves alone (beats' Gaussians removed) per VCG axis: RMS and band
    t = np.arange(0, 30, 1 / FS)
    f = h._f_waves(t)
    rms = np.sqrt(np.mean(f ** 2, axis=0))
    np.testing.assert_allclose(rms, p.af_f_rms_mv, rtol=0.25)
    spec = np.abs(np.fft.rfft(f[:, 0])) ** 2
    freqs = np.fft.rfftfreq(t.size, 1 / FS)
    band = (freqs >= 3.5) & (freqs <= 8.8)
    assert spec[band].sum() > 0.95 * spec.sum()
    # no P: before each QRS the raw beat model is flat (only f-waves)
    assert all(a == 0 for g in h._morph["F"].axes() for a, w in zip(g.alpha_mv, g.wave)
               if w == "P")
    # and the generated ECG carries them: AF heart minus the same heart without f-waves
    quiet = SyntheticHeart(replace(p, af_f_rms_mv=(0.0, 0.0, 0.0)), 8)
    diff = h.ecg_mv(t)[:, L["V1"]] - quiet.ecg_mv(t)[:, L["V1"]]
    spec = np.abs(np.fft.rfft(diff)) ** 2
    assert spec[band].sum() > 0.95 * spec.sum()
    assert 0.01 < np.sqrt(np.mean(diff ** 2)) < 0.15


def test_same_seed_same_bytes_and_chunked_equals_whole():
    p, h1 = make("pvc", 11)
    h2 = SyntheticHeart(p, 11)
    t = np.arange(0, 40, 1 / 500)
    whole = h1.ecg_mv(t)
    # a fresh heart asked in reverse chunk order gives identical values
    parts = [None] * 8
    for i in reversed(range(8)):
        parts[i] = h2.ecg_mv(t[i * 2500:(i + 1) * 2500])
    assert np.array_equal(whole, np.concatenate(parts))
    assert h1.beats_between(0, 40) == h2.beats_between(0, 40)
    _, h3 = make("pvc", 12)
    assert not np.array_equal(whole, h3.ecg_mv(t))


def test_params_json_round_trip_and_draw_respects_settings():
    for cond in CONDITIONS:
        p = ElectricalParams.draw(np.random.default_rng(3), cond, sex="F")
        back = ElectricalParams.from_dict(json.loads(json.dumps(asdict(p))))
        assert back == p
        assert max(p.resp_rotation_rad[0], 0) <= 0.2 and p.resp_rotation_rad[1] <= 0.16
        assert p.resp_rotation_rad[2] <= 0.14 and 0.0 < p.resp_translation_frac <= 0.07


def test_continuity_and_breathing_modulation():
    _, h = make("sinus", 13, resp=StandInBreathing())
    t = np.arange(0, 30, 1 / 2000)
    e = h.ecg_mv(t)
    assert np.abs(np.diff(e, axis=0)).max() < 0.2  # no jumps at beat boundaries (0.5 ms step)
    r_amp = []
    for b in h.beats_between(1, 29):
        i = int(b.r_time_s * 2000)
        r_amp.append(e[i - 40:i + 40, L["II"]].max())
    level = StandInBreathing().resp_level(np.array([b.r_time_s for b in h.beats_between(1, 29)]))
    assert abs(np.corrcoef(r_amp, level)[0, 1]) > 0.3  # respiration modulates the R amplitude
