"""`cardioradar edge run`: the whole runtime with its threads, bounded queues and clean stop.

Threads and queues (every queue bounded):

    link reader thread --(FrameReader queue, 512 items: frames lost there become
        'overflow' events)--> processing loop (this thread: DSP, model, stitching,
        post-processing, status line) --(store queue, 512 items, blocking: back-pressure
        reaches the link queue)--> store thread (SessionWriter, commits <= 1 s)
                       \\--(live queue, 256 messages, drop when full)--> live sink thread

Stop: ``stop`` (an Event the CLI sets on SIGINT/SIGTERM) or ``seconds`` of session time.
The loop then stops the reader, processes what it had read, flushes the stitcher, writes
a 'session' stop event with the counts and latency figures, and closes the store cleanly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import queue
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from cardioradar.errors import ConfigError, InputDataError, TransportError
from edge.dsp.config import DspConfig
from edge.link import DecoderConfig, FrameDecoder, FrameReader, ReaderConfig, open_config_port, open_data_port, send_cfg
from edge.link.types import DISCONNECT, LinkEvent, RadarFrame
from edge.runtime import portlock
from edge.runtime.core import CoreConfig, EdgeCore, Output
from edge.runtime.live import LiveSink, Status, event_message, result_messages
from edge.runtime.watcher import LinkWatcher, WatchEvent
from edge.store import SessionWriter
from edge.types import SessionEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """session_path: the new session file. seconds: stop after this much session time
    (None: until stopped). live: '-' (stdout JSON lines), 'udp://host:port' or None.
    send_cfg: configure and start the module first. status_interval_s: 0 = no status line.
    reconfigure_after_s: after a link 'reconnect', no frame for this long means the module
    reset (USB replug, DTR/RTS toggle) and waits for its .cfg: re-send it (None: never;
    only with send_cfg). Failed attempts are retried from reconfigure_backoff_first_s,
    doubling up to reconfigure_backoff_max_s, until a frame arrives or the run stops.
    watchdog_s: with the port present, no frame for this long -> a 'watchdog' event, the
    status line says so, and the .cfg is re-sent (with send_cfg), again after 2x, 4x ...
    (capped at watchdog_max_s) while no frame comes (None: off); before the run's first frame
    it waits at least watchdog_first_s (a re-send restarts the module; a simulator's first
    frames can take seconds of JIT compile, a real module streams within a frame period of
    sensorStart). min_free_mb: below this much free space on the session's disk (checked
    every second) the run stops and closes the session cleanly (stopped_by "disk space"),
    before SQLite fails half-way through a commit (0: off). ``seconds`` counts session
    time, plus wall-clock time while no frame comes, so a silent run still ends."""

    session_path: Path
    seconds: float | None = None
    live: str | None = None
    send_cfg: bool = True
    stop_sensor: bool = True
    status_interval_s: float = 1.0
    reconfigure_after_s: float | None = 2.0
    reconfigure_backoff_first_s: float = 0.5
    reconfigure_backoff_max_s: float = 10.0
    min_free_mb: float = 64.0
    watchdog_s: float | None = 5.0
    watchdog_first_s: float = 20.0
    watchdog_max_s: float = 60.0
    store_queue: int = 512
    core: CoreConfig = field(default_factory=CoreConfig)
    reader: ReaderConfig = field(default_factory=ReaderConfig)
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunSummary:
    """What a run did. Latencies: frame arrival -> its ECG samples available, seconds."""

    session: Path
    frames_received: int
    frames_lost: int
    frames_filled: int
    windows: int
    ecg_blocks: int
    excluded_blocks: int
    events: dict
    reconnects: int
    latency_p50_s: float
    latency_p95_s: float
    latency_max_s: float
    stopped_by: str
    wall_s: float

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["session"] = str(self.session)
        return d


def with_ports(profile, config: str | None = None, data: str | None = None):
    """The profile with its config/data ports replaced (e.g. the simulator's ptys)."""
    ports = profile.ports
    ports = dataclasses.replace(ports, config=config or ports.config, data=data or ports.data)
    return dataclasses.replace(profile, ports=ports)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Store:
    """The store thread: writes `Output`s from a bounded queue into the SessionWriter."""

    def __init__(self, writer: SessionWriter, size: int):
        self.writer = writer
        self.q: queue.Queue[Output | None] = queue.Queue(size)
        self.error: BaseException | None = None
        self.reported = False
        self._t = threading.Thread(target=self._run, name="edge-store", daemon=True)
        self._t.start()

    def put(self, out: Output) -> None:
        if self.error is not None:
            if self.reported:
                return  # the run is stopping because of it: later outputs have nowhere to go
            self.reported = True
            raise InputDataError(f"session store failed: {self.error}",
                                 hint="is the session's disk full? (df -h); what was committed before is "
                                      "readable") from self.error
        self.q.put(out)  # blocks when full: back-pressure onto the link's bounded queue

    def close(self) -> None:
        self.q.put(None)
        self._t.join()

    def _run(self) -> None:
        w = self.writer
        while (o := self.q.get()) is not None:
            if self.error is not None:
                continue  # keep draining so the producer never blocks forever
            try:
                if o.raw is not None:
                    w.add_frame(o.raw)
                elif o.result is not None:
                    w.add_ecg_block(o.result.block)
                    w.add_beats(o.result.beats)
                    w.add_vitals([o.result.vitals])
                elif o.event is not None:
                    w.add_event(o.event)
            except Exception as e:  # reported to the loop at its next put, as one line (disk full is no bug)
                log.debug("session store write failed", exc_info=True)
                self.error = e


def run_edge(profile, model, cfg: RunConfig, stop: threading.Event | None = None, *,
             open_data: Callable | None = None, open_config: Callable | None = None,
             status_out: TextIO | None = None, live_out: TextIO | None = None,
             on_status: Callable[[Status], None] | None = None, web=None) -> RunSummary:
    """Run link -> DSP -> model -> post -> store + live output until ``stop`` or ``cfg.seconds``.

    ``model``: an ``edge.infer.EcgModel`` (already checked against the board's DSP settings).
    ``open_data`` / ``open_config``: transports (default: the profile's ports). ``status_out``:
    where the status line goes (default stderr; False: nowhere). ``live_out``: the stream for
    ``live='-'`` (default stdout). ``on_status``: called with each `Status`. ``web``: a started
    ``edge.web.WebView``: it gets the live records; markers typed there become 'marker' events.
    Raises ``TransportError`` ("busy: used by PID N") when another run holds a port.
    The thin form of `Runtime`: start, step until done, stop.
    """
    rt = Runtime(profile, model, cfg, stop, open_data=open_data, open_config=open_config, status_out=status_out,
                 live_out=live_out, on_status=on_status, web=web)
    rt.start()
    try:
        while rt.step():
            pass
    finally:
        summary = rt.stop()
    return summary


def _plain_pty(port: str) -> bool:
    """A pseudo-terminal given by its own name: that name dies with it (a restarted simulator
    gets new ones, and the number may go to someone else's terminal), so it is never reopened."""
    if "://" in port or os.path.islink(port):
        return False
    real = os.path.realpath(port)
    return real.startswith("/dev/pts/") or real.startswith("/dev/ttys")


class _Tracked:
    """Opens a port by the name given, re-resolved at each (re)open: a stable name
    (/dev/serial/by-id/..., any symlink) may point at another device after a replug. The
    device it now resolves to is locked too, and named in the transport (and so in the
    'reconnect' event). A plain pty that was lost is refused (see `_plain_pty`)."""

    def __init__(self, role: str, port: str, opener: Callable, locks: portlock.PortLocks):
        self.role, self.port, self._opener, self._locks = role, port, opener, locks
        self.plain_pty = _plain_pty(port)
        self.resolved = os.path.realpath(port) if "://" not in port else port
        self.opened = 0

    def __call__(self):
        if self.plain_pty and self.opened:
            raise TransportError(f"{self.role} port {self.port}: a pseudo-terminal that went away never comes back "
                                 "under its name")
        resolved = os.path.realpath(self.port) if "://" not in self.port else self.port
        if resolved != self.resolved:
            log.info("%s port %s now resolves to %s (was %s)", self.role, self.port, resolved, self.resolved)
            self._locks.add(self.role, resolved)  # busy elsewhere: raises, the reader retries later
            self.resolved = resolved
        t = self._opener()
        self.opened += 1
        if resolved != self.port and hasattr(t, "name"):
            t.name = f"{self.port} -> {resolved}"
        return t


class Runtime:
    """The edge runtime as an object: ``start()`` (port locks, session file, threads, the
    .cfg), ``step()`` (one pass of the processing loop; False once the run is over, and
    ``stopped_by`` says why), ``stop()`` (drain, flush, close; returns the `RunSummary`).
    Arguments as `run_edge`. ``stop()`` is to be called once ``start()`` returned, also after
    an error in ``step()``; it releases the port locks last."""

    def __init__(self, profile, model, cfg: RunConfig, stop: threading.Event | None = None, *,
                 open_data: Callable | None = None, open_config: Callable | None = None,
                 status_out: TextIO | None = None, live_out: TextIO | None = None,
                 on_status: Callable[[Status], None] | None = None, web=None):
        self.profile, self.model, self.cfg, self.web = profile, model, cfg, web
        self._stop_evt = stop or threading.Event()
        self._open_data = open_data
        self.open_config = open_config or (lambda: open_config_port(profile))
        self._status_out = status_out if status_out is not None else sys.stderr
        self._live_out, self._on_status = live_out, on_status
        self.dsp_cfg = DspConfig.from_profile(profile)
        self.path = Path(cfg.session_path)
        self.counts: dict[str, int] = {}  # session events by kind
        self.ecg_blocks = 0
        self.excluded_blocks = 0
        self.stopped_by: str | None = None
        self.summary: RunSummary | None = None
        self._exit = contextlib.ExitStack()

    # ------------------------------------------------------------------ start
    def start(self) -> Runtime:
        """Locks the ports (one tester, one radar: refused before anything touches the ports
        or makes a file), opens the session, starts the reader and configures the module."""
        locks = self._exit.enter_context(portlock.acquire({"config": self.profile.ports.config,
                                                           "data": self.profile.ports.data}))
        try:
            self._build(locks)
        except BaseException:
            self._exit.close()
            raise
        try:
            self._event("session", f"start: board {self.profile.name}, data port {self.profile.ports.data}")
            self.reader.start()
            if self.cfg.send_cfg:
                port = self.open_config()
                try:
                    send_cfg(port, self.profile.cfg_path)
                finally:
                    port.close()
            self.watcher.started(time.monotonic())
            self._next_status = time.monotonic() + self.cfg.status_interval_s
            self._next_disk = time.monotonic()
        except BaseException:
            self.stop()
            raise
        return self

    def _build(self, locks: portlock.PortLocks) -> None:
        profile, cfg, dsp_cfg, path = self.profile, self.cfg, self.dsp_cfg, self.path
        if path.exists():
            raise ConfigError(f"--session {path}: already exists; choose a new file")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.data_port = _Tracked("data", profile.ports.data,
                                  self._open_data or (lambda: open_data_port(profile)), locks)
        meta = {"board": profile.name, "frame_rate_hz": dsp_cfg.fs_hz, "window_samples": dsp_cfg.window_samples,
                "hop_samples": dsp_cfg.hop_samples, "lag_samples": dsp_cfg.lag_samples,
                "data_port": profile.ports.data, **cfg.metadata}
        if getattr(self.model, "path", None) is not None:  # which model made the night, byte for byte (exports show it)
            meta.setdefault("model_sha256", file_sha256(Path(self.model.path)))
        self.core = EdgeCore(dsp_cfg, self.model, cfg.core)
        live = LiveSink(cfg.live, stdout=self._live_out)
        self.live = self.web.tee(live) if self.web is not None else live  # the browser view gets the same records
        self.reader = FrameReader(self.data_port, FrameDecoder(DecoderConfig.from_profile(profile)), cfg.reader)
        self.writer = SessionWriter(path, meta)
        self.store = _Store(self.writer, cfg.store_queue)
        self.watcher = LinkWatcher(cfg, self.open_config, profile.cfg_path)
        self._t_wall0 = time.monotonic()

    # ------------------------------------------------------------------ loop
    def step(self) -> bool:
        """One pass: the stop conditions, one item from the link (or the idle work), the
        watcher, web markers, the status line. False once the run is over."""
        if self.stopped_by is not None:
            return False
        cfg, core, watcher = self.cfg, self.core, self.watcher
        now = time.monotonic()
        if self._stop_evt.is_set():
            return self._over("signal")
        if cfg.min_free_mb > 0 and now >= self._next_disk:
            self._next_disk = now + 1.0
            free_mb = shutil.disk_usage(self.path.parent).free / 1e6
            if free_mb < cfg.min_free_mb:
                log.error("only %.0f MB free on the session's disk (< %.0f MB): stopping", free_mb, cfg.min_free_mb)
                self._event("disk", f"only {free_mb:.0f} MB free on the session's disk (guard "
                                    f"{cfg.min_free_mb:.0f} MB): session closed before the disk fills")
                return self._over("disk space")
        if cfg.seconds is not None and core.t_s + watcher.silent_s(now) >= cfg.seconds:
            # session time, and the wall clock while no frame comes: a module that never
            # starts (or a port that never comes back) still ends the run
            return self._over("seconds")
        item = self.reader.get(0.05)
        self._dispatch(core.idle() if item is None else core.feed(item))
        now = time.monotonic()
        self._watch_events(watcher.observe(item, self.reader.last_frame_s, now))
        if isinstance(item, LinkEvent) and item.kind == DISCONNECT and self.data_port.plain_pty:
            self._event("session", f"data port {self.profile.ports.data} is a pseudo-terminal and it is gone: its "
                                   "name never comes back (a restarted simulator has new names; give the new "
                                   "names, or stable symlinks); ending the run")
            return self._over("port lost")
        self._watch_events(watcher.poll(now))
        self._markers()
        if cfg.status_interval_s > 0 and now >= self._next_status:
            self._next_status += cfg.status_interval_s
            st = self.status()
            self.live.send(st.message())
            if self._on_status is not None:
                self._on_status(st)
            if self._status_out is not False:
                print(st.line(), file=self._status_out, flush=True)
        return True

    def _over(self, why: str) -> bool:
        self.stopped_by = why
        return False

    # ------------------------------------------------------------------ stop
    def stop(self) -> RunSummary:
        """Stops the reader, processes the frames already read, flushes the stitcher, writes
        the 'session' stop event and closes the session; then releases the port locks."""
        if self.summary is not None:
            return self.summary
        try:
            self.summary = self._finish(self.stopped_by or "stop")
        finally:
            self._exit.close()
        log.info("run finished: %s", self.summary)
        return self.summary

    def _finish(self, stopped_by: str) -> RunSummary:
        cfg, core = self.cfg, self.core
        silent = self.watcher.silent_s(time.monotonic())  # before the slow part of the stop
        self.reader.stop()
        self._watch_events(self.watcher.finish())  # the config UART is free for sensorStop below
        # frames already read are processed; none is left behind without an event
        while (item := self.reader.get(0)) is not None:
            if cfg.seconds is None or not (isinstance(item, RadarFrame) and core.t_s >= cfg.seconds):
                self._dispatch(core.feed(item))
        self._dispatch(core.finish())
        self._markers()
        # a run that ends while no frame comes (module silent, port gone) lost those frames:
        # count them by the host clock, so the summary never says "0 lost" after a silent stretch
        if silent > 0:
            missing = int(round(silent * self.dsp_cfg.fs_hz))
            core.frames_lost += missing
            self._event("drop", f"~{missing} frames missing by the host clock: no frame in the last {silent:.1f} s "
                                f"of the run ({self.watcher.state()})", count=missing, duration_s=silent)
        if cfg.send_cfg and cfg.stop_sensor and stopped_by != "port lost":
            _stop_sensor(self.open_config)
        lat = core.latency
        summary = RunSummary(self.path, core.frames_received, core.frames_lost, core.frames_filled, core.windows,
                             self.ecg_blocks, self.excluded_blocks, dict(self.counts), self.reader.reconnects,
                             lat.quantile_s(0.5), lat.quantile_s(0.95), lat.max_s, stopped_by,
                             time.monotonic() - self._t_wall0)
        self._event("session", f"stop ({stopped_by}): {core.frames_received} frames, {core.frames_lost} lost, "
                               f"latency p50 {lat.quantile_s(0.5):.2f} s p95 {lat.quantile_s(0.95):.2f} s "
                               f"max {lat.max_s:.2f} s")
        self.store.close()
        try:
            self.writer.close()
        except Exception as e:  # e.g. the disk is full: the error that stopped the run is the one to report
            log.warning("session %s not closed cleanly: %s", self.path, e)
        self.live.close()
        return summary

    # ------------------------------------------------------------------ outputs
    def status(self) -> Status:
        """The status line's figures now."""
        core, dsp_cfg = self.core, self.dsp_cfg
        v = core.last_vitals
        size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        return Status(core.t_s, v.hr_bpm if v else float("nan"), v.br_bpm if v else float("nan"),
                      v.quality if v else float("nan"), v.source if v else "-", core.frames_received,
                      core.frames_lost, sum(self.counts.values()),
                      self.excluded_blocks * dsp_cfg.hop_samples / dsp_cfg.fs_hz,
                      size / 1e6, core.latency.quantile_s(0.95), self.live.dropped,
                      self.watcher.alert(time.monotonic()))

    def _dispatch(self, outs: list[Output]) -> None:
        for o in outs:
            self.store.put(o)
            if o.result is not None:
                self.ecg_blocks += 1
                self.excluded_blocks += int(o.result.block.excluded)
                for m in result_messages(o.result):
                    self.live.send(m)
            elif o.event is not None:
                self.counts[o.event.kind] = self.counts.get(o.event.kind, 0) + 1
                self.live.send(event_message(o.event))

    def _event(self, kind: str, detail: str, **kw) -> None:
        self._dispatch([Output(event=SessionEvent(self.core.t_s, kind, detail, **kw))])

    def _watch_events(self, events: list[WatchEvent]) -> None:
        for e in events:
            self._event(e.kind, e.detail, duration_s=e.duration_s)

    def _markers(self) -> None:
        for text in self.web.markers() if self.web is not None else ():
            self._event("marker", text)  # typed in the web view: an annotation in the exports


def _stop_sensor(open_config: Callable) -> None:
    """Best effort: tell the module to stop streaming (the run is over either way)."""
    try:
        port = open_config()
        try:
            port.write(b"sensorStop\n")
            time.sleep(0.05)
        finally:
            port.close()
    except Exception as e:  # a vanished module must not turn a clean stop into an error
        log.warning("sensorStop not sent: %s", e)


def peak_rss_mb() -> float:
    """Peak resident set size of this process, MB (Linux ru_maxrss is in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb() -> float:
    """Current resident set size, MB (from /proc; NaN where there is none)."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return float("nan")
