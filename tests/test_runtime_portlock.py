"""One tester, one radar: a second `edge run` on the same ports is refused, the first is untouched.

Before the port lock, the second run re-sent the .cfg (the module restarted) and read from
the first run's data port: both lost frames and both exited 0.
"""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edge.dsp.config import DspConfig
from edge.runtime import RunConfig, run_edge, with_ports
from edge.runtime import portlock
from edge.store import SessionReader
from runtime_rig import BeatModel, serve, sim_profile

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _lock_dir(tmp_path, monkeypatch):
    d = tmp_path / "locks"
    monkeypatch.setenv(portlock.LOCK_DIR_ENV, str(d))
    return d


def _cli(*args, env=None, timeout=180):
    return subprocess.run([sys.executable, "-m", "cardioradar", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _wait(cond, timeout_s=60.0):
    t_end = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < t_end, "condition not reached"
        time.sleep(0.02)


def test_second_run_on_the_same_ports_is_refused_first_loses_nothing(tmp_path):
    """Two `edge run` on one simulator port pair: the second (the CLI, as documented) is refused
    with one line naming the first run's PID and a non-zero exit; the first loses 0 frames."""
    profile = sim_profile()
    frames = [0]
    # speed 0: the simulator waits for the reader (no UART overrun on a loaded CI machine),
    # so any frame lost here is the second run's doing
    with serve(speed=0.0) as server:
        prof = with_ports(profile, server.ports.config, server.ports.data)
        stop = threading.Event()
        box = {}

        def first():
            box["summary"] = run_edge(prof, BeatModel(DspConfig.from_profile(profile)),
                                      RunConfig(tmp_path / "first.db", status_interval_s=0.2), stop,
                                      status_out=False, on_status=lambda st: frames.__setitem__(0, st.frames))

        t = threading.Thread(target=first, daemon=True)
        t.start()
        try:
            _wait(lambda: frames[0] >= 300)
            second = _cli("edge", "run", "--config-port", server.ports.config, "--data-port", server.ports.data,
                          "--session", str(tmp_path / "second.db"), "--seconds", "6", "--quiet", env=os.environ)
            n_then = frames[0]
            _wait(lambda: frames[0] >= n_then + 300)  # the first run goes on streaming
        finally:
            stop.set()
            t.join(60)
    summary = box["summary"]
    assert second.returncode != 0, second.stdout + second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and f"busy: used by PID {os.getpid()}" in lines[0], second.stderr
    assert "config port" in lines[0]
    assert not (tmp_path / "second.db").exists()
    assert summary.frames_lost == 0 and summary.events.get("drop", 0) == 0
    assert summary.events.get("silent", 0) == 0 and summary.reconnects == 0
    with SessionReader(tmp_path / "first.db") as r:
        fn = np.array([f.frame_number for f in r.frames()])
        assert len(fn) == summary.frames_received >= 600
        assert np.all(np.diff(fn) == 1), "the first run's frame counter jumped or restarted"
        assert r.metadata()["closed_cleanly"] is True
    assert portlock.holder(server.ports.data) is None  # released at the end of the run


HOLD = r"""
import sys, time
from edge.runtime import portlock
locks = portlock.acquire({"config": sys.argv[1], "data": sys.argv[2]})
print("HELD", flush=True)
time.sleep(60)
"""


def test_holder_sees_a_lock_by_either_name_and_it_dies_with_the_process(tmp_path):
    dev = tmp_path / "ttyUSB0"
    dev.write_text("")
    stable = tmp_path / "by-id-radar"
    stable.symlink_to(dev)
    other = tmp_path / "ttyUSB1"
    assert portlock.holder(str(stable)) is None
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(dev), str(other)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "HELD"
        assert portlock.holder(str(dev)) == proc.pid
        assert portlock.holder(str(stable)) == proc.pid  # a stable name of the locked device
        assert portlock.holder(str(other)) == proc.pid
        assert portlock.holder(str(tmp_path / "ttyUSB2")) is None
        with pytest.raises(Exception, match=rf"data port .*by-id-radar \(as .*ttyUSB0\): busy: used by PID {proc.pid}"):
            portlock.acquire({"data": str(stable)})
    finally:
        proc.kill()
        proc.wait()
    assert portlock.holder(str(stable)) is None  # no stale lock after a crash
    with portlock.acquire({"config": str(dev), "data": str(dev)}):  # one port for both: one lock
        assert portlock.holder(str(stable)) == os.getpid()
    assert portlock.holder(str(dev)) is None


def test_urls_are_keyed_by_address():
    assert portlock.port_keys("socket://LOCALHOST:48301") == ["socket://localhost:48301"]
    assert portlock.port_keys("loop://") == []
    with portlock.acquire({"config": "socket://127.0.0.1:1", "data": "loop://"}):
        assert portlock.holder("socket://127.0.0.1:1") == os.getpid()
        assert portlock.holder("loop://") is None
