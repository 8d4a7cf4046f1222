"""Driving the subject with real recordings (tests/data/ecg) and the ECG loaders."""

from pathlib import Path

import numpy as np
import pytest

from cardioradar.errors import InputDataError
from hardware_sim.subject.ecg import LEADS
from hardware_sim.subject.recorded import (
    EcgRecording, RecordedHeart, _remove_baseline, load_ecg_recording,
)

DATA = Path(__file__).parent / "data" / "ecg"
TWELVE = DATA / "ecg-plot_12lead_10s_500hz.csv"
GUDB = DATA / "gudb_subject10_sitting_250hz.tsv"
PLUX = DATA / "plux_ecg_5min_1000hz.npz"
L = {n: i for i, n in enumerate(LEADS)}


def assert_identities(e):
    I, II = e[:, 0], e[:, 1]
    assert np.abs(e[:, L["III"]] - (II - I)).max() < 1e-12
    assert np.abs(e[:, L["aVR"]] + (I + II) / 2).max() < 1e-12
    assert np.abs(e[:, L["aVL"]] - (I - II / 2)).max() < 1e-12
    assert np.abs(e[:, L["aVF"]] - (II - I / 2)).max() < 1e-12


@pytest.fixture(scope="module")
def twelve():
    return RecordedHeart(load_ecg_recording(TWELVE, fs_hz=500.0))


@pytest.fixture(scope="module")
def gudb():
    return RecordedHeart(load_ecg_recording(GUDB))


@pytest.fixture(scope="module")
def plux():
    return RecordedHeart(load_ecg_recording(PLUX))


def test_twelve_lead_csv_reprojected_close_and_exact(twelve):
    rec = twelve.recording
    assert rec.leads == LEADS and rec.fs_hz == 500.0 and twelve.duration_s == 10.0
    assert 9 <= twelve.r_peaks_s.size <= 14  # about 70 bpm
    e = twelve.ecg_mv(np.arange(0, 10, 1 / 500))
    assert_identities(e)
    ref = _remove_baseline(rec.ecg_mv, 500.0)
    for i, name in enumerate(LEADS):
        assert np.corrcoef(ref[:, i], e[:, i])[0, 1] > 0.9, name
        assert np.sqrt(np.mean((ref[:, i] - e[:, i]) ** 2)) < 0.12, name
    assert set(twelve.derivation) == set(LEADS)


def test_gudb_limb_leads_exact_precordial_derived(gudb):
    rec = gudb.recording
    assert rec.leads == ("V2-V1", "II", "III") and rec.fs_hz == 250.0
    assert rec.duration_s == 120.0
    hr = 60 / np.diff(gudb.r_peaks_s).mean()
    assert 50 < hr < 110 and gudb.r_peaks_s.size > 100
    rr = np.diff(gudb.r_peaks_s)
    assert np.all(rr > 0.4) and np.all(rr < 1.6)  # no missed or doubled beats
    t = np.arange(0, 120, 1 / 250)
    e = gudb.ecg_mv(t)
    assert_identities(e)
    hp = gudb.ecg_hp_mv
    np.testing.assert_allclose(e[:, L["II"]], hp[:, 1], atol=1e-9)
    np.testing.assert_allclose(e[:, L["III"]], hp[:, 2], atol=1e-9)
    assert "exact" in gudb.derivation["aVL"] and "template" in gudb.derivation["V3"]
    assert np.abs(e[:, 6:]).max() < 6.0  # precordial leads of physiologic size


def test_plux_single_lead_peaks_match_the_recorders_marks(plux):
    marks_s = np.load(PLUX)["rpeaks"] / 1000.0
    d = np.array([np.min(np.abs(plux.r_peaks_s - m)) for m in marks_s])
    assert np.mean(d < 0.04) > 0.97  # marks lead the maximum by ~15 ms
    e = plux.ecg_mv(np.arange(0, 300, 1 / 500))
    assert_identities(e)
    np.testing.assert_allclose(e[:, L["II"]], plux.ecg_hp_mv[::2, 0], atol=1e-9)
    assert "exact" in plux.derivation["II"] and "exact" not in plux.derivation["V1"]


def test_beats_loop_past_the_end(plux):
    d = plux.duration_s
    first = plux.beats_between(0, d)
    second = plux.beats_between(d, 2 * d)
    assert len(first) == len(second) == plux.r_peaks_s.size
    assert second[0].index == first[-1].index + 1
    np.testing.assert_allclose([b.r_time_s - d for b in second], [b.r_time_s for b in first])
    assert 0.3 < second[0].rr_s < 2.0 and all(b.qrs_onset_s < b.r_time_s for b in second)
    t = np.array([1.234, 2.5])
    np.testing.assert_allclose(plux.ecg_mv(t + 3 * d), plux.ecg_mv(t), atol=1e-9)


def test_csv_with_time_column_and_subset(tmp_path):
    fs = 250.0
    t = np.arange(500) / fs
    p = tmp_path / "two.csv"
    np.savetxt(p, np.column_stack([t, np.sin(t), np.cos(t)]), delimiter=",",
               header="time_s,aVF,I", comments="")
    rec = load_ecg_recording(p)
    assert rec.fs_hz == pytest.approx(fs) and rec.leads == ("aVF", "I")
    assert load_ecg_recording(p, leads=["I"]).leads == ("I",)


def test_wfdb_and_edf_round_trip(tmp_path):
    import pyedflib
    import wfdb

    src = load_ecg_recording(TWELVE, fs_hz=500.0)
    sig = src.ecg_mv[:2000, :3]
    wfdb.wrsamp("rec", fs=500, units=["mV"] * 3, sig_name=["I", "II", "V2"], p_signal=sig,
                fmt=["16"] * 3, write_dir=str(tmp_path))
    w = load_ecg_recording(tmp_path / "rec.hea")
    assert w.leads == ("I", "II", "V2") and w.fs_hz == 500.0
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
    np.testing.assert_allclose(e.ecg_mv[:2000], sig, atol=0.01)
    # three standard leads pin down the VCG: reproduced exactly after re-projection
    h = RecordedHeart(e)
    out = h.ecg_mv(np.arange(0, 4, 1 / 500))
    assert_identities(out)
    np.testing.assert_allclose(out[:, L["V2"]], h.ecg_hp_mv[:, 2], atol=1e-9)


def test_errors_name_file_field_expected_got(tmp_path):
    with pytest.raises(InputDataError, match="time_s.*fs_hz argument"):
        load_ecg_recording(TWELVE)
    bad = tmp_path / "bad.csv"
    bad.write_text("I,V7\n0.1,0.2\n0.2,0.3\n")
    with pytest.raises(InputDataError, match=r"bad\.csv.*'V7'.*expected"):
        load_ecg_recording(bad, fs_hz=100)
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
    with pytest.raises(InputDataError, match="R peaks"):
        RecordedHeart(flat)
