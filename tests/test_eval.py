"""host.eval: the metrics pipeline on an oracle, a noisy oracle, the template baseline and
noise-injected frames; the CLI's JSON line."""

import json
from pathlib import Path

import numpy as np
import pytest

from cardioradar.cli import main
from cardioradar.errors import ConfigError, InputDataError
from host import eval as ev
from host.noise import NoiseSpec

KEYS = ("pcc_median", "rmse_mv_median", "ibi_mae_ms_median", "rpeak_err_ms_median", "mdr",
        "hr_err_bpm_median", "n_beats", "n_subjects")


@pytest.fixture(scope="module")
def windows():
    # clean and -9 dB burst windows from the same two recordings
    return ev.sim_windows(2, 25.0, 21, (None, NoiseSpec(burst_s=3.0, burst_db=-9.0)))


def test_oracle_scores_perfectly(windows):
    clean = windows[0]
    r = ev.evaluate_windows(ev.OraclePredictor(clean), clean)
    s = r.summary
    assert s["n_subjects"] == 2 and s["n_beats"] > 30
    assert s["pcc_median"] > 0.999 and s["rmse_mv_median"] < 1e-4
    # R peaks are the board's (edge.post): anchor peaks refined to the lead-II maximum on the
    # 100 Hz grid, so an exact reconstruction is within one sample of the true R time.
    assert s["mdr"] == 0 and s["rpeak_err_ms_median"] <= 10.0 and s["ibi_mae_ms_median"] <= 10.0
    assert s["hr_err_bpm_median"] < 0.5 and s["ppi_err_ms_median"] < 1e-3 and s["excluded_fraction"] == 0
    assert set(r.per_lead) == set(ev.LEADS) and all(v["pcc_median"] > 0.999 for v in r.per_lead.values())
    assert sum(v["n_subjects"] for v in r.per_condition.values()) == 2


def test_noisy_oracle_scores_lower(windows):
    clean = windows[0]
    exact = ev.evaluate_windows(ev.OraclePredictor(clean), clean)
    noisy = ev.evaluate_windows(ev.OraclePredictor(clean, noise_mv=0.1, seed=1), clean)
    assert 0.5 < noisy.summary["pcc_median"] < exact.summary["pcc_median"] - 0.05
    assert 0.08 < noisy.summary["rmse_mv_median"] < 0.12  # sigma 0.1 mV, a little less after the cross-fade
    assert ev.dm_vs(noisy, exact) < 0
    base = ev.evaluate_windows(ev.TemplateBaseline(), clean)
    assert ev.dm_vs(noisy, base) > 0 and base.summary["pcc_median"] < noisy.summary["pcc_median"]


def test_noise_changes_the_features_not_the_truth(windows):
    clean, noisy = windows
    assert np.array_equal(clean.ecg_mv, noisy.ecg_mv) and np.array_equal(clean.window_start_s, noisy.window_start_s)
    differs = np.any(clean.features_q15 != noisy.features_q15, axis=(1, 2, 3))
    assert differs.any() and not differs.all()  # bursts hit some windows only
    base = ev.TemplateBaseline()
    r = ev.with_dm(ev.evaluate_windows(base, noisy, noise="bursts"), ev.evaluate_windows(base, clean), "clean")
    assert np.isfinite(r.dm_percent) and r.dm_baseline == "clean"


