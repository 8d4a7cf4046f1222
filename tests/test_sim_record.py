"""`sim record`: frames.bin is the data UART's bytes, truth.npz is complete and consistent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cardioradar.errors import ConfigError, InputDataError
from hardware_sim.firmware.tlv import decode_frame, split_stream
from hardware_sim.record import DriveEcg, record_session

ECG_DIR = Path(__file__).parent / "data" / "ecg"
KEYS = {"ecg_mv", "ecg_fs_hz", "r_peaks_s", "beat_kinds", "mech_qrs_onset_s", "mech_mc_s", "mech_ao_s",
        "mech_ac_s", "mech_mo_s", "frame_numbers", "frame_times_s", "frame_sent", "frame_time_cpu_cycles",
        "frame_first_bin", "subject_range_m", "chest_centre_m", "resp_mm", "rbm_intervals_s", "rbm_kinds",
        "seconds", "seed", "mode", "board", "clock_drift_ppm", "data_baud", "range_step_m"}


def test_record_truth_keys_and_consistency(tmp_path):
    res = record_session(tmp_path / "a", 2.0, "healthy-rest", seed=11, mode="fast")
    truth = np.load(tmp_path / "a" / "truth.npz")
    assert set(truth.files) == KEYS
    n = res.n_frames
    assert n == 200 and truth["frame_numbers"].shape == truth["frame_times_s"].shape == (n,)
    assert np.array_equal(truth["frame_numbers"], np.arange(1, n + 1))
    assert truth["ecg_mv"].shape == (1000, 12) and float(truth["ecg_fs_hz"]) == 500.0
    assert np.all(np.isfinite(truth["ecg_mv"])) and np.ptp(truth["ecg_mv"][:, 1]) > 0.3  # lead II has beats
    assert 1 <= len(truth["r_peaks_s"]) <= 6 and np.all(np.diff(truth["r_peaks_s"]) > 0.25)
    assert truth["rbm_intervals_s"].shape[1] == 2
    assert truth["subject_range_m"].shape == truth["resp_mm"].shape == (n,)
    assert 0.3 < truth["subject_range_m"].mean() < 1.5
    assert len(truth["mech_ao_s"]) == len(truth["mech_ac_s"]) and np.all(truth["mech_ac_s"] > truth["mech_ao_s"])
    blob = (tmp_path / "a" / "frames.bin").read_bytes()
    assert len(blob) == res.n_bytes
    packets = split_stream(blob)
    assert b"".join(packets) == blob  # nothing but whole packets
    numbers = [decode_frame(p).header.frame_number for p in packets]
    assert numbers == truth["frame_numbers"][truth["frame_sent"]].tolist()
    cycles = [decode_frame(p).header.time_cpu_cycles for p in packets]
    assert cycles == truth["frame_time_cpu_cycles"][truth["frame_sent"]].tolist()
    params = json.loads((tmp_path / "a" / "subject.json").read_text())
    assert params["subject"]["condition"] == "sinus"


def test_same_seed_same_bytes(tmp_path):
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        record_session(tmp_path / name, 0.5, "af", seed=seed, mode="fast")
    blob = {n: (tmp_path / n / "frames.bin").read_bytes() for n in "abc"}
    assert blob["a"] == blob["b"] and blob["a"] != blob["c"]
    ta, tb = np.load(tmp_path / "a" / "truth.npz"), np.load(tmp_path / "b" / "truth.npz")
    assert all(np.array_equal(ta[k], tb[k]) for k in ta.files)


def test_adc_mode_records_too(tmp_path):
    res = record_session(tmp_path, 0.2, "healthy-rest", seed=1, mode="adc")
    assert res.n_frames == 20 and res.n_sent == 20
    assert str(np.load(tmp_path / "truth.npz")["mode"]) == "adc"


def test_drive_with_a_real_recording(tmp_path):
    pytest.importorskip("neurokit2", reason="R-peak detection of a recorded ECG needs the host extra")
    path = ECG_DIR / "ecg-plot_12lead_10s_500hz.csv"
    record_session(tmp_path, 3.0, DriveEcg(path, fs_hz=500.0), seed=2, mode="fast")
    truth = np.load(tmp_path / "truth.npz")
    assert truth["ecg_mv"].shape == (1500, 12)
    assert len(truth["r_peaks_s"]) >= 2
    # The truth is the recording: lead II stored matches a 3 s stretch of the file's lead II.
    rec = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)
    got = truth["ecg_mv"][:, 1] - truth["ecg_mv"][:, 1].mean()
    best = max(np.corrcoef(got, rec[i:i + 1500, 1])[0, 1] for i in range(0, len(rec) - 1500, 5))
    assert best > 0.9


def test_bad_subject_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="healthy-rest"):
        record_session(tmp_path, 0.1, "nobody")
    with pytest.raises(InputDataError, match="no such file"):
        record_session(tmp_path, 0.1, DriveEcg(tmp_path / "missing.csv"))


def test_module_gets_the_cfg_as_the_edge_reads_it(tmp_path):
    # A .cfg saved with a UTF-8 byte-order mark: the profile check reads it without the BOM, so
    # must the host that sends it to the simulated module (it sent '\ufeff% ...', answered
    # "not recognized").
    import shutil

    from boards import load_profile
    from hardware_sim.record import build_module, start_module

    src = load_profile("sim").path
    shutil.copytree(src.parent / "cfg", tmp_path / "cfg")
    cfg = tmp_path / "cfg" / "cardioradar_100hz_isk.cfg"
    cfg.write_bytes(b"\xef\xbb\xbf" + cfg.read_bytes())
    (tmp_path / "sim.toml").write_text(src.read_text().replace('path = "models/', f'path = "{src.parent}/models/'))
    module, _ = build_module(seed=1, mode="fast", board=load_profile(tmp_path / "sim.toml"))
    answers = []
    send = module.run_cfg_text
    module.run_cfg_text = lambda text, t_s: answers.append(send(text, t_s)[0]) or (answers[-1], b"")
    start_module(module)
    assert module.running and b"not recognized" not in answers[0]
