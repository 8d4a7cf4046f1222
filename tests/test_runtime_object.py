"""`Runtime` driven by hand (start / step / stop), as a caller that owns its loop uses it."""

import os
import threading

import pytest

from edge.dsp.config import DspConfig
from edge.runtime import RunConfig, Runtime, portlock, with_ports
from edge.store import SessionReader
from runtime_rig import BeatModel, serve, sim_profile


@pytest.fixture(autouse=True)
def _lock_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(portlock.LOCK_DIR_ENV, str(tmp_path / "locks"))


def test_runtime_start_step_stop(tmp_path):
    """Steps until 1000 frames (10 s), then a stop event: step says the run is over, stop closes the
    session cleanly with the frames it counted and releases the port locks."""
    profile = sim_profile()
    stop = threading.Event()
    with serve(speed=0.0) as server:
        prof = with_ports(profile, server.ports.config, server.ports.data)
        rt = Runtime(prof, BeatModel(DspConfig.from_profile(profile)), RunConfig(tmp_path / "s.db"), stop,
                     status_out=False).start()
        try:
            assert portlock.holder(server.ports.data) == os.getpid()
            while rt.core.frames_received < 1000:
                assert rt.step(), rt.stopped_by
            stop.set()
            assert rt.step() is False and rt.stopped_by == "signal"
            assert rt.step() is False  # over stays over
        finally:
            summary = rt.stop()
        assert rt.stop() is summary  # once
        assert portlock.holder(server.ports.data) is None
    assert summary.stopped_by == "signal" and summary.frames_received >= 1000
    assert summary.frames_lost == 0 and summary.ecg_blocks == rt.ecg_blocks > 0
    r = SessionReader(tmp_path / "s.db")
    assert r.metadata()["closed_cleanly"] is True
    kinds = [e.kind for e in r.events()]
    assert kinds[0] == "session" and kinds[-1] == "session"
