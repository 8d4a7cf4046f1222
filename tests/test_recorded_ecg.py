"""Driving the subject with real recordings (tests/data/ecg, tests/data/ecg-suite): the
readers, the ground truth (recorded leads, NaN where none), the seamless loop, the beats."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

pytest.importorskip("neurokit2")  # R peaks of recordings (host extra)

from cardioradar.errors import InputDataError  # noqa: E402
from hardware_sim.subject.ecg import LEADS  # noqa: E402
from hardware_sim.subject.recorded import (  # noqa: E402
    EcgRecording, RecordedHeart, _remove_baseline, list_recordings, load_ecg_recording,
)

DATA = Path(__file__).parent / "data" / "ecg"
SUITE = Path(__file__).parent / "data" / "ecg-suite"
TWELVE = DATA / "ecg-plot_12lead_10s_500hz.csv"
GUDB = DATA / "gudb_subject10_sitting_250hz.tsv"
PLUX = DATA / "plux_ecg_5min_1000hz.npz"
STRIP = SUITE / "mitdb100_MLII_10s_360hz_rounded-time.csv"
MIT100 = SUITE / "mitdb100_1500s-1620s_360hz.hea"
DICOM = SUITE / "dicom_mortara-el250_12lead_10s_1000hz.dcm"
L = {n: i for i, n in enumerate(LEADS)}


def assert_identities(e):
    I, II = e[:, 0], e[:, 1]
    assert np.abs(e[:, L["III"]] - (II - I)).max() < 1e-12
    assert np.abs(e[:, L["aVR"]] + (I + II) / 2).max() < 1e-12
    assert np.abs(e[:, L["aVL"]] - (I - II / 2)).max() < 1e-12
    assert np.abs(e[:, L["aVF"]] - (II - I / 2)).max() < 1e-12


def loop_index(h, t):
    """Recording sample index of drive time t (away from the seam ramp)."""
    return int(round(h.loop_start_s * h.fs_hz)) + np.rint(np.mod(t, h.duration_s) * h.fs_hz).astype(int)


@pytest.fixture(scope="module")
def twelve():
    return RecordedHeart(load_ecg_recording(TWELVE, fs_hz=500.0))


@pytest.fixture(scope="module")
def gudb():
    return RecordedHeart(load_ecg_recording(GUDB))


@pytest.fixture(scope="module")
def plux():
    return RecordedHeart(load_ecg_recording(PLUX))


@pytest.fixture(scope="module")
def strip():
    return RecordedHeart(load_ecg_recording(STRIP))


# ---- truth: the recorded leads; heart vector: close to them -----------------------------
def test_twelve_lead_truth_is_the_recording_and_vcg_close(twelve):
    rec = twelve.recording
    assert rec.leads == LEADS and rec.fs_hz == 500.0 and twelve.truth_leads == LEADS
    assert 7 <= twelve.loop_r_peaks_s.size <= 12 and 7.0 < twelve.duration_s < 10.0
    t = np.arange(0.0, twelve.duration_s - 0.2, 1 / 500)  # one pass, seam ramp left out
    e = twelve.ecg_mv(t)
    assert_identities(e)
    ref = twelve.ecg_hp_mv[loop_index(twelve, t)]
    np.testing.assert_allclose(e[:, 6:], ref[:, 6:], atol=1e-9)  # precordial: as recorded
    assert np.abs(e[:, :6] - ref[:, :6]).max() < 0.02  # limb: from I, II (cart rounding)
    full = twelve.ecg_hp_mv
    for i, name in enumerate(LEADS):  # the heart vector's projection stays close
        assert np.corrcoef(full[:, i], twelve.leads12[:, i])[0, 1] > 0.9, name
        assert np.sqrt(np.mean((full[:, i] - twelve.leads12[:, i]) ** 2)) < 0.12, name
    assert np.isfinite(twelve.leads12_mv(t)).all() and set(twelve.derivation) == set(LEADS)


def test_gudb_limb_leads_exact_precordial_nan(gudb):
    rec = gudb.recording
    assert rec.leads == ("V2-V1", "II", "III") and rec.fs_hz == 250.0
    assert rec.duration_s == 120.0
    rr = np.diff(gudb.r_peaks_s)
    assert 50 < 60 / rr.mean() < 110 and gudb.r_peaks_s.size > 100
    assert np.all(rr > 0.4) and np.all(rr < 1.6)  # no missed or doubled beats
    t = np.arange(0, 100, 1 / 250)
    e = gudb.ecg_mv(t)
    assert gudb.truth_leads == LEADS[:6] and np.isnan(e[:, 6:]).all()
    assert_identities(e)
    i = loop_index(gudb, t)
    np.testing.assert_allclose(e[:, L["II"]], gudb.ecg_hp_mv[i, 1], atol=1e-9)
    np.testing.assert_allclose(e[:, L["III"]], gudb.ecg_hp_mv[i, 2], atol=1e-9)
    assert "exact" in gudb.derivation["aVL"] and "template" in gudb.derivation["V3"]
    assert np.abs(gudb.leads12_mv(t)[:, 6:]).max() < 6.0  # derived precordials physiologic


def test_plux_single_lead_truth_is_lead_ii_only(plux):
    marks_s = np.load(PLUX)["rpeaks"] / 1000.0
    d = np.array([np.min(np.abs(plux.r_peaks_s - m)) for m in marks_s])
    assert np.mean(d < 0.04) > 0.97  # marks lead the maximum by ~15 ms
    t = np.arange(0, 280, 1 / 500)
    e = plux.ecg_mv(t)
    assert plux.truth_leads == ("II",)
    assert np.isnan(np.delete(e, L["II"], axis=1)).all()
    np.testing.assert_allclose(e[:, L["II"]], plux.ecg_hp_mv[loop_index(plux, t), 0], atol=1e-9)
    assert "exact" in plux.derivation["II"] and "exact" not in plux.derivation["V1"]
    assert np.isfinite(plux.vcg_mv(t)).all()


def test_nan_leads_are_masked_by_the_scorer(strip):
    """Contract with host.metrics: a lead the truth lacks scores NaN, never 0 or 1."""
    from host import metrics

    t = np.arange(0, 10.24, 1 / 500)
    truth = strip.ecg_mv(t)
    recon = np.nan_to_num(truth) + 0.01 * np.sin(t)[:, None]
    pcc = metrics.window_pcc(recon, truth, 500.0)
    assert np.isnan(np.delete(pcc, L["II"], axis=1)).all() and (pcc[:, L["II"]] > 0.99).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of an all-NaN lead
        rmse = metrics.rmse_mv(recon, truth)
    assert np.isfinite(rmse[L["II"]]) and np.isnan(np.delete(rmse, L["II"])).all()


# ---- the loop: whole beats, no seam -------------------------------------------------------
def test_short_strip_loops_seamlessly_without_double_or_missing_beats(strip):
    h = strip
    n = h.loop_r_peaks_s.size
    assert h.recording.fs_hz == 360.0 and n >= 7
    passes = 6
    t = np.arange(0, passes * h.duration_s, 1 / 500)
    ii = h.ecg_mv(t)[:, L["II"]]
    beats = h.beats_between(0, passes * h.duration_s)
    assert len(beats) == passes * n and [b.index for b in beats] == list(range(passes * n))
    # every R found on the looped truth is one beat, and the other way round (the drive's
    # own detector: host.metrics' one-polarity detector misses this strip's PVC anywhere)
    found = RecordedHeart(EcgRecording(ii, 500.0, ("II",), "looped")).r_peaks_s
    r = np.array([b.r_time_s for b in beats])
    inner = r[(r > 0.5) & (r < t[-1] - 0.5)]
    assert all(np.min(np.abs(found - x)) < 0.03 for x in inner)
    assert all(np.min(np.abs(r - f)) < 0.03 for f in found if 0.5 < f < t[-1] - 0.5)
    # no step at the seams: the joint moves no more than the signal does sample to sample
    steps = np.abs(np.diff(h.ecg_hp_mv[:, 0]))
    for m in range(1, passes):
        k = int(round(m * h.duration_s * 500))
        assert np.abs(np.diff(ii[k - 3:k + 3])).max() < np.percentile(steps, 95)
    # exactly: the loop's last sample runs into its first as the recording runs on at the cut
    fs, i1 = h.fs_hz, int(round(h.loop_end_s * h.fs_hz))
    across = np.diff(h.ecg_mv(np.array([h.duration_s - 1 / fs, h.duration_s]))[:, L["II"]])
    assert across[0] == pytest.approx(h.ecg_hp_mv[i1, 0] - h.ecg_hp_mv[i1 - 1, 0], abs=1e-9)
    # the RR across the seam is a recorded-like RR, not a half or a double beat
    rr = np.diff(h.r_peaks_s)
    seam_rr = beats[n].rr_s
    assert 0.85 * rr.min() < seam_rr < 1.15 * rr.max()


def test_beats_loop_past_the_end(plux):
    d = plux.duration_s
    first = plux.beats_between(0, d)
    second = plux.beats_between(d, 2 * d)
    assert len(first) == len(second) == plux.loop_r_peaks_s.size
    assert second[0].index == first[-1].index + 1
    np.testing.assert_allclose([b.r_time_s - d for b in second], [b.r_time_s for b in first])
    assert 0.3 < second[0].rr_s < 2.0 and all(b.qrs_onset_s < b.r_time_s for b in second)
    t = np.array([1.234, 2.5])
    np.testing.assert_allclose(plux.ecg_mv(t + 3 * d), plux.ecg_mv(t), atol=1e-9)


# ---- rhythm beat by beat -------------------------------------------------------------------
@pytest.mark.parametrize("preset, rhythm, kinds", [
    ("af", "AF", {"F"}), ("brady", None, {"N"}), ("pvc", None, {"N"}), ("lbbb", None, {"N"})])
def test_each_beat_comes_with_its_own_rr(preset, rhythm, kinds):
    """A heart whose every true R is known (the simulator's own, as an in-memory recording):
    the drive hands on each beat with its RR, beat by beat, for AF (irregular), bradycardia,
    PVCs (premature, opposite QRS, then a pause) and a wide LBBB QRS."""
    from hardware_sim.record import make_subject

    src = make_subject(preset, 5).electrical
    t = np.arange(0, 30.0, 1 / 500)
    h = RecordedHeart(EcgRecording(src.ecg_mv(t), 500.0, LEADS, f"{preset}-sim", rhythm=rhythm))
    true = src.beats_between(0.0, 30.0)
    true_r = np.array([b.r_time_s for b in true])
    got = h.beats_between(0, h.duration_s)
    assert {b.kind for b in got} == kinds
    r_rec = np.array([b.r_time_s for b in got]) + h.loop_start_s  # back on the recording clock
    inside = true_r[(true_r > r_rec[0] - 0.1) & (true_r < r_rec[-1] + 0.1)]
    assert len(got) == len(inside)  # none missed, none doubled
    # a PVC's fiducial is its tallest deflection, up to ~60 ms from the model's nominal R
    pvc = np.array([true[i].kind == "V" for i in np.searchsorted(true_r, inside)])
    tol = np.where(pvc, 0.08, 0.03)
    assert np.all(np.abs(inside - r_rec) < tol)
    true_rr = np.diff(true_r)[np.searchsorted(true_r, inside[1:]) - 1]
    tol_rr = np.maximum(tol[1:], tol[:-1])
    assert np.all(np.abs(np.array([b.rr_s for b in got[1:]]) - true_rr) < tol_rr)
    if preset == "af":
        assert np.std(true_rr) / np.mean(true_rr) > 0.1  # really irregular
    if preset == "brady":
        assert np.median(true_rr) > 1.0
    if preset == "pvc":
        assert any(b.kind == "V" for b in true)


def test_annotated_pvc_and_pacs_drive_the_beats():
    h = RecordedHeart(load_ecg_recording(MIT100))
    assert h.recording.rhythm == "N" and h.recording.leads == ("II", "V5")
    beats = h.beats_between(0, h.duration_s)
    kinds = [b.kind for b in beats]
    assert kinds.count("V") == 1 and kinds.count("A") == 5  # as annotated
    v = kinds.index("V")
    med = np.median([b.rr_s for b in beats])
    assert beats[v].rr_s < 0.85 * med and beats[v + 1].rr_s > 1.15 * med  # premature, pause


def test_unannotated_beats_match_the_cardiologists_marks_pvc_included(strip):
    """Without annotations the R peaks come from the waveform; the PVC of the strip (its
    QRS points the other way) is found too, with its short RR and the pause after it."""
    ann = load_ecg_recording(MIT100)  # the same record; the strip is its 14-24 s
    marks = ann.beat_samples / ann.fs_hz - 14.0
    marks, kinds = marks[(marks > 0.2) & (marks < 9.8)], np.array(ann.beat_kinds)[
        (marks > 0.2) & (marks < 9.8)]
    got = strip.r_peaks_s
    assert len(got) == len(marks) and np.abs(got - marks).max() < 0.03
    v = int(np.flatnonzero(kinds == "V")[0])
    rr = np.diff(got)
    assert rr[v - 1] < 0.75 * np.median(rr) and rr[v] > 1.3 * np.median(rr)


# ---- readers -----------------------------------------------------------------------------
def test_rounded_time_column_is_accepted(tmp_path):
    assert STRIP.read_text().splitlines()[2] == "0.00277778,-0.230"
    rec = load_ecg_recording(STRIP)
    assert rec.fs_hz == 360.0 and rec.leads == ("II",) and rec.ecg_mv.shape == (3600, 1)
    t = np.arange(720) / 360.0
    x = np.sin(2 * np.pi * t)
    p = tmp_path / "ms.csv"  # times rounded to 1 ms at 360 Hz: 0.003, 0.006, 0.008, ...
    p.write_text("Time (ms);ECG II [uV]\n" + "".join(f"{round(a * 1000)};{b * 1000:.1f}\n"
                                                     for a, b in zip(t, x)))
    rec = load_ecg_recording(p)
    assert rec.fs_hz == 360.0 and rec.leads == ("II",)
    np.testing.assert_allclose(rec.ecg_mv[:, 0], x, atol=1e-4)


@pytest.mark.parametrize("fault, line, got", [
    ("gap", 102, "2.00 periods"), ("jitter", None, "periods"), ("backwards", 52, "after")])
def test_irregular_times_are_refused_naming_the_line(tmp_path, fault, line, got):
    t = np.arange(1000) / 250.0
    if fault == "gap":
        t = np.delete(t, 100)  # one sample missing: file line 102 (header is line 1)
    elif fault == "jitter":
        t = t + np.random.default_rng(0).uniform(-0.4, 0.4, t.size) / 250.0
    else:
        t[50] = t[48]
    p = tmp_path / f"{fault}.csv"
    np.savetxt(p, np.column_stack([t, np.sin(t)]), delimiter=",", header="time_s,I",
               comments="", fmt="%.6f")
    with pytest.raises(InputDataError) as e:
        load_ecg_recording(p)
    msg = str(e.value)
    assert f"{fault}.csv: column 'time_s', line " in msg and "expected" in msg and got in msg
    if line:
        assert f"line {line}:" in msg
    assert "\n" not in msg


def test_csv_with_time_column_and_subset(tmp_path):
    fs = 250.0
    t = np.arange(1000) / fs
    p = tmp_path / "two.csv"
    np.savetxt(p, np.column_stack([t, np.sin(t), np.cos(t)]), delimiter=",",
               header="time_s,aVF,I", comments="")
    rec = load_ecg_recording(p)
    assert rec.fs_hz == pytest.approx(fs) and rec.leads == ("aVF", "I")
    assert load_ecg_recording(p, leads=["I"]).leads == ("I",)


def test_dicom_twelve_lead_waveform():
    pytest.importorskip("pydicom")
    rec = load_ecg_recording(DICOM)
    assert rec.leads == LEADS and rec.fs_hz == 1000.0 and rec.ecg_mv.shape == (10000, 12)
    assert 0.3 < np.ptp(rec.ecg_mv[:, L["II"]]) < 4.0  # uV scaled to mV
    h = RecordedHeart(rec)
    # the cart's own measurement in the file: RR interval 982 ms
    assert abs(np.median(np.diff(h.r_peaks_s)) - 0.982) < 0.02
    assert_identities(h.ecg_mv(np.arange(0, 5, 1 / 500)))
    assert rec.rhythm == "RITMO SINUSALE; ECG NORMALE"  # the cart's statements
    assert rec.measurements["QRS Axis (deg)"] == 52.0 and h.frontal_axis_deg == 52.0
    # ... which the heart-mechanics coupling takes (apex position follows the axis)
    from hardware_sim.subject import VirtualSubject
    from hardware_sim.subject.params import PRESETS

    subj = VirtualSubject.from_recording(rec, PRESETS["healthy-rest"].make(1), 1)
    assert subj.coupling.frontal_axis_deg == 52.0
    # without the cart's statement, the waveform's own axis and QRS come close to it
    bare = RecordedHeart(EcgRecording(rec.ecg_mv, rec.fs_hz, rec.leads, "bare"))
    assert abs(bare.frontal_axis_deg - 52.0) < 10 and abs(bare.qrs_ms - 75.0) < 10
    assert "median beat" in bare.axis_source


def test_wfdb_and_edf_round_trip(tmp_path):
    import pyedflib
    import wfdb

    src = load_ecg_recording(TWELVE, fs_hz=500.0)
    sig = src.ecg_mv[:4000, :3]
    wfdb.wrsamp("rec", fs=500, units=["mV"] * 3, sig_name=["I", "II", "V2"], p_signal=sig,
                fmt=["16"] * 3, write_dir=str(tmp_path))
    w = load_ecg_recording(tmp_path / "rec.hea")
    assert w.leads == ("I", "II", "V2") and w.fs_hz == 500.0 and w.beat_samples is None
    np.testing.assert_allclose(w.ecg_mv, sig, atol=0.01)
    edf = tmp_path / "rec.edf"
    hdrs = [{"label": n, "dimension": "mV", "sample_frequency": 500, "physical_max": 5,
             "physical_min": -5, "digital_max": 32767, "digital_min": -32768}
            for n in ("I", "II", "V2")]
    with pyedflib.EdfWriter(str(edf), 3, file_type=pyedflib.FILETYPE_EDFPLUS) as f:
        f.setSignalHeaders(hdrs)
        f.writeSamples([np.ascontiguousarray(sig[:, i]) for i in range(3)])
    e = load_ecg_recording(edf)
    assert e.leads == ("I", "II", "V2") and e.fs_hz == 500.0
    np.testing.assert_allclose(e.ecg_mv[:4000], sig, atol=0.01)
    # three standard leads pin down the VCG: its projection reproduces them exactly
    h = RecordedHeart(e)
    assert_identities(h.leads12)
    np.testing.assert_allclose(h.leads12[:, L["V2"]], h.ecg_hp_mv[:, 2], atol=1e-9)
    assert h.truth_leads == LEADS[:6] + ("V2",)


def test_in_memory_recording_is_checked():
    x = np.zeros((1000, 2))
    with pytest.raises(InputDataError, match=r"gen-7: ecg_mv: expected shape \(n, 3\)"):
        EcgRecording(x, 500.0, ("I", "II", "V1"), "gen-7")
    with pytest.raises(InputDataError, match="gen-7: fs_hz: expected 100-1000 Hz, got 50 Hz"):
        RecordedHeart(EcgRecording(x, 50.0, ("I", "II"), "gen-7"))
    x[700, 1] = np.nan
    with pytest.raises(InputDataError, match="gen-7: lead II, sample 700: expected finite"):
        EcgRecording(x, 500.0, ("I", "II"), "gen-7")


def test_errors_name_file_column_line_expected_got(tmp_path):
    with pytest.raises(InputDataError, match="time_s.*fs_hz argument"):
        load_ecg_recording(TWELVE)
    bad = tmp_path / "bad.csv"
    bad.write_text("I,V7\n0.1,0.2\n0.2,0.3\n")
    with pytest.raises(InputDataError, match=r"bad\.csv.*'V7'.*expected"):
        load_ecg_recording(bad, fs_hz=100)
    cell = tmp_path / "cell.csv"
    cell.write_text("time_s,II\n" + "".join(f"{i / 200:.3f},0.1\n" for i in range(3))
                    + "0.015,abc\n")
    with pytest.raises(InputDataError, match=r"cell\.csv: column 'II', line 5: expected a number, "
                                             r"got 'abc'"):
        load_ecg_recording(cell)
    short = tmp_path / "short.csv"
    short.write_text("time_s,II,V1\n0.000,0.1,0.2\n0.005,0.1\n")
    with pytest.raises(InputDataError, match=r"short\.csv: line 3: expected 3 columns"):
        load_ecg_recording(short)
    slow = tmp_path / "slow.csv"
    slow.write_text("time_s,II\n" + "".join(f"{i / 50:.3f},0.1\n" for i in range(200)))
    with pytest.raises(InputDataError, match=r"slow\.csv: fs_hz: expected 100-1000 Hz, got 50 Hz"):
        RecordedHeart(load_ecg_recording(slow))  # readable (e.g. as a reference), not a drive
    npz = tmp_path / "x.npz"
    np.savez(npz, signal=np.zeros(10))
    with pytest.raises(InputDataError, match="'ecg_mv'"):
        load_ecg_recording(npz)
    with pytest.raises(InputDataError, match="not found"):
        load_ecg_recording(tmp_path / "nope.csv")
    with pytest.raises(InputDataError, match="fs_hz"):
        load_ecg_recording(PLUX, fs_hz=500.0)
    with pytest.raises(InputDataError, match="missing"):
        load_ecg_recording(GUDB, leads=["I"])
    flat = EcgRecording(np.zeros((5000, 1)), 500.0, ("II",), "flat")
    with pytest.raises(InputDataError, match="flat: R peaks: expected at least 4"):
        RecordedHeart(flat)


# ---- the validation suite ------------------------------------------------------------------
def test_suite_lists_loads_and_states_its_rhythms():
    pytest.importorskip("pydicom")
    manifest = {k: v for k, v in json.loads((SUITE / "recordings.json").read_text()).items()
                if not k.startswith("_")}
    files = [p.name for p in list_recordings(SUITE)]
    assert sorted(files) == sorted(manifest)
    attribution = (SUITE / "ATTRIBUTION.md").read_text()
    for name, info in manifest.items():
        rec = load_ecg_recording(SUITE / name)
        assert list(rec.leads) == info["leads"] and rec.fs_hz == info["fs_hz"], name
        assert name in attribution and info["rhythm"] and info["rhythm_source"], name
        assert rec.ecg_mv.nbytes > 0 and (SUITE / name).stat().st_size < 2 * 2**20
        assert rec.rhythm == info.get("stated_rhythm"), name


def test_drive_from_memory_and_file_agree(tmp_path):
    """``DriveEcg(recording=...)`` (arrays, e.g. from a generator) runs like the file."""
    from hardware_sim.record import DriveEcg, record_session

    rec = load_ecg_recording(STRIP)
    record_session(tmp_path / "f", 2.0, DriveEcg(STRIP), seed=3, mode="fast")
    record_session(tmp_path / "m", 2.0, DriveEcg(recording=rec), seed=3, mode="fast")
    a, b = np.load(tmp_path / "f" / "truth.npz"), np.load(tmp_path / "m" / "truth.npz")
    assert (tmp_path / "f" / "frames.bin").read_bytes() == (tmp_path / "m" / "frames.bin").read_bytes()
    np.testing.assert_array_equal(a["ecg_mv"], b["ecg_mv"])
    assert np.isfinite(a["ecg_mv"][:, L["II"]]).all() and np.isnan(a["ecg_mv"][:, L["V1"]]).all()
    assert len(a["r_peaks_s"]) >= 2 and np.array_equal(a["r_peaks_s"], b["r_peaks_s"])
    base = _remove_baseline(rec.ecg_mv, 360.0)
    assert np.nanmax(np.abs(a["ecg_mv"][:, L["II"]])) <= np.abs(base).max() + 0.01


def test_sim_record_drive_ecg_as_the_docs_say(tmp_path, capsys):
    """docs/simulator.md: `cardioradar sim record ... --drive-ecg <rounded-time CSV>`."""
    from cardioradar.cli import main

    out = tmp_path / "rec"
    assert main(["sim", "record", "--seconds", "3", "--out", str(out), "--mode", "fast",
                 "--drive-ecg", str(STRIP)]) == 0
    truth = np.load(out / "truth.npz")
    assert np.isfinite(truth["ecg_mv"][:, L["II"]]).all()
    assert np.isnan(np.delete(truth["ecg_mv"], L["II"], axis=1)).all()
    assert len(truth["r_peaks_s"]) >= 3
    bad = tmp_path / "bad.csv"
    bad.write_text("time_s,II\n0.000,0.1\n0.005,abc\n")
    assert main(["sim", "record", "--seconds", "1", "--out", str(tmp_path / "x"), "--mode", "fast",
                 "--drive-ecg", str(bad)]) == 3
    err = capsys.readouterr().err
    assert "bad.csv: column 'II', line 3: expected a number, got 'abc'" in err


def _assert_an_ecg_or_one_input_error(p, fs_hz) -> None:
    try:
        rec = load_ecg_recording(p, fs_hz=fs_hz)
    except InputDataError as e:
        assert str(e).startswith(str(p)) and "\n" not in str(e)
    else:
        assert np.isfinite(rec.ecg_mv).all() and rec.ecg_mv.shape[1] == len(rec.leads)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet="0123456789.,-;:\t \neE#'\"IVabtime_sn", max_size=300),
       st.sampled_from([None, 250.0]))
def test_any_text_is_an_ecg_or_one_input_error(tmp_path, text, fs):
    """Whatever a text file holds, the reader returns a recording or raises InputDataError
    with a one-line message naming the file; nothing else escapes."""
    p = tmp_path / "fuzz.csv"
    p.write_text(text)
    _assert_an_ecg_or_one_input_error(p, fs)


_NUM = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5000))
_CELL = st.one_of(_NUM, _NUM, _NUM, _NUM, st.sampled_from(["", "abc", "1:02.5", "'0.1'", "nan"]))


@st.composite
def _tables(draw):
    header = draw(st.lists(st.sampled_from(["time_s", "Time (ms)", "II", "'MLII'", "V1", "aVF",
                                            "x", "sample #"]), min_size=1, max_size=4))
    k = len(header) + draw(st.sampled_from([0, 0, 0, 1, -1]))
    rows = draw(st.lists(st.lists(_CELL, min_size=max(k, 1), max_size=max(k, 1)), max_size=12))
    return header, rows


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_tables(), st.sampled_from([",", ";", "\t"]))
@example((["time_s", "II"], [[float("nan"), 1.0], [0.004, 2.0], [0.008, 1.0]]), ",")
def test_any_table_is_an_ecg_or_one_input_error(tmp_path, table, sep):
    header, rows = table
    p = tmp_path / "table.csv"
    p.write_text(sep.join(header) + "\n" + "".join(sep.join(map(str, r)) + "\n" for r in rows))
    _assert_an_ecg_or_one_input_error(p, None)


def test_clock_times_with_a_units_row(tmp_path):
    """An export with a units row and m:ss.fff times rounded to 1 ms (at 360 Hz)."""
    t = np.arange(1080) / 360.0
    lines = ["'Elapsed time','MLII','V5'", "'hh:mm:ss.mmm','mV','uV'"]
    lines += [f"'{int(a // 60)}:{a % 60:06.3f}',{np.sin(a):.3f},{1000 * np.cos(a):.0f}" for a in t]
    p = tmp_path / "export.csv"
    p.write_text("\n".join(lines) + "\n")
    rec = load_ecg_recording(p)
    assert rec.fs_hz == 360.0 and rec.leads == ("II", "V5")
    np.testing.assert_allclose(rec.ecg_mv[:, 1], np.cos(t), atol=1e-3)  # uV -> mV
    adu = tmp_path / "adu.csv"
    adu.write_text("time_s,II (adu)\n" + "".join(f"{a:.4f},{int(200 * np.sin(a))}\n" for a in t))
    with pytest.raises(InputDataError, match=r"adu\.csv: column 'II \(adu\)' units: expected one of"):
        load_ecg_recording(adu)
    assert load_ecg_recording(adu, units="uV").ecg_mv.max() == pytest.approx(0.199, abs=1e-3)
