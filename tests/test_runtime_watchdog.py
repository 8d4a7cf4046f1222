"""Watchdog: a run whose module goes silent, never starts, or whose port goes away.

Each case failed before the watchdog: a module reset by DTR/RTS while its port stays showed
`frames 0` forever; `--seconds` never returned when no frame came; the status line froze
during a disconnect; a pty simulator restarted under new names was retried under the old
ones forever; the summary said "0 lost" after a silent stretch. Every run here has a safety
stop (the pre-watchdog behaviour would hang); the assertions say which stop ended it.
"""

import dataclasses
import os
import threading
import time

import pytest

from boards import RadarSection
from edge.dsp.config import DspConfig
from edge.link import ReaderConfig, open_port
from edge.runtime import RunConfig, run_edge, with_ports
from edge.runtime import portlock
from edge.store import SessionReader
from runtime_rig import BeatModel, Unplug, serve, sim_profile

SAFETY_S = 60.0


@pytest.fixture(autouse=True)
def _lock_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(portlock.LOCK_DIR_ENV, str(tmp_path / "locks"))


def _run(prof, cfg, on_status=None, **kw):
    """run_edge with a safety stop after SAFETY_S of wall clock (then stopped_by == 'signal')."""
    stop = threading.Event()
    timer = threading.Timer(SAFETY_S, stop.set)
    timer.start()
    statuses = []

    def st(s):
        statuses.append(s)
        if on_status is not None:
            on_status(s)

    try:
        summary = run_edge(prof, BeatModel(DspConfig.from_profile(prof)), cfg, stop, status_out=False,
                           on_status=st, **kw)
    finally:
        timer.cancel()
    return summary, statuses


def _events(path, kind):
    with SessionReader(path) as r:
        return [e for e in r.events() if e.kind == kind]


def test_module_reset_with_port_present_is_restarted_by_the_watchdog(tmp_path):
    """A DTR/RTS reset: the ports stay, the module stops streaming and forgets its cfg."""
    with serve(speed=4.0) as server:
        prof = with_ports(sim_profile(), server.ports.config, server.ports.data)
        box = {"reset_at": None}

        def on_status(st):
            if box["reset_at"] is None and st.frames >= 600:
                box["reset_at"] = st.frames
                server.power_cycle()

        cfg = RunConfig(tmp_path / "s.db", seconds=30.0, status_interval_s=0.25, watchdog_s=1.0)
        summary, statuses = _run(prof, cfg, on_status)
    assert summary.stopped_by == "seconds"
    alerts = [s.alert for s in statuses if s.alert]
    assert any(a.startswith("NO FRAMES") for a in alerts), alerts
    assert "NO FRAMES" in next(s.line() for s in statuses if s.alert)
    assert statuses[-1].alert == ""  # frames flow again
    wd = _events(tmp_path / "s.db", "watchdog")
    assert wd[0].detail.startswith("no frame for") and "re-sending the .cfg (re-send 1;" in wd[0].detail
    assert wd[-1].detail.startswith("frames back after")
    rc = _events(tmp_path / "s.db", "reconfigure")
    assert any(e.detail.startswith("cfg re-sent by the watchdog") for e in rc)
    assert summary.frames_received > box["reset_at"] + 500  # streaming again after the reset
    assert summary.frames_lost >= 100  # the silent stretch, counted by the host clock


def test_module_that_never_starts_still_ends_and_counts_the_loss(tmp_path):
    """A .cfg without sensorStart: `seconds` ends the run by the wall clock; the watchdog
    re-sends with a doubling interval; the summary does not say 0 lost."""
    base = sim_profile()
    cfg_file = tmp_path / "no_start.cfg"
    cfg_file.write_text("".join(line for line in base.cfg_path.read_text().splitlines(True)
                                if not line.startswith("sensorStart")))
    with serve(speed=1.0) as server:
        prof = with_ports(base, server.ports.config, server.ports.data)
        prof = dataclasses.replace(prof, radar=RadarSection(str(cfg_file)))
        cfg = RunConfig(tmp_path / "s.db", seconds=3.0, status_interval_s=0.2, watchdog_s=0.5,
                        watchdog_first_s=0.5)
        summary, statuses = _run(prof, cfg)
    assert summary.stopped_by == "seconds" and summary.frames_received == 0
    assert summary.frames_lost >= 200  # ~3 s at 100 Hz that never came
    wd = _events(tmp_path / "s.db", "watchdog")
    assert [e.detail.split("(re-send ")[1][:1] for e in wd] == ["1", "2"][:len(wd)] and len(wd) >= 2
    assert "next after 1 s more" in wd[0].detail and "next after 2 s more" in wd[1].detail
    assert wd[1].duration_s > wd[0].duration_s
    assert any("cfg re-sent 2x" in s.alert for s in statuses)
    drops = _events(tmp_path / "s.db", "drop")
    assert drops and "no frame in the last" in drops[-1].detail