def test_scoring_uses_the_boards_stitcher_and_post(windows):
    """The scorer joins windows exactly as edge.infer.CrossFadeStitcher does and takes its R
    peaks from edge.post; a gap between windows starts a new run."""
    from edge.infer import CrossFadeStitcher
    from host import scoring

    rng = np.random.default_rng(0)
    ecg = rng.normal(0, 1, (4, 512, 12)).astype(np.float32)
    anchors = np.zeros((4, 512), np.float32)
    starts = np.array([0.0, 2.56, 5.12, 20.0])  # the last window follows a gap
    runs = scoring.board_tracks(ecg, anchors, starts, 100.0, 256)
    assert [list(i) for i, _ in runs] == [[0, 1, 2], [3]]
    st = CrossFadeStitcher(512, 256)
    ref = np.concatenate([st.push(e, a).ecg_mv for e, a in zip(ecg[:3], anchors[:3])] + [st.flush().ecg_mv])
    np.testing.assert_array_equal(runs[0][1].ecg_mv, ref)
    assert runs[1][1].t0_s == 20.0 and len(runs[1][1].ecg_mv) == 512
    # a flat reconstruction is excluded by the board (lead II < 0.2 mV): no PCC window, every beat missed
    clean = windows[0]
    flat = ev.evaluate_windows(lambda f: (np.zeros((len(f), 512, 12)), np.zeros((len(f), 512)), np.ones(len(f))), clean)
    assert flat.summary["n_pcc_windows"] == 0 and flat.summary["mdr"] == 1.0
    assert flat.summary["excluded_fraction"] == 1.0


def test_json_has_every_key_and_no_nan(windows):
    r = ev.evaluate_windows(ev.TemplateBaseline(), windows[0], source="t")
    d = json.loads(r.to_json())
    assert all(k in d for k in KEYS)
    assert "table" not in d and "lead" in r.format_tables()


def test_refuses_training_population_and_bad_predictors(windows):
    with pytest.raises(ConfigError, match="not held out"):
        ev.sim_windows(2, 10.0, 7, train_seed=ev.training_seed({"training_data": {"seed": 7}}))
    with pytest.raises(InputDataError, match="predictor output"):
        ev.evaluate_windows(lambda f: (np.zeros((len(f), 10, 12)), np.zeros((len(f), 512)), np.zeros(len(f))),
                            windows[0])


