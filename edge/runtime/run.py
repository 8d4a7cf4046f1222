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
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from cardioradar.errors import ConfigError, InputDataError
from edge.dsp.config import DspConfig
from edge.link import DecoderConfig, FrameDecoder, FrameReader, ReaderConfig, open_config_port, open_data_port, send_cfg
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
    doubling up to reconfigure_backoff_max_s, until a frame arrives or the run stops."""

    session_path: Path
    seconds: float | None = None
    live: str | None = None
    send_cfg: bool = True
    stop_sensor: bool = True
    status_interval_s: float = 1.0
    reconfigure_after_s: float | None = 2.0
    reconfigure_backoff_first_s: float = 0.5
    reconfigure_backoff_max_s: float = 10.0
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
        self._t = threading.Thread(target=self._run, name="edge-store", daemon=True)
        self._t.start()

    def put(self, out: Output) -> None:
        if self.error is not None:
            raise InputDataError(f"session store failed: {self.error}") from self.error
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
            except Exception as e:  # reported to the loop at its next put
                log.exception("session store write failed")
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

    def start(self) -> None:
        self._cancel.clear()
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
            self.outcomes.put((True, f"cfg re-sent after reconnect (attempt {attempt}, "
                                     f"{len(res.answers)} commands)"))
            return


def run_edge(profile, model, cfg: RunConfig, stop: threading.Event | None = None, *,
             open_data: Callable | None = None, open_config: Callable | None = None,
             status_out: TextIO | None = None, live_out: TextIO | None = None,
             on_status: Callable[[Status], None] | None = None) -> RunSummary:
    """Run link -> DSP -> model -> post -> store + live output until ``stop`` or ``cfg.seconds``.

    ``model``: an ``edge.infer.EcgModel`` (already checked against the board's DSP settings).
    ``open_data`` / ``open_config``: transports (default: the profile's ports). ``status_out``:
    where the status line goes (default stderr; False: nowhere). ``live_out``: the stream for
    ``live='-'`` (default stdout). ``on_status``: called with each `Status`.
    """
    # One tester, one radar: refuse before anything touches the ports or makes a file.
    with portlock.acquire({"config": profile.ports.config, "data": profile.ports.data}):
        return _run_locked(profile, model, cfg, stop, open_data=open_data, open_config=open_config,
                           status_out=status_out, live_out=live_out, on_status=on_status)


def _run_locked(profile, model, cfg: RunConfig, stop: threading.Event | None, *, open_data, open_config,
                status_out, live_out, on_status) -> RunSummary:
    stop = stop or threading.Event()
    status_out = status_out if status_out is not None else sys.stderr
    dsp_cfg = DspConfig.from_profile(profile)
    path = Path(cfg.session_path)
    if path.exists():
        raise ConfigError(f"--session {path}: already exists; choose a new file")
    path.parent.mkdir(parents=True, exist_ok=True)
    open_data = open_data or (lambda: open_data_port(profile))
    open_config = open_config or (lambda: open_config_port(profile))
    meta = {"board": profile.name, "frame_rate_hz": dsp_cfg.fs_hz, "window_samples": dsp_cfg.window_samples,
            "hop_samples": dsp_cfg.hop_samples, "data_port": profile.ports.data, **cfg.metadata}
    core = EdgeCore(dsp_cfg, model, cfg.core)
    live = LiveSink(cfg.live, stdout=live_out)
    reader = FrameReader(open_data, FrameDecoder(DecoderConfig.from_profile(profile)), cfg.reader)
    writer = SessionWriter(path, meta)
    store = _Store(writer, cfg.store_queue)
    reconf = _Reconfigure(open_config, profile.cfg_path, cfg.reconfigure_backoff_first_s,
                          cfg.reconfigure_backoff_max_s)
    watch_reconnect = cfg.send_cfg and cfg.reconfigure_after_s is not None
    reconnect_at: float | None = None  # monotonic time of a reconnect not yet followed by a frame
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

    def status() -> Status:
        v = core.last_vitals
        size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
        return Status(core.t_s, v.hr_bpm if v else float("nan"), v.br_bpm if v else float("nan"),
                      v.quality if v else float("nan"), v.source if v else "-", core.frames_received,
                      core.frames_lost, sum(counts.values()),
                      blocks[1] * dsp_cfg.hop_samples / dsp_cfg.fs_hz,
                      size / 1e6, core.latency.quantile_s(0.95), live.dropped)

    try:
        dispatch([Output(event=SessionEvent(0.0, "session", f"start: board {profile.name}, data port "
                                                             f"{profile.ports.data}"))])
        reader.start()
        if cfg.send_cfg:
            port = open_config()
            try:
                send_cfg(port, profile.cfg_path)
            finally:
                port.close()
        next_status = time.monotonic() + cfg.status_interval_s
        while True:
            if stop.is_set():
                stopped_by = "signal"
                break
            if cfg.seconds is not None and core.t_s >= cfg.seconds:
                stopped_by = "seconds"
                break
            item = reader.get(0.05)
            dispatch(core.idle() if item is None else core.feed(item))
            if watch_reconnect:
                kind = getattr(item, "kind", None)
                if kind == "reconnect":
                    reconnect_at = time.monotonic()
                elif item is not None and hasattr(item, "heatmap_iq"):
                    reconnect_at = None
                    reconf.cancel()
                elif (reconnect_at is not None and not reconf.busy
                      and time.monotonic() - reconnect_at >= cfg.reconfigure_after_s):
                    reconnect_at = None  # one re-send sequence per silent reconnect
                    log.warning("no frame %.1f s after reconnect: re-sending %s", cfg.reconfigure_after_s,
                                profile.cfg_path)
                    reconf.start()
                while True:
                    try:
                        ok, detail = reconf.outcomes.get_nowait()
                    except queue.Empty:
                        break
                    dispatch([Output(event=SessionEvent(core.t_s, "reconfigure", detail))])
            if cfg.status_interval_s > 0 and time.monotonic() >= next_status:
                next_status += cfg.status_interval_s
                st = status()
                live.send(st.message())
                if on_status is not None:
                    on_status(st)
                if status_out is not False:
                    print(st.line(), file=status_out, flush=True)
    finally:
        reader.stop()
        reconf.cancel(wait=True)  # the config UART is free for sensorStop below
        while True:
            try:
                dispatch([Output(event=SessionEvent(core.t_s, "reconfigure", reconf.outcomes.get_nowait()[1]))])
            except queue.Empty:
                break
        # frames already read are processed; none is left behind without an event
        while (item := reader.get(0)) is not None:
            if cfg.seconds is None or not (hasattr(item, "heatmap_iq") and core.t_s >= cfg.seconds):
                dispatch(core.feed(item))
        dispatch(core.finish())
        if cfg.send_cfg and cfg.stop_sensor:
            _stop_sensor(open_config)
        lat = core.latency
        summary = RunSummary(path, core.frames_received, core.frames_lost, core.frames_filled, core.windows,
                             blocks[0], blocks[1], dict(counts), reader.reconnects, lat.quantile_s(0.5),
                             lat.quantile_s(0.95), lat.max_s, stopped_by, time.monotonic() - t_wall0)
        dispatch([Output(event=SessionEvent(core.t_s, "session",
                                            f"stop ({stopped_by}): {core.frames_received} frames, "
                                            f"{core.frames_lost} lost, latency p50 {lat.quantile_s(0.5):.2f} s "
                                            f"p95 {lat.quantile_s(0.95):.2f} s max {lat.max_s:.2f} s"))])
        store.close()
        writer.close()
        live.close()
    log.info("run finished: %s", summary)
    return summary


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
