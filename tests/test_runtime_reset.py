"""The module resets while its data cable is out (USB replug): the run must re-send the .cfg.

After a real IWR6843 reset the ports come back but the sensor is stopped with no config;
the simulator's ``ModuleServer.power_cycle`` does the same. The data port goes through the
`Unplug` proxy of runtime_rig, so the reader sees the port vanish and come back.
"""

import numpy as np

from edge.store import SessionReader
from runtime_rig import run_with_unplug, serve, sim_profile


def test_reset_mid_run_resends_cfg(tmp_path):
    def replug(proxy):  # ~8 s of stream in: replug the cable, the module resets
        proxy.unplug(1.0)
        server.power_cycle()

    with serve(speed=4.0) as server:
        summary = run_with_unplug(tmp_path, server, replug, reconfigure_after_s=1.0)
        assert server.module.running or server.module.config is not None  # it was configured again
    assert summary.stopped_by == "seconds" and summary.reconnects == 1
    assert summary.events.get("reconfigure", 0) >= 1
    with SessionReader(tmp_path / "s.db") as r:
        ev = r.events()
        disc = [e for e in ev if e.kind == "disconnect"]
        rec = [e for e in ev if e.kind == "reconnect"]
        reconf = [e for e in ev if e.kind == "reconfigure"]
        assert len(disc) == 1 and len(rec) == 1
        assert reconf and reconf[-1].detail.startswith("cfg re-sent after reconnect"), [e.detail for e in reconf]
        gap_t = disc[0].t_s
        assert all(e.t_s >= gap_t for e in reconf)
        fn = np.array([f.frame_number for f in r.frames()])
        assert len(fn) == summary.frames_received
        restarts = np.flatnonzero(np.diff(fn) < 0)
        assert len(restarts) == 1, "the module's frame counter restarts once, at the reset"
        assert len(fn) - restarts[0] - 1 > 500 and fn[restarts[0] + 1] <= 2  # frames flow again, from the start
        drops = [e for e in ev if e.kind == "drop"]
        # the silent stretch (unplug 1 s + 1 s wait + cfg) is counted by the host clock
        assert summary.frames_lost == sum(d.count for d in drops) >= 150
        blocks = list(r.ecg_blocks())
        assert any(b.t0_s > gap_t + 3 for b in blocks), "no ECG after the reset"
        beats_after = [b for b in r.beats() if b.t_s > gap_t]
        assert beats_after and np.isnan(beats_after[0].rr_s)  # no RR across the gap
        assert r.metadata()["closed_cleanly"] is True


def test_reconfigure_failures_are_events_and_retried():
    """A config port that cannot be opened: every attempt is an outcome, retried with back-off."""
    import time

    from edge.runtime.watcher import Reconfigure

    calls = []

    def open_config():
        calls.append(time.monotonic())
        raise OSError("config port gone")

    rc = Reconfigure(open_config, sim_profile().cfg_path, backoff_first_s=0.05, backoff_max_s=0.1)
    rc.start()
    time.sleep(0.4)
    rc.cancel(wait=True)
    assert not rc.busy
    outcomes = []
    while not rc.outcomes.empty():
        outcomes.append(rc.outcomes.get())
    assert len(outcomes) == len(calls) >= 3 and not any(ok for ok, _ in outcomes)
    assert "OSError: config port gone" in outcomes[0][1]
    gaps = np.diff(calls)
    assert gaps[0] >= 0.04 and gaps[-1] <= 0.2  # doubling from 0.05 s, capped at 0.1 s
