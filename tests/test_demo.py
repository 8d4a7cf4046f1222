"""`cardioradar demo` and `cardioradar report` with a tiny int8 model made here with tf.lite.

The tiny model (input (1, 512, 4, 3) int8, outputs ECG (1, 512, 12), anchors (1, 512),
cycle (1, 1)) has the shipped model's interface and metadata format, not its accuracy:
these tests check the plumbing (pty I/O, session, EDF+, report, JSON line, CLI stop).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cardioradar.cli import main

ROOT = Path(__file__).resolve().parent.parent


def make_tiny_model(path: Path, seed: int = 0) -> Path:
    tf = pytest.importorskip("tensorflow")
    from edge.infer import ModelMetadata, TensorInfo
    from edge.dsp.tensor import FeatureLayout

    tf.keras.utils.set_random_seed(seed)
    x = tf.keras.Input((512, 4, 3), batch_size=1)
    h = tf.keras.layers.Reshape((512, 12))(x)
    h = tf.keras.layers.Dense(8, activation="tanh")(h)
    ecg = tf.keras.layers.Dense(12, name="ecg")(h)
    anchors = tf.keras.layers.Reshape((512,))(tf.keras.layers.Dense(1, activation="sigmoid")(h))
    cycle = tf.keras.layers.Dense(1)(tf.keras.layers.GlobalAveragePooling1D()(h))
    model = tf.keras.Model(x, [ecg, anchors, cycle])
    rng = np.random.default_rng(seed)

    def rep():
        for _ in range(8):
            yield [rng.uniform(-1, 1, (1, 512, 4, 3)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    path.write_bytes(conv.convert())
    interp = tf.lite.Interpreter(model_path=str(path))

    def info(d):
        s, z = d["quantization"]
        return TensorInfo(int(d["index"]), d["name"], tuple(int(v) for v in d["shape"]),
                          np.dtype(d["dtype"]).name, float(s), int(z))

    outs = {}
    for d in interp.get_output_details():
        shape = tuple(d["shape"])
        outs[{3: "ecg", 2: "anchors"}[len(shape)] if shape != (1, 1) else "cycle_s"] = info(d)
    from edge.types import LEADS

    meta = ModelMetadata(info(interp.get_input_details()[0]), FeatureLayout(512, 4, 100.0), outs, 100.0, 512, 256,
                         LEADS, {"frame_rate_hz": 100.0, "window_samples": 512, "hop_samples": 256, "n_voxels": 4,
                                 "range_bins": 15}, {"data": "none (test model)"}, {}, "tests/test_demo.py")
    meta.write(path.with_suffix(".json"))
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny_int8.tflite")


def test_demo_json_session_edf_report(tmp_path, tiny_model, capsys):
    out = tmp_path / "demo"
    rc = main(["demo", "--seconds", "20", "--mode", "fast", "--model", str(tiny_model), "--out", str(out), "--json"])
    assert rc == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("session", "edf", "report", "pcc_median", "rmse_mv_median", "ibi_mae_ms_median",
                "frames_received", "frames_lost"):
        assert key in last
    assert last["frames_received"] >= 2000 and last["frames_lost"] == 0
    for key in ("session", "edf", "report"):
        assert Path(last[key]).is_file()
    assert Path(last["report"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with np.load(out / "truth.npz") as z:
        assert z["ecg_mv"].shape[1] == 12 and len(z["r_peaks_s"]) >= 15
        # the truth's R peaks are in session time: the first lies within the first 1.5 s
        assert 0 <= z["r_peaks_s"][(z["r_peaks_s"] >= 0)][0] < 1.5
    # `report` on the same session, with and without the truth
    rc = main(["report", last["session"], "--out", str(tmp_path / "r.png"), "--truth", str(out / "truth.npz"),
               "--json"])
    assert rc == 0 and (tmp_path / "r.png").stat().st_size > 50_000
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rep["n_windows"] >= 1 and rep["pcc_median"] is not None and -1 <= rep["pcc_median"] <= 1


def test_edge_run_cli_sigint_with_tiny_model(tmp_path, tiny_model):
    """`cardioradar edge run` as a process against `sim serve` (real time, as in the field):
    status lines, SIGINT -> exit 0."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sim = subprocess.Popen([sys.executable, "-m", "cardioradar", "sim", "serve", "--mode", "fast", "--speed", "1",
                            "--json"], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        ports = json.loads(sim.stdout.readline())
        run = subprocess.Popen([sys.executable, "-m", "cardioradar", "edge", "run", "--model", str(tiny_model),
                                "--config-port", ports["config_port"], "--data-port", ports["data_port"],
                                "--session", str(tmp_path / "s.db"), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and run.poll() is None:
            line = run.stderr.readline()
            if line.startswith("t ") and float(line.split()[1]) > 9.0:
                break
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=30)
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(10)
    assert run.returncode == 0, err[-2000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["stopped_by"] == "signal" and summary["ecg_blocks"] >= 2, (summary, err[-3000:])
    from edge.store import SessionReader

    with SessionReader(tmp_path / "s.db") as r:
        assert r.metadata()["closed_cleanly"] is True


def test_demo_as_docs_tell_scores_the_shipped_model(tmp_path, capsys):
    """`cardioradar demo --mode fast --json` with the defaults (the shipped model, healthy-rest):
    the report's figures come from the one scorer (host.scoring) and are those of a working
    reconstruction, not of the tiny plumbing model."""
    out = tmp_path / "demo"
    rc = main(["demo", "--seconds", "30", "--mode", "fast", "--out", str(out), "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("pcc_median", "rmse_mv_median", "rpeak_err_ms_median", "ibi_mae_ms_median", "mdr",
                "hr_err_bpm_median", "n_beats", "n_windows", "excluded_fraction"):
        assert key in d
    assert d["n_beats"] >= 20 and d["n_windows"] >= 8
    # far above the template baseline (PCC ~0.4, MDR ~45 %), with room for a retrained model
    assert d["pcc_median"] > 0.65 and d["rmse_mv_median"] < 0.35 and d["mdr"] <= 0.1
    assert d["rpeak_err_ms_median"] < 60 and d["hr_err_bpm_median"] < 3
    # `report` on the same session and truth gives the same figures
    rc = main(["report", d["session"], "--out", str(tmp_path / "r.png"), "--truth", d["truth"], "--json"])
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and all(rep[k] == d[k] for k in ("pcc_median", "rmse_mv_median", "mdr", "n_beats"))
