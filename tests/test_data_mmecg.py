"""MMECG loader on small .mat files written in the MMECG layout with scipy.io.savemat."""

import json

import numpy as np
import pytest
from scipy.io import savemat

from cardioradar.errors import InputDataError
from hardware_sim.record import make_subject
from host import metrics
from host.data.format import SPLITS, load_split, read_manifest
from host.data.mmecg import build_mmecg_dataset, load_mmecg_trial, trial_windows

FS = 200.0
CARDIAC = (3, 17, 28, 40)  # RCG points that carry the heartbeat


def _write_trial(path, subject_id, seed, seconds=20.0, status="NB"):
    subj = make_subject("healthy-rest", seed)
    t = np.arange(int(seconds * FS)) / FS
    ecg = np.asarray(subj.electrical.ecg_mv(t))[:, 1]  # lead II, mV
    r = np.array([b.r_time_s for b in subj.electrical.beats_between(0.0, seconds)])
    rng = np.random.default_rng(seed)
    rcg = rng.normal(0, 0.02, (len(t), 50)) + 2.0 * np.sin(2 * np.pi * 0.25 * t)[:, None]  # breathing
    pulse = sum(np.exp(-0.5 * ((t - ri - 0.15) / 0.04) ** 2) for ri in r)
    for k in CARDIAC:
        rcg[:, k] += 0.3 * pulse
    savemat(path, {"data": {"RCG": rcg, "ECG": ecg[:, None], "posXYZ": rng.normal(0, 0.1, (50, 3)),
                            "id": float(subject_id), "age": 30.0 + subject_id, "gender": "male",
                            "physistatus": status}})
    return ecg, r


def test_load_and_windows(tmp_path):
    ecg, r = _write_trial(tmp_path / "t1.mat", 7, 1, status="PE")
    tr = load_mmecg_trial(tmp_path / "t1.mat")
    assert tr.rcg.shape == (4000, 50) and tr.ecg_mv.shape == (4000,) and tr.pos_xyz.shape == (50, 3)
    assert (tr.subject, tr.age_y, tr.gender, tr.physistatus) == (7, 37.0, "male", "PE")
    ws = trial_windows(tr)
    assert len(ws) == 6  # 2000 samples at 100 Hz, 512 / 256
    assert ws.features_q15.shape == (6, 512, 4, 3)
    assert not ws.features_q15[..., 1:].any() and ws.features_q15[..., 0].any()
    assert np.isnan(ws.ecg_mv[:, :, 0]).all() and np.isfinite(ws.ecg_mv[:, :, 1]).all()
    # lead II target = the trial's ECG at 100 Hz
    assert np.allclose(ws.ecg_mv[1, :, 1], ecg[2 * 256:2 * (256 + 512):2], atol=0.08)
    # anchors/mask at the true R peaks (NeuroKit2 on the 200 Hz ECG)
    nk = metrics.detect_r_peaks_s(ecg, FS)
    m = metrics.match_peaks(r[(r > 0.5) & (r < 19.5)], nk, tol_s=0.02)
    assert m.mdr == 0
    mask_t = np.concatenate([ws.window_start_s[k] + np.flatnonzero(ws.r_peak_mask[k]) / 100.0 for k in range(6)])
    assert np.all(np.min(np.abs(mask_t[:, None] - nk[None, :]), axis=1) <= 0.006)
    assert np.all(ws.condition == "PE") and np.all(ws.subject_id == 7)


def test_cardiac_points_are_the_voxels(tmp_path):
    """The 4 points picked are the ones that carry the heartbeat: their feature follows it."""
    _, r = _write_trial(tmp_path / "t.mat", 1, 2)
    ws = trial_windows(load_mmecg_trial(tmp_path / "t.mat"))
    x = ws.features_q15[2, :, :, 0].astype(float)
    # the second difference of a positive pulse is most negative at its centre
    centre = ws.window_start_s[2] + np.argmin(x.mean(axis=1)) / 100.0
    assert np.min(np.abs(r + 0.15 - centre)) < 0.03


def test_dataset_split_by_id(tmp_path):
    for i, sid in enumerate((1, 2, 3, 3)):
        _write_trial(tmp_path / f"trial{i}.mat", sid, 10 + i, seconds=12.0)
    out = build_mmecg_dataset(tmp_path, tmp_path / "ds", seed=0, val_frac=0.34, test_frac=0.34)
    man = read_manifest(out)
    ids = {s: set(load_split(out, s).subjects().tolist()) for s in SPLITS}
    assert set().union(*ids.values()) == {1, 2, 3} and all(len(v) == 1 for v in ids.values())
    assert sum(len(man["splits"][s]["trials"]) for s in SPLITS) == 4


def test_bad_files(tmp_path):
    savemat(tmp_path / "a.mat", {"other": np.zeros(3)})
    with pytest.raises(InputDataError, match="struct 'data'"):
        load_mmecg_trial(tmp_path / "a.mat")
    savemat(tmp_path / "b.mat", {"data": {"RCG": np.zeros((10, 50)), "ECG": np.zeros((10, 1))}})
    with pytest.raises(InputDataError, match="missing fields.*id"):
        load_mmecg_trial(tmp_path / "b.mat")
    with pytest.raises(InputDataError, match="no .mat"):
        build_mmecg_dataset(tmp_path / "none", tmp_path / "ds")


def test_cli_data_build(tmp_path, capsys):
    from cardioradar.cli import main

    for i in range(3):
        _write_trial(tmp_path / f"t{i}.mat", i + 1, 20 + i, seconds=10.0)
    assert main(["data", "build", "--out", str(tmp_path / "ds"), "--mmecg", str(tmp_path), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].endswith("ds")
    last = json.loads(lines[-1])
    assert last["dataset"].endswith("ds") and last["source"] == "mmecg" and sum(last["windows"].values()) > 0
    assert read_manifest(tmp_path / "ds")["source"] == "mmecg"
