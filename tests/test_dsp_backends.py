"""The DSP kernels' two backends (edge.dsp.backend): numba JIT and the same source compiled
ahead of time. The AOT module is built once per test run as docs/runtime.md tells a user
(`python -m edge.dsp.aot`, into a temporary CARDIORADAR_DSP_AOT_DIR; conftest's `aot_dir`); then: the same stored
ECG, beats and vitals from a recorded stream, kernel by kernel the same bits, the board's
path in a fresh interpreter without numba (nor scipy, which numba imports), stale-module and
bad-setting handling, and `bench edge --json` as documented."""

import json
import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cardioradar.errors import ConfigError
from edge.dsp import backend

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    from hardware_sim.record import record_session

    out = tmp_path_factory.mktemp("rec") / "rec"
    record_session(out, 25.0, "healthy-rest", seed=4242, mode="fast", board="sim")
    return out


@pytest.fixture
def use():
    yield lambda mode, d=None: backend.select(mode, d)
    backend.select(None)  # back to the environment's choice


def _session(path):
    from edge.store import SessionReader

    with SessionReader(path) as r:
        ecg = [(b.t0_s, b.fs_hz, b.ecg_mv.tobytes(), b.excluded) for b in r.ecg_blocks()]
        return ecg, repr(r.beats()), repr(r.vitals())  # repr: exact floats, and NaN equals NaN


def test_runtime_stores_the_same_ecg_beats_and_vitals_with_both_backends(aot_dir, recording, use, tmp_path,
                                                                       monkeypatch):
    from boards import load_profile
    from edge.runtime.replay import reprocess_session

    profile = load_profile("sim")
    use("jit")
    reprocess_session(recording, tmp_path / "jit.db", profile)
    use("aot", aot_dir)
    assert backend.name() == "aot"
    monkeypatch.setattr(backend, "jit_function", lambda fn: pytest.fail(f"{fn.__name__} fell back to JIT"))
    reprocess_session(recording, tmp_path / "aot.db", profile)
    jit, aot = _session(tmp_path / "jit.db"), _session(tmp_path / "aot.db")
    assert len(jit[0]) >= 5 and len(jit[1]) >= 10  # ECG pieces and beats were made
    assert aot == jit


def _kernel_inputs(rng):
    """(kernel name, args) covering each kernel's range, saturation and edge cases."""
    from edge.dsp.cordic import ATAN_BAM, INV_GAIN_Q30
    from fixedpoint import tables

    frames = rng.integers(-32768, 32768, (6, 15, 12, 2)).astype(np.int16)
    frames[0, 0, 0] = (-32768, -32768)
    iq = rng.integers(-2**31, 2**31, (50, 7, 2)).astype(np.int32)
    iq[0, :3] = [(0, 0), (-2**31, 0), (3, -1)]
    sos = tables.sos_q29(tables.butter_sos(4, 0.8, 100.0, "highpass"))
    return [
        ("calibrate_q14", (frames, rng.integers(-32768, 32768, (12, 2)).astype(np.int16))),
        ("beamform_q15", (frames, rng.integers(-32768, 32768, (9, 12, 2)).astype(np.int16),
                          rng.integers(0, 15, 20), rng.integers(0, 9, 20), 2)),
        ("cordic_q", (iq, ATAN_BAM, INV_GAIN_Q30)),
        ("unwrap_bam", (iq[:, :, 0].copy(),)),
        ("sos_filter_q29", (rng.integers(-2**27, 2**27, (300, 5)).astype(np.int32), sos)),
        ("sos_filter_ref", (rng.normal(size=(300, 2)), tables.butter_sos(2, 6.0, 100.0, "lowpass"))),
        ("band_energy_q", (iq[:, :, 1].copy(), 5, 3)),
        ("second_derivative_q", (iq[:, :, 1].copy(),)),
        ("normalize_q15", (np.concatenate([iq[:, :, 0], np.full((50, 1), 7, np.int32)], 1),)),
        ("quantize_int8_q15", (rng.integers(-32768, 32768, 400).astype(np.int16), 1518500250, 2, -3)),
    ]


def test_each_kernel_gives_the_jit_bits(aot_dir, use):
    import edge.dsp.pipeline  # noqa: F401  (registers every kernel)
    import edge.dsp.vitals  # noqa: F401

    cases = _kernel_inputs(np.random.default_rng(15))
    assert {name for name, _ in cases} == set(backend.KERNELS)
    for name, args in cases:
        k = backend.KERNELS[name]
        assert k.py_func.__module__ in backend.SOURCE_MODULES  # a change to it makes the module stale
        assert pickle.loads(pickle.dumps(k)) is k  # by name, as worker processes need
        use("jit")
        want = k(*args)
        use("aot", aot_dir)
        got = k(*args)
        for w, g in zip(want if isinstance(want, tuple) else (want,), got if isinstance(got, tuple) else (got,)):
            assert g.dtype == w.dtype and g.tobytes() == w.tobytes(), name