def test_disconnect_shows_in_status_and_a_run_ending_disconnected_counts_its_loss(tmp_path):
    link = tmp_path / "ttyRADAR"
    with serve(speed=2.0) as server:
        proxy = Unplug(server.ports.data, link)
        prof = with_ports(sim_profile(), server.ports.config, str(link))

        def on_status(st):
            if st.frames >= 500 and proxy._off_until is None:
                proxy.unplug(1e6)  # and never back

        cfg = RunConfig(tmp_path / "s.db", seconds=9.0, status_interval_s=0.25,
                        reader=ReaderConfig(backoff_first_s=0.05, backoff_max_s=0.2))
        try:
            summary, statuses = _run(prof, cfg, on_status, open_data=lambda: open_port(str(link), 921600))
        finally:
            proxy._off_until = None
            proxy._stop.set()
    assert summary.stopped_by == "seconds"
    assert any(s.alert.startswith("DISCONNECTED") for s in statuses)
    assert "| DISCONNECTED" in next(s.line() for s in statuses if s.alert)
    assert summary.frames_lost >= 100
    drops = _events(tmp_path / "s.db", "drop")
    assert "no frame in the last" in drops[-1].detail and "port gone" in drops[-1].detail
    assert summary.frames_lost == sum(d.count for d in drops)


class Replug(Unplug):
    """An unplug after which the stable name points at another device (the old pty's number
    stays taken, as a replugged USB adapter may come back as ttyUSB1)."""

    kept: list = []

    def unplug(self, seconds: float):
        with self._lock:
            os.unlink(self.link)
            os.close(self._m)
            self.kept.append(self._s)
            self._off_until = time.monotonic() + seconds


def test_stable_name_is_re_resolved_and_locked_on_reconnect(tmp_path):
    """A symlinked port (like /dev/serial/by-id/...) pointing at a new device after a replug."""
    link = tmp_path / "ttyRADAR"
    seen = {}
    with serve(speed=4.0) as server:
        proxy = Replug(server.ports.data, link)
        first = os.path.realpath(link)
        prof = with_ports(sim_profile(), server.ports.config, str(link))

        def on_status(st):
            if st.frames >= 500 and not seen:
                seen["unplugged"] = True
                proxy.unplug(0.5)
            elif seen and link.exists() and os.path.realpath(link) != first and not st.alert:
                target = os.path.realpath(link)
                seen.setdefault("holder", (target, portlock.holder(target)))

        cfg = RunConfig(tmp_path / "s.db", seconds=30.0, status_interval_s=0.25,
                        reader=ReaderConfig(backoff_first_s=0.05, backoff_max_s=0.2))
        try:
            summary, _ = _run(prof, cfg, on_status, open_data=lambda: open_port(str(link), 921600))
        finally:
            proxy.close()
            for fd in proxy.kept:
                os.close(fd)
    assert summary.stopped_by == "seconds" and summary.reconnects == 1
    target, pid = seen["holder"]
    assert target != first and pid == os.getpid()  # the new device is this run's too
    rec = _events(tmp_path / "s.db", "reconnect")
    assert f"{link} -> {target}" in rec[0].detail


def test_pty_simulator_restarted_under_new_names_ends_the_run(tmp_path):
    """Given the simulator's own pty names: when it goes, the run ends (its names never come back)."""
    closing = []
    with serve(speed=4.0) as server:
        prof = with_ports(sim_profile(), server.ports.config, server.ports.data)

        def on_status(st):
            if st.frames >= 400 and not closing:  # the simulator goes (and would come back as new ptys)
                closing.append(threading.Thread(target=server.close, daemon=True))
                closing[0].start()

        summary, _ = _run(prof, RunConfig(tmp_path / "s.db", seconds=120.0, status_interval_s=0.25), on_status)
        closing[0].join(10)
    assert summary.stopped_by == "port lost"
    ev = _events(tmp_path / "s.db", "session")
    assert "pseudo-terminal and it is gone" in ev[-2].detail
    assert _events(tmp_path / "s.db", "disconnect")