def test_cli_eval_json_last_line(capsys):
    rc = main(["eval", "--baseline", "--subjects", "1", "--seconds", "12", "--seed", "33", "--snr-db", "3", "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    d = json.loads(out[-1])
    assert all(k in d for k in KEYS) and d["n_subjects"] == 1 and d["noise"] == "paper: white 3 dB"
    assert d["noise_on"] == "paper" and "demodulated" in d["noise_definition"]  # the default definition, named
    assert d["dm_baseline"] == "clean input" and d["model"] is None and "template baseline" in d["source"]


def test_drive_folder_scores_each_file_and_reports_bad_ones(tmp_path, capsys):
    """--drive-ecg takes a folder: every recording the loader reads is scored (rhythm from its
    sidecar, else the file's own statement, else "unknown"); an unreadable one is an error of
    that file only."""
    import shutil

    src = Path(__file__).parent / "data" / "ecg" / "ecg-plot_12lead_10s_500hz.csv"
    shutil.copy(src, tmp_path / "a_500hz.csv")  # the rate from the name
    shutil.copy(src, tmp_path / "b.csv")
    (tmp_path / "b.json").write_text(json.dumps({"rhythm": "sinus", "fs_hz": 500}))  # ... or from the sidecar
    (tmp_path / "broken.csv").write_text("I,II\n1,2\nx,y\n")
    (tmp_path / "LICENSE.txt").write_text("not an ECG")
    assert [f.name for f in ev.drive_files([tmp_path])] == ["a_500hz.csv", "b.csv", "broken.csv"]
    rc = main(["eval", "--baseline", "--drive-ecg", str(tmp_path), "--seconds", "15", "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert d["n_files"] == 3 and d["n_file_errors"] == 1 and d["n_subjects"] == 2
    assert "broken.csv" in d["per_file"]["broken.csv"]["error"]
    assert d["per_file"]["a_500hz.csv"]["rhythm"] == "unknown" and d["per_file"]["b.csv"]["rhythm"] == "sinus"
    assert set(d["per_condition"]) == {"sinus", "unknown"}
    assert set(d["per_file"]["a_500hz.csv"]["per_lead"]) == set(ev.LEADS)
    # same seed, same file: the two files score the same
    assert d["per_file"]["a_500hz.csv"]["pcc_median"] == d["per_file"]["b.csv"]["pcc_median"]


def test_rhythm_without_sidecar_is_what_the_file_states(tmp_path):
    """A folder copied without its recordings.json: the Challenge header's diagnosis (AF: "af",
    which the AF screening counts), the Philips cart's statements, nothing for a bare CSV."""
    import shutil

    suite = Path(__file__).parent / "data" / "ecg-suite"
    for name in ("cpsc2018_A0003_12lead_10s_500hz.hea", "cpsc2018_A0003_12lead_10s_500hz.mat",
                 "cpsc2018_A0006_12lead_14s_500hz.hea", "cpsc2018_A0006_12lead_14s_500hz.mat",
                 "philips-sierra_129DYPRG_12lead_10s_500hz.xml", "ecg-plot_12lead_10s_500hz.csv"):
        shutil.copy(suite / name, tmp_path / name)
    got = {f.name: ev.rhythm_of(f) for f in ev.drive_files([tmp_path])}
    assert got["cpsc2018_A0003_12lead_10s_500hz.hea"] == "af"
    assert got["cpsc2018_A0006_12lead_14s_500hz.hea"] == "right bundle branch block"
    assert got["philips-sierra_129DYPRG_12lead_10s_500hz.xml"].startswith("Sinus bradycardia;")
    assert got["ecg-plot_12lead_10s_500hz.csv"] == "unknown"
    (tmp_path / "ecg-plot_12lead_10s_500hz.json").write_text(json.dumps({"rhythm": "sinus"}))  # a sidecar wins
    assert ev.rhythm_of(tmp_path / "ecg-plot_12lead_10s_500hz.csv") == "sinus"


def test_drive_folder_without_recordings_names_what_it_reads(tmp_path, capsys):
    """An empty --drive-ecg folder: one line listing every suffix the loader reads (cart XML too)."""
    from hardware_sim.subject.ecg_files import LOADABLE_SUFFIXES

    (tmp_path / "LICENSE.txt").write_text("not an ECG")
    rc = main(["eval", "--baseline", "--drive-ecg", str(tmp_path), "--json"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and "no ECG recordings there" in err[-1]
    assert all(s in err[-1] for s in LOADABLE_SUFFIXES) and ".xml" in LOADABLE_SUFFIXES


def test_drive_files_none_usable_each_named_once(tmp_path, capsys):
    """Every --drive-ecg file refused: one line, each file and its problem named once."""
    (tmp_path / "a.dcm").write_text("not a DICOM file")
    (tmp_path / "b.csv").write_text("time_s,II\n0,0.1\n0.002,x\n")
    rc = main(["eval", "--baseline", "--drive-ecg", str(tmp_path / "a.dcm"), str(tmp_path / "b.csv"), "--json"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and "no recording could be used" in err[-1] and "Traceback" not in "\n".join(err)
    for name in ("a.dcm", "b.csv"):
        assert err[-1].count(name) == 1, err[-1]


def test_eval_session_uses_the_sessions_board(tmp_path, capsys):
    """`eval --session` reads the board from the session (a `sim record` folder names it in
    truth.npz; a session .db in its metadata) and, without --model, runs that board's model."""
    from edge.store import SessionWriter
    from hardware_sim.record import record_session

    record_session(tmp_path / "rec", 16.0, "healthy-rest", seed=5, mode="fast", board="rpi4-iwr6843isk")
    assert ev.session_board(tmp_path / "rec") == "rpi4-iwr6843isk"
    with SessionWriter(tmp_path / "s.db", {"board": "rpizero2w-iwr6843aop"}):
        pass
    assert ev.session_board(tmp_path / "s.db") == "rpizero2w-iwr6843aop"
    rc = main(["eval", "--session", str(tmp_path / "rec"), "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "board rpi4-iwr6843isk" in d["source"] and d["model"].endswith("cardioradar_int8.tflite")
    assert d["n_subjects"] == 1 and d["n_beats"] >= 10
