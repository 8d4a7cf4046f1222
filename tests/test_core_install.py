"""The light install: ``pip install -e .`` (numpy, numba, pyserial, no extras) runs the
simulator, the link and the DSP commands; host-only commands say which extra they need.

Two levels. The default run blocks every optional package in a subprocess (fast, offline).
``-m install`` builds a real fresh venv with the core alone from the package index and runs
``cardioradar sim record --seconds 5`` in it, as docs/simulator.md tells a simulator-only CI
(.ci/run runs it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cardioradar import cli
from hardware_sim.firmware.tlv import split_stream

ROOT = Path(__file__).resolve().parents[1]

# Import names of every package the extras bring (pyproject.toml [project.optional-dependencies]).
OPTIONAL_MODULES = (
    "tensorflow", "tf_keras", "onnx2tf", "onnx", "onnxruntime", "onnxsim", "onnx_graphsurgeon",
    "sng4onnx", "sne4onnx", "google.protobuf", "ml_dtypes", "h5py", "psutil", "neurokit2", "pyedflib",
    "wfdb", "matplotlib", "tqdm", "cryptography", "ai_edge_litert", "tflite_runtime", "hypothesis", "scipy",
)

# Runs cardioradar.cli.main with every optional package unimportable (None in sys.modules).
_BLOCKED_MAIN = (
    "import sys\n"
    f"for m in {OPTIONAL_MODULES!r}:\n"
    "    sys.modules[m] = None\n"
    "from cardioradar.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _run_blocked(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", _BLOCKED_MAIN, *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240)


def test_core_commands_run_without_any_extra(tmp_path):
    r = _run_blocked("sim", "subjects", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "healthy-rest" in r.stdout
    r = _run_blocked("sim", "record", "--seconds", "1", "--mode", "fast", "--out", str(tmp_path / "rec"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("100 frames")
    assert (tmp_path / "rec" / "frames.bin").stat().st_size > 0
    r = _run_blocked("sim", "frames", "--seconds", "0.05", "--mode", "fast", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("frame ") == 5
    # a recorded ECG without beat annotations needs NeuroKit2's R peaks (and scipy): host extra
    csv = ROOT / "tests" / "data" / "ecg-suite" / "mitdb100_MLII_10s_360hz_rounded-time.csv"
    r = _run_blocked("sim", "record", "--seconds", "1", "--mode", "fast", "--drive-ecg", str(csv),
                     "--out", str(tmp_path / "drive"), cwd=tmp_path)
    assert r.returncode == 2 and "needs the Python package" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("argv, module", [
    (["keys", "generate", "--out", "k"], "cryptography"),
    (["bundle", "verify", "b.bundle", "--pubkey", "k.pub"], "cryptography"),
    (["train", "--data", "d", "--out", "o"], "tensorflow"),
])
def test_host_command_without_its_extra_names_it(tmp_path, argv, module):
    r = _run_blocked(*argv, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    first = r.stderr.splitlines()[0]
    assert first.startswith(f"error: `cardioradar {argv[0]}` needs the Python package {module!r}")
    assert 'pip install -e ".[host]"' in r.stderr


def test_missing_extra_maps_only_third_party_modules():
    err = cli.missing_extra(ModuleNotFoundError("x", name="pyedflib.highlevel"))
    assert err is not None and err.exit_code == 2 and "'pyedflib'" in str(err)
    assert "[edge]" in cli.missing_extra(ModuleNotFoundError("x", name="ai_edge_litert")).hint
    # One of our own packages missing is a bug (or a board without that part): not hidden.
    assert cli.missing_extra(ModuleNotFoundError("x", name="hardware_sim.nothing")) is None
    assert cli.missing_extra(ModuleNotFoundError("x", name=None)) is None


@pytest.mark.install
def test_fresh_core_venv_records_five_seconds(tmp_path):
    """As a simulator-only CI does it: a fresh venv, ``pip install -e .``, ``sim record``."""
    venv = tmp_path / "core"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py, exe = venv / "bin" / "python", venv / "bin" / "cardioradar"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "-e", str(ROOT)], capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    present = subprocess.run(
        [str(py), "-c", "import importlib.util as u, sys; "
         f"print(' '.join(m for m in {OPTIONAL_MODULES!r} if u.find_spec(m.split('.')[0])))"],
        capture_output=True, text=True, check=True).stdout.split()
    assert present == [], f"the core install pulled in optional packages: {present}"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    out = tmp_path / "rec"
    r = subprocess.run([str(exe), "sim", "record", "--seconds", "5", "--out", str(out)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("500 frames"), r.stdout
    packets = split_stream((out / "frames.bin").read_bytes())
    assert len(packets) == 500 - int(r.stdout.split("(")[1].split()[0])
    assert (out / "truth.npz").is_file() and (out / "subject.json").is_file()
    r = subprocess.run([str(exe), "keys", "generate", "--out", str(tmp_path / "k")], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "'cryptography'" in r.stderr and "Traceback" not in r.stderr
    size_mb = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20
    print(f"core venv: {size_mb:.0f} MiB")
