"""Shared fixtures: a pty pair, a simulated module on ptys, the stand-in int8 model, the DSP
kernels compiled ahead of time, bundle signing keys, a local Ray; and the
hardware lane's options (``pytest --port /dev/ttyUSB0 --data-port /dev/ttyUSB1 -m hardware``).

The ``hardware`` marker is defined once, in pyproject.toml; the default run deselects it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

HARDWARE_HOWTO = "needs a real module: pytest --port /dev/ttyUSB0 --data-port /dev/ttyUSB1 -m hardware"


def pytest_addoption(parser):
    group = parser.getgroup("cardioradar", "CardioRadar hardware lane")
    group.addoption("--port", default=None, help="a real module's config UART (e.g. /dev/ttyUSB0); "
                    "runs the tests marked hardware (with -m hardware)")
    group.addoption("--data-port", default=None, help="the module's data UART (e.g. /dev/ttyUSB1)")


@pytest.fixture(scope="session")
def aot_dir(tmp_path_factory) -> Path:
    """The DSP kernels compiled ahead of time, once per test run, as docs/runtime.md tells a
    user (`python -m edge.dsp.aot`, into a temporary CARDIORADAR_DSP_AOT_DIR)."""
    from edge.dsp import backend

    d = tmp_path_factory.mktemp("aot")
    env = {**os.environ, backend.DIR_ENV: str(d)}
    proc = subprocess.run([sys.executable, "-m", "edge.dsp.aot"], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(line["module"]) == backend.aot_path(d) and line["kernels"] == 10
    return d


@pytest.fixture
def pty_pair():
    """A raw-mode pty (``cardioradar.ptys.open_pty``): pyserial opens ``.path``, the test talks
    on ``.master`` (non-blocking). Closed after the test."""
    from cardioradar.ptys import open_pty

    pair = open_pty()
    yield pair
    pair.close()


def wait_until(cond, what: str, timeout_s: float = 30.0, poll_s: float = 0.01):
    """Poll ``cond()`` until it is true (returns its value); fails naming ``what`` after
    ``timeout_s``. For tests that wait on a state instead of sleeping a guessed time."""
    deadline = time.monotonic() + timeout_s
    while not (value := cond()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(poll_s)
    return value


@pytest.fixture(name="wait_until")
def wait_until_fixture():
    """`wait_until` as a fixture, for test functions."""
    return wait_until


@pytest.fixture
def sim_module():
    """A ``ModuleServer`` (seed 0, healthy-rest subject, sim board) serving on ptys at real
    time; ``.ports.config`` / ``.ports.data`` are what pyserial opens. Closed after the test."""
    from hardware_sim.record import build_module
    from hardware_sim.serial_io import ModuleServer

    module, _ = build_module("healthy-rest", seed=0, board="sim")
    with ModuleServer(module, transport="pty", speed=1.0) as server:
        yield server


@pytest.fixture
def standin_model(tmp_path) -> Path:
    """The stand-in int8 .tflite (host/synthmodel.py, 2 kB, seed 0) with its metadata JSON."""
    from host.synthmodel import synthetic_model

    return synthetic_model(tmp_path / "standin.tflite", 2048, seed=0)


@dataclass(frozen=True)
class HardwarePorts:
    config: str
    data: str | None


@pytest.fixture
def hardware_ports(request) -> HardwarePorts:
    """The real module's ports from --port / --data-port; skips with how to run it otherwise."""
    port = request.config.getoption("--port")
    if not port:
        pytest.skip(HARDWARE_HOWTO)
    return HardwarePorts(port, request.config.getoption("--data-port"))


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray with 2 CPUs for one test module, started by `host.scale.cluster` as the CLI
    starts it (the module skips first when Ray is not installed)."""
    from host.scale import cluster

    with cluster(None, 2) as c:
        yield c


@dataclass(frozen=True)
class SigningKeys:
    """ed25519 key pairs (PEM files) from `host.bundle.generate_keys`: ``key`` / ``pub`` are the
    ones a board under test trusts (``key.parent`` holds just this pair); ``other_key`` signs
    bundles it must refuse."""

    key: Path
    pub: Path
    other_key: Path


@pytest.fixture(scope="session")
def signing_keys(tmp_path_factory) -> SigningKeys:
    from host.bundle import generate_keys

    d = tmp_path_factory.mktemp("signing-keys")
    key, pub = generate_keys(d / "trusted")
    other_key, _ = generate_keys(d / "other")
    return SigningKeys(key, pub, other_key)