def test_calls_off_the_signature_still_agree(aot_dir, use):
    from edge.dsp.calibrate import calibrate_q14
    from edge.dsp.differentiator import second_derivative_q

    rng = np.random.default_rng(3)
    frames = rng.integers(-32768, 32768, (4, 15, 24, 2)).astype(np.int16)[:, :, ::2]  # not contiguous
    gain = rng.integers(-32768, 32768, (12, 2)).astype(np.int16)
    x64 = rng.integers(-2**31, 2**31, (40, 3))  # int64: not the signature's int32 -> the JIT version
    use("jit")
    want = calibrate_q14(frames, gain), second_derivative_q(x64)
    use("aot", aot_dir)
    got = calibrate_q14(frames, gain), second_derivative_q(x64)
    assert all(g.tobytes() == w.tobytes() for g, w in zip(got, want))


def test_board_path_in_a_fresh_interpreter_loads_no_numba_or_scipy(aot_dir):
    code = (
        "import sys, numpy as np\n"
        "from boards import load_profile\n"
        "from edge.dsp import backend\n"
        "from edge.dsp.config import DspConfig\n"
        "from edge.dsp.pipeline import process_recording\n"
        "import edge.runtime.core, edge.runtime.replay, edge.store, edge.link\n"
        "cfg = DspConfig.from_profile(load_profile('sim'))\n"
        "n = cfg.window_samples + cfg.warmup_samples + 3 + cfg.hop_samples\n"
        "f = np.random.default_rng(1).integers(-999, 999, (n, cfg.range_bins, cfg.n_virtual, 2)).astype(np.int16)\n"
        "w = process_recording(f, cfg)\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'numba', 'llvmlite', 'scipy', 'tensorflow',"
        " 'hardware_sim', 'host'})\n"
        "print(backend.name(), len(w), heavy)\n"
    )
    env = {**os.environ, backend.ENV: "aot", backend.DIR_ENV: str(aot_dir)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["aot", "2", "[]"]


def test_stale_or_missing_module_and_bad_setting(aot_dir, use, monkeypatch, caplog, tmp_path):
    monkeypatch.setattr(backend, "source_stamp", lambda: 12345)  # as if a kernel's source changed
    with caplog.at_level(logging.WARNING, logger="edge.dsp.backend"):
        use("auto", aot_dir)
        assert backend.name() == "jit"
    assert "stale" in caplog.text and "python -m edge.dsp.aot" in caplog.text
    use("aot", aot_dir)
    with pytest.raises(ConfigError, match=r"CARDIORADAR_DSP_BACKEND=aot: .* is stale"):
        backend.name()
    use("aot", tmp_path)
    with pytest.raises(ConfigError, match="is not built"):
        backend.name()
    use(None)
    monkeypatch.setenv(backend.ENV, "fast")
    with pytest.raises(ConfigError, match="CARDIORADAR_DSP_BACKEND: expected one of auto, aot, jit, got 'fast'"):
        backend.name()


def test_bench_edge_as_documented(aot_dir, recording, monkeypatch, capsys):
    from cardioradar.cli import main

    monkeypatch.setenv(backend.DIR_ENV, str(aot_dir))
    monkeypatch.delenv(backend.ENV, raising=False)
    assert main(["bench", "edge", "--recording", str(recording), "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(res) == {"rtf", "peak_rss_mb", "latency_ms_p95", "backend"}
    assert res["backend"] == "aot" and 0 < res["peak_rss_mb"] <= 120  # the board's memory goal (issue 15)


def test_if_stale_builds_only_a_missing_or_stale_module(aot_dir, monkeypatch, capsys):
    """What the service runs before each start (`python -m edge.dsp.aot --if-stale`, docs/runtime.md)."""
    env = {**os.environ, backend.DIR_ENV: str(aot_dir)}
    proc = subprocess.run([sys.executable, "-m", "edge.dsp.aot", "--if-stale"], capture_output=True, text=True,
                          env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["built"] is False  # current: nothing compiled

    from edge.dsp import aot

    built = []
    monkeypatch.setenv(backend.DIR_ENV, str(aot_dir))
    monkeypatch.setattr(aot, "build", lambda: built.append(1) or backend.aot_path(aot_dir))
    monkeypatch.setattr(backend, "source_stamp", lambda: 12345)  # as if an update changed a kernel
    assert aot.main(["--if-stale"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert built == [1] and line["built"] is True and "stale" in line["reason"]
    assert aot.main(["--when", "stale"]) == 2
    assert "usage: python -m edge.dsp.aot [--if-stale]" in capsys.readouterr().err
