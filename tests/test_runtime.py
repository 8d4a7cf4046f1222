"""The edge runtime end to end over pseudo-terminals against the simulator.

The model here is `runtime_rig.BeatModel`, a stand-in with the `edge.infer.EcgModel`
interface that draws a fixed 75-bpm ECG: the runtime's plumbing (link, clock,
DSP windows, stitching, post-processing, store, live stream, stop) is what is tested;
the shipped model's accuracy is `cardioradar demo`'s business.
"""

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edge.dsp.config import DspConfig
from edge.runtime import RunConfig, run_edge, with_ports
from edge.store import SessionReader
from runtime_rig import RR_S, BeatModel, run_with_unplug, serve, sim_profile


def test_end_to_end_over_pty(tmp_path):
    profile = sim_profile()
    live = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    live.bind(("127.0.0.1", 0))
    live.settimeout(0.01)
    got = []

    def drain():
        while True:
            try:
                got.append(json.loads(live.recv(70000)))
            except (TimeoutError, socket.timeout):
                return

    with serve(speed=0.0) as server:
        prof = with_ports(profile, server.ports.config, server.ports.data)
        cfg = RunConfig(tmp_path / "s.db", seconds=12.0, live=f"udp://127.0.0.1:{live.getsockname()[1]}",
                        status_interval_s=0.2)
        summary = run_edge(prof, BeatModel(DspConfig.from_profile(profile)), cfg, status_out=False)
    drain()
    assert summary.stopped_by == "seconds"
    assert summary.frames_received >= 1200 and summary.frames_lost == 0
    with SessionReader(tmp_path / "s.db") as r:
        meta, counts = r.metadata(), r.counts()
        assert meta["closed_cleanly"] is True and meta["board"] == "sim"
        assert counts["frames"] == summary.frames_received
        lo, hi = r.ecg_time_range()
        # no ECG for the DSP warm-up (2 s) nor past the last whole window (flushed at the stop)
        c = DspConfig.from_profile(profile)
        last_start = c.warmup_samples + (1200 - c.warmup_samples - c.window_samples - 3) // c.hop_samples * c.hop_samples
        assert lo == pytest.approx(2.0) and hi == pytest.approx((last_start + c.window_samples) / c.fs_hz)
        beats = r.beats()
        rr = np.array([b.rr_s for b in beats if np.isfinite(b.rr_s)])
        np.testing.assert_allclose(rr, RR_S, atol=0.011)
        v = r.vitals()[-1]
        assert v.source == "model" and v.hr_bpm == pytest.approx(75.0, abs=1.0)
        kinds = [e.kind for e in r.events()]
        assert kinds[0] == "session" and kinds[-1] == "session"
        fn = [f.frame_number for f in r.frames()]
        assert fn == list(range(fn[0], fn[0] + len(fn)))
    assert np.isfinite(summary.latency_p95_s) and summary.latency_p95_s < 60
    types = {m["type"] for m in got}
    assert {"ecg", "beat", "vitals", "status", "event"} <= types
    ecg = [m for m in got if m["type"] == "ecg"][0]
    assert len(ecg["ecg_mv"][0]) == 12 and ecg["fs_hz"] == 100.0


def test_disconnect_and_reconnect_mid_run(tmp_path):
    with serve(speed=4.0) as server:
        # ~8 s of stream in: pull the plug for 1.5 s (6 s of stream)
        summary = run_with_unplug(tmp_path, server, lambda proxy: proxy.unplug(1.5))
    assert summary.stopped_by == "seconds" and summary.reconnects == 1
    with SessionReader(tmp_path / "s.db") as r:
        ev = r.events()
        disc = [e for e in ev if e.kind == "disconnect"]
        rec = [e for e in ev if e.kind == "reconnect"]
        drops = [e for e in ev if e.kind == "drop"]
        assert len(disc) == 1 and len(rec) == 1 and rec[0].duration_s >= 1.0
        assert sum(d.count for d in drops) >= 400  # ~6 s at 100 Hz never reached the reader
        fn = [f.frame_number for f in r.frames()]
        # every frame from the first to the last is either archived or in a drop event
        assert len(fn) + sum(d.count for d in drops) == fn[-1] - fn[0] + 1
        blocks = list(r.ecg_blocks())
        gap_t = disc[0].t_s
        assert any(b.t0_s > gap_t + 6 for b in blocks), "no ECG after the reconnect"
        after = [b for b in r.beats() if b.t_s > gap_t]
        assert after and np.isnan(after[0].rr_s)  # no RR across the gap
        assert r.metadata()["closed_cleanly"] is True


SIGTERM_SCRIPT = r"""
import signal, sys, threading
sys.path.insert(0, sys.argv[3])
from runtime_rig import BeatModel, sim_profile
from edge.dsp.config import DspConfig
from edge.runtime import RunConfig, run_edge, with_ports
from edge.runtime.commands import install_stop_handlers
stop = threading.Event()
install_stop_handlers(stop)
p = with_ports(sim_profile(), sys.argv[1], sys.argv[2])
s = run_edge(p, BeatModel(DspConfig.from_profile(p)), RunConfig(sys.argv[4]), stop)
print("STOPPED", s.stopped_by, s.frames_received, flush=True)
"""


def test_sigterm_closes_cleanly(tmp_path):
    with serve(speed=2.0) as server:
        proc = subprocess.Popen([sys.executable, "-c", SIGTERM_SCRIPT, server.ports.config, server.ports.data,
                                 str(Path(__file__).parent), str(tmp_path / "s.db")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            line = proc.stderr.readline()  # status lines, one a second
            if line.startswith("t ") and float(line.split()[1]) > 8.0:
                break
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err[-2000:]
    assert "STOPPED signal" in out
    with SessionReader(tmp_path / "s.db") as r:
        assert r.metadata()["closed_cleanly"] is True
        assert r.counts()["ecg_blocks"] >= 2
        assert r.events()[-1].detail.startswith("stop (signal)")


def test_view_renders_the_live_stream(tmp_path):
    """`edge run --live -` output fed to the viewer: the plot and the HR line come out."""
    import io

    from edge.view import ViewConfig, render, run_view

    profile = sim_profile()
    buf = io.StringIO()
    with serve(speed=0.0) as server:
        prof = with_ports(profile, server.ports.config, server.ports.data)
        run_edge(prof, BeatModel(DspConfig.from_profile(profile)), RunConfig(tmp_path / "s.db", seconds=12.0, live="-"),
                 status_out=False, live_out=buf)
    out = io.StringIO()
    view = run_view("-", ViewConfig(width=60, height=8, redraw=False), out=out, stdin=io.StringIO(buf.getvalue()))
    text = out.getvalue()
    assert "HR 75.0 bpm (model)" in text
    assert sum(line.count("|") + line.count("*") for line in text.splitlines()[1:9]) >= 60
    assert len(view.ring) == 500
    assert render(np.array([0.0, 1.0]), 4, 3)[0].strip()  # the maximum is on the top row
