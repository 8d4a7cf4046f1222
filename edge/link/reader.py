"""Background reader of the data UART: transport -> decoder -> bounded queue, with reconnect.

A thread reads whatever the port has, feeds the pure `FrameDecoder`, and queues the
frames and events in order. When the port disappears (unplug, peer closed) it reports
``disconnect``, keeps what was already decoded, and reopens with exponential back-off,
reporting ``reconnect``; the frames missed meanwhile come out as one ``drop`` event. A
consumer too slow for the queue loses frames, never silently (``overflow`` events).

    with FrameReader(lambda: open_data_port(profile), FrameDecoder(cfg)) as reader:
        for item in reader:                 # RadarFrame or LinkEvent
            ...
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cardioradar.errors import CardioRadarError, TransportError
from edge.link.protocol import FrameDecoder
from edge.link.transport import Transport
from edge.link.types import DISCONNECT, OVERFLOW, RECONNECT, SILENT, LinkEvent, RadarFrame

log = logging.getLogger(__name__)

Item = RadarFrame | LinkEvent


@dataclass(frozen=True)
class ReaderConfig:
    queue_size: int = 512  # items; ~5 s of frames at 100 Hz
    read_bytes: int = 8192
    backoff_first_s: float = 0.05
    backoff_max_s: float = 2.0
    silence_s: float = 2.0  # report a silent port after this long (no data: sensor not started?)


class FrameReader:
    """Reads frames on a thread; iterate it (or call `get`) for frames and events, in order.

    ``open_transport`` is called to open the port, first in `start` (errors raise there)
    and again after each disconnect (errors retried with back-off). ``clock`` gives
    ``host_time_s`` (default `time.monotonic`).
    """

    def __init__(
        self,
        open_transport: Callable[[], Transport],
        decoder: FrameDecoder | None = None,
        config: ReaderConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._open = open_transport
        self.decoder = decoder or FrameDecoder()
        self.config = config or ReaderConfig()
        self._clock = clock
        self._queue: queue.Queue[Item] = queue.Queue(self.config.queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._transport: Transport | None = None
        self._overflow_frames = 0
        self._overflow_events = 0
        self._overflow_first: int | None = None
        self.reconnects = 0
        # clock time the link last decoded a frame (a consumer behind on its queue can
        # tell a silent module from its own backlog)
        self.last_frame_s: float | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "FrameReader":
        if self._thread is not None:
            raise RuntimeError("FrameReader already started")
        self._transport = self._open()  # a wrong port fails here, loudly
        self._thread = threading.Thread(target=self._run, name="edge-link-reader", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("reader thread did not stop within %.1f s", timeout_s)
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def __enter__(self) -> "FrameReader":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ consumer side
    def get(self, timeout_s: float | None = None) -> Item | None:
        """Next frame or event; ``None`` if nothing came within ``timeout_s``."""
        try:
            return self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def __iter__(self) -> Iterator[Item]:
        """Items until the reader is stopped and the queue is empty."""
        while True:
            item = self.get(0.1)
            if item is not None:
                yield item
            elif not self.running:
                return

    # ------------------------------------------------------------------ thread
    def _run(self) -> None:
        cfg = self.config
        last_data_t = self._clock()
        silent_reported = False
        while not self._stop.is_set():
            if self._transport is None:
                self._reconnect()
                last_data_t, silent_reported = self._clock(), False
                continue
            try:
                data = self._transport.read(cfg.read_bytes)
            except TransportError as e:
                self._disconnected(str(e))
                continue
            except Exception as e:  # a bug must not kill the link silently; report and reopen
                log.exception("reader: unexpected error")
                self._disconnected(f"unexpected {type(e).__name__}: {e}")
                continue
            now = self._clock()
            self._flush_overflow()  # also when the port is idle
            if data:
                last_data_t, silent_reported = now, False
                for item in self.decoder.feed(data, now):
                    if isinstance(item, RadarFrame):
                        self.last_frame_s = now
                    self._put(item)
            elif not silent_reported and now - last_data_t >= cfg.silence_s:
                silent_reported = True
                name = getattr(self._transport, "name", "?")
                self._put(LinkEvent(SILENT, now, None, 0,
                                    f"data port {name}: no bytes for {now - last_data_t:.1f} s "
                                    "(sensor not started, wrong port or wrong baud rate?)"))

    def _disconnected(self, why: str) -> None:
        now = self._clock()
        name = getattr(self._transport, "name", "?")
        log.warning("data port %s lost: %s", name, why)
        if self._transport is not None:
            self._transport.close()
        self._transport = None
        self._put(LinkEvent(DISCONNECT, now, self.decoder.last_frame_number, 1, why))
        for item in self.decoder.note_disconnect(now):
            self._put(item)

    def _reconnect(self) -> None:
        cfg = self.config
        delay, attempts, t0 = cfg.backoff_first_s, 0, self._clock()
        while not self._stop.wait(delay):
            attempts += 1
            try:
                self._transport = self._open()
            except CardioRadarError as e:
                log.debug("reopen attempt %d failed: %s", attempts, e)
                delay = min(2 * delay, cfg.backoff_max_s)
                continue
            self.reconnects += 1
            now = self._clock()
            name = getattr(self._transport, "name", "?")
            log.info("data port %s back after %.2f s (%d attempts)", name, now - t0, attempts)
            self._put(LinkEvent(RECONNECT, now, None, attempts,
                                f"port {name} reopened after {now - t0:.2f} s and {attempts} attempts"))
            return

    def _put(self, item: Item) -> None:
        if not self._flush_overflow():
            self._count_overflow(item)  # keep the order: nothing overtakes the summary
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._count_overflow(item)

    def _flush_overflow(self) -> bool:
        """Queue the summary of what was discarded, if any; False while the queue is still full."""
        if not (self._overflow_frames or self._overflow_events):
            return True
        summary = LinkEvent(
            OVERFLOW, self._clock(), self._overflow_first, self._overflow_frames,
            f"consumer too slow: {self._overflow_frames} frames and {self._overflow_events} "
            f"events discarded (queue of {self.config.queue_size})")
        try:
            self._queue.put_nowait(summary)
        except queue.Full:
            return False
        self._overflow_frames = self._overflow_events = 0
        self._overflow_first = None
        return True

    def _count_overflow(self, item: Item) -> None:
        if isinstance(item, RadarFrame):
            if self._overflow_first is None:
                self._overflow_first = item.frame_number
            self._overflow_frames += 1
        else:
            self._overflow_events += 1
