"""Learned 12-lead morphologies (deepfake-ecg generator exported to ONNX, run by onnxruntime)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from cardioradar.errors import ConfigError, InputDataError
from host.data import learned as L

REAL_12LEAD = "tests/data/ecg/ecg-plot_12lead_10s_500hz.csv"


@pytest.fixture(scope="module")
def batch():
    return L.generate_strips(6, seed=11)


def _r_amplitude_mv(ecg_mv: np.ndarray, r_s: np.ndarray, lead: int, fs_hz: float) -> float:
    idx = np.round(r_s * fs_hz).astype(int)
    half = int(0.05 * fs_hz)
    return float(np.median([ecg_mv[max(k - half, 0):k + half, lead].max() for k in idx]))


def test_asset_matches_its_export_record():
    info = json.loads(L.MODEL_PATH.with_suffix(".json").read_text())
    assert hashlib.sha256(L.MODEL_PATH.read_bytes()).hexdigest() == info["sha256"]
    assert info["opset"] == 17 and info["max_abs_diff_vs_torch"] < 1e-3


def test_same_seed_same_bytes_and_seeds_differ(batch):
    again = L.generate_strips(6, seed=11, generator=L.LearnedEcgGenerator())
    assert [s.index for s in again.strips] == [s.index for s in batch.strips]
    for a, b in zip(batch.strips, again.strips):
        assert a.ecg_mv.tobytes() == b.ecg_mv.tobytes()
        assert a.r_peaks_s.tobytes() == b.r_peaks_s.tobytes()
    other = L.generate_strips(1, seed=12)
    assert not np.allclose(other.strips[0].ecg_mv, batch.strips[0].ecg_mv)
    # A larger n extends a smaller one.
    assert L.generate_strips(2, seed=11).strips[1].ecg_mv.tobytes() == batch.strips[1].ecg_mv.tobytes()


def test_lead_order_and_einthoven_goldberger_exact(batch):
    for s in batch.strips:
        assert s.leads == ("I", "II", "III", "aVR", "aVL", "aVF",
                           "V1", "V2", "V3", "V4", "V5", "V6")
        assert s.ecg_mv.shape == (5000, 12) and s.ecg_mv.dtype == np.float64 and s.fs_hz == 500.0
        e = {name: s.ecg_mv[:, i] for i, name in enumerate(s.leads)}
        assert np.array_equal(e["III"], e["II"] - e["I"])
        assert np.array_equal(e["aVR"], -(e["I"] + e["II"]) / 2.0)
        assert np.array_equal(e["aVL"], e["I"] - e["II"] / 2.0)
        assert np.array_equal(e["aVF"], e["II"] - e["I"] / 2.0)
        # Baseline removed: the isoelectric level (the median sample) is 0 mV in every lead.
        assert np.all(np.abs(np.median(s.ecg_mv, axis=0)) < 0.03)


def test_generated_leads_follow_the_package_column_order():
    # The precordial leads keep their order: V1 is mostly negative (rS), V5/V6 mostly
    # positive (qR) in a normal adult ECG; a column shift would break it for most strips.
    b = L.generate_strips(6, seed=3)
    v1_neg = [s.ecg_mv[:, 6].min() < -s.ecg_mv[:, 6].max() for s in b.strips]
    v6_pos = [s.ecg_mv[:, 11].max() > -s.ecg_mv[:, 11].min() for s in b.strips]
    assert sum(v1_neg) >= 5 and sum(v6_pos) >= 5


def test_millivolt_scale_matches_a_real_12_lead_record(batch):
    from hardware_sim.subject.recorded import RecordedHeart, load_ecg_recording

    real = RecordedHeart(load_ecg_recording(REAL_12LEAD, fs_hz=500.0))
    real_r = _r_amplitude_mv(real.ecg_hp_mv, real.r_peaks_s, 1, 500.0)
    learned_r = np.median([_r_amplitude_mv(s.ecg_mv, s.r_peaks_s, 1, s.fs_hz) for s in batch.strips])
    # Lead II R of adults is a fraction of a mV to ~2 mV; a 4.88 uV/LSB reading would give
    # ~4 mV, a V reading ~1000x too much.
    assert 0.3 < learned_r < 2.0
    assert 1 / 3 < learned_r / real_r < 3
    hrs = [s.hr_bpm for s in batch.strips]
    assert all(40.0 < h < 120.0 for h in hrs)


def test_quality_gate_rejects_implausible_strips():
    t = np.arange(5000) / 500.0
    flat = np.zeros((5000, 8))
    assert L.gate_strip(flat)[0] == "amplitude_low"
    assert L.gate_strip(np.full((5000, 8), 0.999))[0] == "saturated"
    nan = flat.copy()
    nan[10, 3] = np.nan
    assert L.gate_strip(nan)[0] == "not_finite"
    huge = np.tile((0.9 * np.sin(2 * np.pi * 1.0 * t))[:, None], (1, 8))  # 10.8 mV p-p
    assert L.gate_strip(huge)[0] == "amplitude_high"

    def spikes(times_s):  # narrow 1 mV R-like pulses at the given times, all leads
        beat = np.zeros(5000)
        for r in times_s:
            beat += np.exp(-0.5 * ((t - r) / 0.012) ** 2)
        return np.tile(beat[:, None] / L.TANH_TO_MV, (1, 8))

    def at_bpm(bpm):
        return spikes(np.arange(0.3, 10.0, 60.0 / bpm))

    assert L.gate_strip(at_bpm(25.0))[0] == "hr_out_of_range"
    assert L.gate_strip(at_bpm(190.0))[0] == "hr_out_of_range"
    assert L.gate_strip(spikes([2.0, 7.0]))[0] == "no_r_peaks"
    assert L.gate_strip(spikes([0.5, 1.0, 3.5, 4.0, 6.5, 7.0, 9.5]))[0] == "irregular_rr"
    for bpm in (40.0, 72.0, 170.0):
        reason, ecg12, r, hr = L.gate_strip(at_bpm(bpm))
        assert reason is None and abs(hr - bpm) < 1.0 and ecg12.shape == (5000, 12)


def test_rejections_are_counted_and_a_hopeless_gate_fails_clearly():
    b = L.generate_strips(3, seed=5, gate=L.QualityGate(hr_bpm=(35.0, 180.0), max_ptp_mv=2.0))
    assert b.n_candidates == 3 + sum(b.rejected.values())
    assert set(b.rejected) == set(L.REJECT_REASONS)
    assert 0.0 <= b.rejection_rate < 1.0
    with pytest.raises(InputDataError, match=r"expected 2 strips within 3 candidates"):
        L.generate_strips(2, seed=5, gate=L.QualityGate(hr_bpm=(170.0, 180.0)), max_candidates=3)


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        L.LearnedEcgGenerator(tmp_path / "missing.onnx")


def test_strip_round_trips_through_the_npz_reader(batch, tmp_path):
    from hardware_sim.subject.recorded import load_ecg_recording

    s = batch.strips[0]
    rec = load_ecg_recording(L.save_strip_npz(s, tmp_path / "s.npz"))
    assert rec.leads == s.leads and rec.fs_hz == 500.0
    assert np.array_equal(rec.ecg_mv, s.ecg_mv)
    mem = L.strip_recording(s)
    assert mem.leads == s.leads and np.array_equal(mem.ecg_mv, s.ecg_mv) and mem.duration_s == 10.0


def test_the_simulator_drive_takes_a_generated_strip(batch, tmp_path):
    from hardware_sim.record import record_session

    s = batch.strips[0]
    drive = L.strip_drive(s, work_dir=tmp_path)
    res = record_session(tmp_path / "rec", 4.0, drive, seed=3, mode="fast")
    assert res.n_frames == 400 and res.n_bytes > 0
    with np.load(tmp_path / "rec" / "truth.npz") as z:
        truth, r_truth = z["ecg_mv"], z["r_peaks_s"]
    # The heart replays the strip (its 12 leads re-projected through the Dower VCG, so
    # close to, not equal to, the generated ones; the loop may start at a beat boundary,
    # so compare at the best lag) with the strip's own beat intervals.
    n = truth.shape[0]
    x = (truth[:, 1] - truth[:, 1].mean()) / truth[:, 1].std()
    best = 0.0
    for lag in range(0, s.ecg_mv.shape[0] - n + 1, 1):
        y = s.ecg_mv[lag:lag + n, 1]
        best = max(best, float(np.mean(x * (y - y.mean()) / y.std())))
    assert best > 0.9
    assert len(r_truth) >= 3
    rr_truth, rr_strip = np.diff(r_truth), np.diff(s.r_peaks_s)
    rr_loop = np.concatenate([rr_strip, rr_strip])  # the 4 s may run over the loop's seam
    m = rr_truth.size
    gaps = [np.max(np.abs(rr_truth - rr_loop[k:k + m])) for k in range(rr_strip.size)]
    assert min(gaps) < 0.006  # the strip's own beat-to-beat intervals, in order


def test_learned_subjects_as_documented(tmp_path):
    from hardware_sim.record import DriveEcg, make_subject
    from hardware_sim.subject.params import SubjectParams

    pairs = L.learned_subjects(3, seed=21)
    assert len(pairs) == 3
    for i, (recording, params) in enumerate(pairs):
        assert isinstance(params, SubjectParams)
        assert params.subject_id == f"learned21-{i:04d}"
        assert params.condition in ("sinus", "brady", "tachy")
        assert recording.ecg_mv.shape == (5000, 12) and recording.fs_hz == 500.0
    again = L.learned_subjects(2, seed=21)
    assert again[1].params.to_json() == pairs[1].params.to_json()
    assert again[1].recording.ecg_mv.tobytes() == pairs[1].recording.ecg_mv.tobytes()
    recording, params = pairs[0]
    drive = L.strip_drive(recording, params=params)  # as docs/simulator.md shows it
    assert isinstance(drive, DriveEcg)
    subject = make_subject(drive, seed=4)
    assert subject.params.subject_id == params.subject_id  # the drawn body, the learned heart
    assert np.allclose(subject.electrical.r_peaks_s[:3],
                       L.generate_strips(1, seed=21).strips[0].r_peaks_s[:3], atol=0.01)
