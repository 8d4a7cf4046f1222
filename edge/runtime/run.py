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
from edge.link.types import DISCONNECT, RECONNECT, RadarFrame
from edge.runtime import portlock
from edge.runtime.core import CoreConfig, EdgeCore, Output
from edge.runtime.live import LiveSink, Status, event_message, result_messages
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


class _Reconfigure:
    """Re-sends the board's .cfg on its own thread (the processing loop never waits on the
    config UART); each attempt's outcome becomes a 'reconfigure' event the loop collects."""

    def __init__(self, open_config: Callable, cfg_path: Path, backoff_first_s: float, backoff_max_s: float):
        self._open_config, self._cfg_path = open_config, cfg_path
        self._backoff = (backoff_first_s, backoff_max_s)
        self.outcomes: queue.SimpleQueue[tuple[bool, str]] = queue.SimpleQueue()
        self._cancel = threading.Event()
        self._t: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return self._t is not None and self._t.is_alive()

    def start(self, reason: str = "after reconnect") -> None:
        self._cancel.clear()
        self._reason = reason
        self._t = threading.Thread(target=self._run, name="edge-reconfigure", daemon=True)
        self._t.start()

    def cancel(self, wait: bool = False) -> None:
        """Stop retrying (frames are back, or the run ends); an attempt under way finishes."""
        self._cancel.set()
        if wait and self._t is not None:
            self._t.join()

    def _run(self) -> None:
        delay_s, max_s = self._backoff
        attempt = 0
        while not self._cancel.is_set():
            attempt += 1
            try:
                port = self._open_config()
                try:
                    res = send_cfg(port, self._cfg_path)
                finally:
                    port.close()
            except Exception as e:  # any failure is an event and a retry, never a crash
                log.warning("cfg re-send attempt %d failed: %s", attempt, e)
                self.outcomes.put((False, f"attempt {attempt} failed: {type(e).__name__}: {e}; "
                                          f"retry in {delay_s:.1f} s"))
                if self._cancel.wait(delay_s):
                    return
                delay_s = min(max_s, delay_s * 2)
                continue
            log.info("module re-configured after a reset (attempt %d)", attempt)
            self.outcomes.put((True, f"cfg re-sent {getattr(self, '_reason', 'after reconnect')} (attempt {attempt}, "
                                     f"{len(res.answers)} commands)"))
            return


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
    """
    # One tester, one radar: refuse before anything touches the ports or makes a file.
    with portlock.acquire({"config": profile.ports.config, "data": profile.ports.data}) as locks:
        return _run_locked(profile, model, cfg, stop, locks, open_data=open_data, open_config=open_config,
                           status_out=status_out, live_out=live_out, on_status=on_status, web=web)


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


def _run_locked(profile, model, cfg: RunConfig, stop: threading.Event | None, locks: portlock.PortLocks, *,
                open_data, open_config, status_out, live_out, on_status, web=None) -> RunSummary:
    stop = stop or threading.Event()
    status_out = status_out if status_out is not None else sys.stderr
    dsp_cfg = DspConfig.from_profile(profile)
    path = Path(cfg.session_path)
    if path.exists():
        raise ConfigError(f"--session {path}: already exists; choose a new file")
    path.parent.mkdir(parents=True, exist_ok=True)
    data_port = _Tracked("data", profile.ports.data, open_data or (lambda: open_data_port(profile)), locks)
    open_config = open_config or (lambda: open_config_port(profile))
    meta = {"board": profile.name, "frame_rate_hz": dsp_cfg.fs_hz, "window_samples": dsp_cfg.window_samples,
            "hop_samples": dsp_cfg.hop_samples, "lag_samples": dsp_cfg.lag_samples, "data_port": profile.ports.data,
            **cfg.metadata}
    if getattr(model, "path", None) is not None:  # which model made the night, byte for byte (exports show it)
        meta.setdefault("model_sha256", file_sha256(Path(model.path)))
    core = EdgeCore(dsp_cfg, model, cfg.core)
    live = LiveSink(cfg.live, stdout=live_out)
    live = web.tee(live) if web is not None else live  # the browser view gets the same records
    reader = FrameReader(data_port, FrameDecoder(DecoderConfig.from_profile(profile)), cfg.reader)
    writer = SessionWriter(path, meta)
    store = _Store(writer, cfg.store_queue)
    reconf = _Reconfigure(open_config, profile.cfg_path, cfg.reconfigure_backoff_first_s,
                          cfg.reconfigure_backoff_max_s)
    watch = _Watch(cfg)
    counts: dict[str, int] = {}
    blocks = [0, 0]
    t_wall0 = time.monotonic()
    stopped_by = "stop"

    def dispatch(outs: list[Output]) -> None:
        for o in outs:
            store.put(o)
            if o.result is not None:
                blocks[0] += 1
                blocks[1] += int(o.result.block.excluded)
                for m in result_messages(o.result):
                    live.send(m)
            elif o.event is not None:
                counts[o.event.kind] = counts.get(o.event.kind, 0) + 1
                live.send(event_message(o.event))

    def event(kind: str, detail: str, **kw) -> None:
        dispatch([Output(event=SessionEvent(core.t_s, kind, detail, **kw))])

    def status() -> Status:
        v = core.last_vitals
        size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
        return Status(core.t_s, v.hr_bpm if v else float("nan"), v.br_bpm if v else float("nan"),
                      v.quality if v else float("nan"), v.source if v else "-", core.frames_received,
                      core.frames_lost, sum(counts.values()),
                      blocks[1] * dsp_cfg.hop_samples / dsp_cfg.fs_hz,
                      size / 1e6, core.latency.quantile_s(0.95), live.dropped, watch.alert(time.monotonic()))

    try:
        event("session", f"start: board {profile.name}, data port {profile.ports.data}")
        reader.start()
        if cfg.send_cfg:
            port = open_config()
            try:
                send_cfg(port, profile.cfg_path)
            finally:
                port.close()
        watch.started(time.monotonic())
        next_status = time.monotonic() + cfg.status_interval_s
        next_disk = time.monotonic()
        while True:
            now = time.monotonic()
            if stop.is_set():
                stopped_by = "signal"
                break
            if cfg.min_free_mb > 0 and now >= next_disk:
                next_disk = now + 1.0
                free_mb = shutil.disk_usage(path.parent).free / 1e6
                if free_mb < cfg.min_free_mb:
                    log.error("only %.0f MB free on the session's disk (< %.0f MB): stopping", free_mb,
                              cfg.min_free_mb)
                    event("disk", f"only {free_mb:.0f} MB free on the session's disk (guard {cfg.min_free_mb:.0f} MB):"
                                  " session closed before the disk fills")
                    stopped_by = "disk space"
                    break
            if cfg.seconds is not None and core.t_s + watch.silent_s(now) >= cfg.seconds:
                # session time, and the wall clock while no frame comes: a module that never
                # starts (or a port that never comes back) still ends the run
                stopped_by = "seconds"
                break
            item = reader.get(0.05)
            dispatch(core.idle() if item is None else core.feed(item))
            now = time.monotonic()
            kind = getattr(item, "kind", None)
            if reader.last_frame_s is not None and reader.last_frame_s > watch.last_frame:
                # the link's own arrival clock: a loop behind on its queue is no silent module
                back = watch.frame(reader.last_frame_s)
                if back is not None:
                    event("watchdog", f"frames back after {back:.1f} s without any", duration_s=back)
            if isinstance(item, RadarFrame):
                reconf.cancel()
            elif kind == DISCONNECT:
                watch.disconnect(now)
                if data_port.plain_pty:
                    event("session", f"data port {profile.ports.data} is a pseudo-terminal and it is gone: its "
                                     "name never comes back (a restarted simulator has new names; give the new "
                                     "names, or stable symlinks); ending the run")
                    stopped_by = "port lost"
                    break
            elif kind == RECONNECT:
                watch.reconnect(now)
            for why in watch.due(now, can_resend=cfg.send_cfg and not reconf.busy):
                if why == "reconnect":
                    log.warning("no frame %.1f s after reconnect: re-sending %s", cfg.reconfigure_after_s,
                                profile.cfg_path)
                    reconf.start("after reconnect")
                else:
                    silent = watch.silent_s(now, at_least_s=0.0)
                    action = (f"re-sending the .cfg (re-send {watch.resends}; next after {watch.interval_s:.0f} s "
                              "more)") if cfg.send_cfg else "not re-sending the .cfg (--no-cfg)"
                    log.warning("watchdog: no frame for %.1f s: %s", silent, action)
                    event("watchdog", f"no frame for {silent:.1f} s (sensor stopped, module reset or cable?): "
                                      f"{action}", duration_s=silent)
                    if cfg.send_cfg:
                        reconf.start("by the watchdog")
            while True:
                try:
                    ok, detail = reconf.outcomes.get_nowait()
                except queue.Empty:
                    break
                event("reconfigure", detail)
            for text in web.markers() if web is not None else ():
                event("marker", text)  # typed in the web view: an annotation in the exports
            if cfg.status_interval_s > 0 and now >= next_status:
                next_status += cfg.status_interval_s
                st = status()
                live.send(st.message())
                if on_status is not None:
                    on_status(st)
                if status_out is not False:
                    print(st.line(), file=status_out, flush=True)
    finally:
        silent = watch.silent_s(time.monotonic())  # before the slow part of the stop
        reader.stop()
        reconf.cancel(wait=True)  # the config UART is free for sensorStop below
        while True:
            try:
                event("reconfigure", reconf.outcomes.get_nowait()[1])
            except queue.Empty:
                break
        # frames already read are processed; none is left behind without an event
        while (item := reader.get(0)) is not None:
            if cfg.seconds is None or not (hasattr(item, "heatmap_iq") and core.t_s >= cfg.seconds):
                dispatch(core.feed(item))
        dispatch(core.finish())
        for text in web.markers() if web is not None else ():
            event("marker", text)
        # a run that ends while no frame comes (module silent, port gone) lost those frames:
        # count them by the host clock, so the summary never says "0 lost" after a silent stretch
        if silent > 0:
            missing = int(round(silent * dsp_cfg.fs_hz))
            core.frames_lost += missing
            event("drop", f"~{missing} frames missing by the host clock: no frame in the last {silent:.1f} s "
                          f"of the run ({watch.state()})", count=missing, duration_s=silent)
        if cfg.send_cfg and cfg.stop_sensor and stopped_by != "port lost":
            _stop_sensor(open_config)
        lat = core.latency
        summary = RunSummary(path, core.frames_received, core.frames_lost, core.frames_filled, core.windows,
                             blocks[0], blocks[1], dict(counts), reader.reconnects, lat.quantile_s(0.5),
                             lat.quantile_s(0.95), lat.max_s, stopped_by, time.monotonic() - t_wall0)
        event("session", f"stop ({stopped_by}): {core.frames_received} frames, {core.frames_lost} lost, "
                         f"latency p50 {lat.quantile_s(0.5):.2f} s p95 {lat.quantile_s(0.95):.2f} s "
                         f"max {lat.max_s:.2f} s")
        store.close()
        try:
            writer.close()
        except Exception as e:  # e.g. the disk is full: the error that stopped the run is the one to report
            log.warning("session %s not closed cleanly: %s", path, e)
        live.close()
    log.info("run finished: %s", summary)
    return summary


class _Watch:
    """The link's health as the processing loop sees it (monotonic seconds): when the last
    frame came, whether the port is gone, and when the .cfg is due again.

    Re-send rules (`due`): after a 'reconnect' with no frame for ``reconfigure_after_s``
    (a replug reset the module); otherwise, with the port present, no frame for
    ``watchdog_s``, then again after 2x, 4x ... that interval (capped at
    ``watchdog_max_s``) while the silence lasts. A silence counts as one only past
    ``silence_floor_s`` (a gap shorter than that is a frame period or a slow loop)."""

    silence_floor_s = 1.0

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        self.last_frame: float | None = None
        self.disconnected_at: float | None = None
        self.reconnected_at: float | None = None
        self.alerted = False
        self.resends = 0
        self.interval_s = cfg.watchdog_s or 0.0
        self.next_at: float | None = None

    def started(self, now: float) -> None:
        self.last_frame = now
        self._arm(now, first=True)

    def _arm(self, now: float, first: bool = False) -> None:
        w = self.cfg.watchdog_s
        self.interval_s = (max(w, self.cfg.watchdog_first_s) if first else w) if w else 0.0
        self.next_at = now + self.interval_s if w else None

    def frame(self, now: float) -> float | None:
        """A frame came; returns how long frames were missing if the watchdog had fired."""
        back = now - self.last_frame if self.alerted and self.last_frame is not None else None
        self.last_frame, self.disconnected_at, self.reconnected_at = now, None, None
        self.alerted, self.resends = False, 0
        self._arm(now)
        return back

    def disconnect(self, now: float) -> None:
        self.disconnected_at = now

    def reconnect(self, now: float) -> None:
        self.disconnected_at, self.reconnected_at = None, now

    def silent_s(self, now: float, at_least_s: float | None = None) -> float:
        if self.last_frame is None:
            return 0.0
        s = now - self.last_frame
        return s if s >= (self.silence_floor_s if at_least_s is None else at_least_s) else 0.0

    def due(self, now: float, can_resend: bool) -> list[str]:
        if self.last_frame is None or self.disconnected_at is not None:
            return []  # the reader is reopening the port; the .cfg follows its return
        ra = self.cfg.reconfigure_after_s
        if self.reconnected_at is not None and ra is not None and self.cfg.send_cfg:
            if can_resend and now - self.reconnected_at >= ra:
                self.reconnected_at = None  # one re-send sequence per silent reconnect
                self.next_at = now + max(self.interval_s, ra)
                self.alerted = True
                return ["reconnect"]
            return []
        if self.next_at is None or now < self.next_at or not (can_resend or not self.cfg.send_cfg):
            return []
        self.alerted = True
        self.resends += 1
        self.interval_s = min(self.cfg.watchdog_max_s, (self.cfg.watchdog_s or 0.0) * 2 ** self.resends)
        self.next_at = now + self.interval_s
        return ["watchdog"]

    def state(self) -> str:
        return "port gone" if self.disconnected_at is not None else "port open, module silent"

    def alert(self, now: float) -> str:
        """The status line's warning: empty while frames flow."""
        if self.disconnected_at is not None:
            return f"DISCONNECTED {now - self.disconnected_at:.0f} s"
        s = self.silent_s(now)
        if s <= 0:
            return ""
        resent = f", cfg re-sent {self.resends}x" if self.resends else ""
        return f"NO FRAMES {s:.0f} s{resent}"


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
