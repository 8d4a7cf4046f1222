"""Soak: 8 h of simulated time through the whole runtime, as fast as it runs (slow-marked).

Simulator (fast front end) on ptys at speed 0 -> `run_edge` with the shipped int8 model ->
session file. Checks: every
frame the module sent is received or counted in a drop/overflow event; the session closes
cleanly; the resident set size is flat -- the slope of a line fitted to RSS against
session time over the second half of the run is printed (MB per simulated hour); over
that half the fitted line must grow less than 8 MB (2 MB/h for the 8-h run). The raw-frame archive is off here (8 h of packets is ~2.4 GB of disk);
the store's own growth is bounded by SQLite, not by this process's memory.

    CARDIORADAR_SOAK_HOURS=0.2 pytest -m slow tests/test_runtime_soak.py -s   # a shorter soak
"""

import os

import numpy as np
import pytest

from boards import load_profile
from edge.dsp.config import DspConfig
from edge.runtime import CoreConfig, RunConfig, run_edge, with_ports
from edge.runtime.model import load_model
from edge.runtime.run import rss_mb
from edge.store import SessionReader
from hardware_sim.record import build_module
from hardware_sim.serial_io import ModuleServer


@pytest.mark.slow
@pytest.mark.timeout(4 * 3600)
def test_soak_memory_flat_and_no_silent_loss(tmp_path):
    hours = float(os.environ.get("CARDIORADAR_SOAK_HOURS", "8"))
    profile = load_profile("sim")
    module, _ = build_module("healthy-rest", seed=11, mode="fast", batch_frames=50)
    samples = []  # (session time s, rss MB)
    with ModuleServer(module, transport="pty", speed=0.0) as server:
        prof = with_ports(profile, server.ports.config, server.ports.data)
        cfg = RunConfig(tmp_path / "soak.db", seconds=hours * 3600, status_interval_s=1.0,
                        core=CoreConfig(archive_raw=False))
        # the shipped int8 model, as on a board
        summary = run_edge(prof, load_model(profile, None, DspConfig.from_profile(profile)), cfg, status_out=False,
                           on_status=lambda st: samples.append((st.t_s, rss_mb())))
        sent = server.frames_sent
    t, rss = np.array(samples).T
    half = t >= t[-1] / 2
    slope_mb_per_h = float(np.polyfit(t[half] / 3600, rss[half], 1)[0])
    print(f"\nsoak {hours:g} h: {summary.frames_received} frames received, {summary.frames_lost} lost "
          f"(in events), wall {summary.wall_s:.0f} s ({hours * 3600 / summary.wall_s:.0f}x real time); "
          f"RSS {rss[half].min():.0f}..{rss.max():.0f} MB, slope over the 2nd half {slope_mb_per_h:+.2f} MB/h; "
          f"latency p95 {summary.latency_p95_s:.2f} s")
    assert summary.stopped_by == "seconds"
    # the module may have sent a few frames past the stop: those are neither received nor lost
    assert summary.frames_received + summary.frames_lost <= sent
    assert sent - (summary.frames_received + summary.frames_lost) <= 600  # the reader's queue at the stop
    with SessionReader(tmp_path / "soak.db") as r:
        assert r.metadata()["closed_cleanly"] is True
        lo, hi = r.ecg_time_range()
        assert hi > hours * 3600 - 10
    # flat: what the fitted line grows over the second half stays within allocator noise (8 MB;
    # for the 8-h run that is a slope under 2 MB per simulated hour)
    assert abs(slope_mb_per_h) * hours / 2 < 8.0
