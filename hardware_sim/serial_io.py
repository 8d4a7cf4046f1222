"""Serve a ``RadarModule``'s two UARTs on pseudo-terminals or TCP, paced like the device.

    >>> server = ModuleServer(module, transport="pty", speed=1.0)
    >>> ports = server.start()          # PortNames(config='/dev/pts/5', data='/dev/pts/6')
    >>> ...                             # pyserial opens ports.config / ports.data
    >>> server.close()

Transports. ``"pty"``: two raw-mode pty pairs (``cardioradar.ptys.open_pty``); the slave
paths are what a client opens (the server keeps the slaves open, so clients may come and
go). ``"tcp"``: two listening sockets (``socket://host:port`` URLs for pyserial); one client
per port at a time; the config port greets each new client with the banner, as a module
reset on port open does.

Pacing (a UART, not a pipe). The simulation clock runs ``speed`` times real time
(``speed=0``: as fast as the reader takes the bytes, no pacing). Frame k's first byte starts
when the simulation clock reaches the module's send time of that frame, never before the
line is free: the data port is written in chunks of about 2 ms of line time, each chunk only
when the clock has reached the moment its last byte would have left an 8N1 UART at the
configured baud rate, so bytes never arrive faster than the line rate, from the first frame
after sensorStart on. The simulator's own slowness never turns into a burst: the first
frames are computed before ``Done`` is answered to sensorStart (that time does not count on
the simulation clock, as if the device took it to start); the next block of frames is made
while the line is idle; a lag behind the clock is made up at the line rate (back to back
packets at most); a lag over 0.25 s (or two frame periods) slips the clock instead
(``clock_slips``), so the stream shows a gap, never a burst. Frames flow only after a successful
``sensorStart`` on the config port. With ``speed > 0`` bytes nobody reads are lost when the
kernel buffer is full, as on a UART with nothing attached; with ``speed=0`` the writer waits
for the reader.

Frame overrun. When a packet is still on the wire as the next frame's packet is ready, the
module drops the new packet (``RadarModule``'s UART budget); the SDK 3.5 demo checks the
same condition at frame start and reports it on the CLI as ``Obj Det DPC Exception: <file>,
line <n>.``; this server prints that line once per sensorStart on the config port (with the
simulator's own file and line; docs/radar-module.md, "Frame overrun").
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import threading
import time
from dataclasses import dataclass

from cardioradar.errors import TransportError
from cardioradar.ptys import open_pty
from hardware_sim.firmware.module import UART_BITS_PER_BYTE, RadarModule, overrun_exception_line
from hardware_sim.firmware.window import warm_kernels

log = logging.getLogger(__name__)

_POLL_S = 0.05
_CHUNK_S = 2e-3  # the data port is written in pieces of ~2 ms of line time
_CATCH_UP_CHUNKS = 2  # a late chunk lets the next ones run ahead by at most 2 chunks
_SERVE_BATCH_FRAMES = 5
_MAX_LAG_S = 0.25  # behind the clock by more than this (real time): slip instead of catching up


@dataclass(frozen=True)
class PortNames:
    """What a client opens: device paths (pty) or pyserial ``socket://`` URLs (tcp)."""

    config: str
    data: str


def uart_chunk_bytes(baud: int) -> int:
    """Bytes per data-port write: ~2 ms of 8N1 line time (fewer wake-ups per frame than 1 ms,
    so a loaded machine keeps up; still finer than a USB-UART bridge's own buffering)."""
    return max(16, int(baud * _CHUNK_S) // UART_BITS_PER_BYTE)


class _SimClock:
    """Simulation time from the wall clock (``speed > 0``) or driven by the frames (``speed == 0``)."""

    def __init__(self, speed: float):
        if speed < 0:
            raise ValueError(f"speed: expected >= 0, got {speed}")
        self.speed = speed
        self._wall0 = time.monotonic()
        self._virtual_s = 0.0

    def now_s(self) -> float:
        if self.speed == 0:
            return self._virtual_s
        return (time.monotonic() - self._wall0) * self.speed

    def wait_until(self, t_s: float, stop: threading.Event) -> None:
        if self.speed == 0:
            self._virtual_s = max(self._virtual_s, t_s)
            return
        delay = self._wall0 + t_s / self.speed - time.monotonic()
        if delay > 0:
            stop.wait(delay)

    def lag_s(self, t_s: float) -> float:
        """Wall seconds by which the clock is past ``t_s`` (0 when not yet there or speed 0)."""
        if self.speed == 0:
            return 0.0
        return max(0.0, time.monotonic() - self._wall0 - t_s / self.speed)

    def slip(self, wall_s: float) -> None:
        """Hold the simulation clock back by ``wall_s`` of real time (the simulator was slow)."""
        if self.speed > 0 and wall_s > 0:
            self._wall0 += wall_s


class _Endpoint:
    """One UART end: a pty master or a TCP listener with at most one client."""

    def __init__(self, name: str, transport: str, host: str, port: int):
        self.name = name
        self._lock = threading.Lock()
        self._client: socket.socket | None = None
        self._listener: socket.socket | None = None
        self._master = self._slave = None
        if transport == "pty":
            pair = open_pty()
            self._master, self._slave, self.path = pair.master, pair.slave, pair.path
        elif transport == "tcp":
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError as e:
                s.close()
                raise TransportError(f"sim {name} port: cannot listen on {host}:{port}: {e.strerror}",
                                     hint="another `sim serve` may be running; pick other ports") from e
            s.listen(1)
            s.setblocking(False)
            self._listener = s
            self.path = f"socket://{host}:{s.getsockname()[1]}"
        else:
            raise ValueError(f"transport: expected 'pty' or 'tcp', got {transport!r}")

    def read_fds(self) -> list:
        if self._master is not None:
            return [self._master]
        return [x for x in (self._listener, self._client) if x is not None]

    def on_readable(self, fd) -> tuple[bytes, bool]:
        """Handle a readable fd: (bytes received, True when a new client connected)."""
        if fd is self._listener:
            conn, addr = self._listener.accept()
            conn.setblocking(False)
            with self._lock:
                if self._client is not None:
                    self._client.close()
                self._client = conn
            log.info("%s port: client %s:%d connected", self.name, *addr)
            return b"", True
        try:
            data = os.read(fd, 4096) if fd == self._master else fd.recv(4096)
        except BlockingIOError:
            return b"", False
        except OSError as e:
            if fd == self._master:
                if e.errno == errno.EIO:  # pty: no client has the slave open right now
                    return b"", False
                raise
            # TCP: the client went away abruptly (reset, timeout): drop it, keep listening.
            log.info("%s port: client dropped (%s)", self.name, e.strerror or type(e).__name__)
            self._drop_client(fd)
            return b"", False
        if not data and fd is self._client:
            log.info("%s port: client disconnected", self.name)
            self._drop_client(fd)
        return data, False

    def _drop_client(self, sock) -> None:
        with self._lock:
            if self._client is sock:
                self._client = None
        try:
            sock.close()
        except OSError:
            pass

    def write(self, data: bytes, *, block: bool, stop: threading.Event) -> int:
        """Write all of ``data`` (block) or what fits now (lost otherwise). Returns bytes written."""
        done = 0
        while done < len(data) and not stop.is_set():
            with self._lock:
                target = self._master if self._master is not None else self._client
                if target is None:
                    return done  # nothing attached: the bytes go nowhere
                try:
                    n = os.write(target, data[done:]) if target == self._master else target.send(data[done:])
                except (BlockingIOError, InterruptedError):
                    n = 0
                except OSError as e:  # the TCP client went away (EPIPE, ECONNRESET, ...): bytes lost
                    if target == self._master:
                        raise
                    self._client = None
                    target.close()
                    log.info("%s port: client dropped while writing (%s)", self.name, e.strerror or type(e).__name__)
                    return done
            done += n
            if done < len(data):
                if not block:
                    log.debug("%s port: %d bytes lost (reader not keeping up)", self.name, len(data) - done)
                    return done
                select.select([], [target], [], _POLL_S)
        return done

    def close(self) -> None:
        with self._lock:
            for s in (self._client, self._listener):
                if s is not None:
                    s.close()
            for fd in (self._master, self._slave):
                if fd is not None:
                    os.close(fd)
            self._client = self._listener = self._master = self._slave = None


class ModuleServer:
    """Runs a ``RadarModule`` behind a config port and a data port until ``close()``."""

    def __init__(self, module: RadarModule, *, transport: str = "pty", speed: float = 1.0,
                 host: str = "127.0.0.1", config_tcp_port: int = 0, data_tcp_port: int = 0):
        self.module = module
        self._clock = _SimClock(speed)
        self._transport = transport
        self._addr = (host, config_tcp_port, data_tcp_port)
        self._lock = threading.Lock()  # the module is not thread-safe
        self._stop = threading.Event()
        self._started = threading.Event()  # set while the sensor runs
        self._threads: list[threading.Thread] = []
        self._config: _Endpoint | None = None
        self._data: _Endpoint | None = None
        self.ports: PortNames | None = None  # set by start()
        self.frames_sent = 0
        self.frames_dropped = 0
        self.clock_slips = 0  # times the simulation clock was held back (the machine was slow)
        self._line_free_s = 0.0  # simulation time at which the data UART's last byte has left
        self._overrun_reported = False

    def start(self) -> PortNames:
        # Frames are made in small blocks while the line is idle: a block of 100 would hold the
        # line for its whole compute time (the bytes do not depend on the block size).
        self.module.batch_frames = min(self.module.batch_frames, _SERVE_BATCH_FRAMES)
        warm_kernels()  # before any port opens: a sensorStart is then answered on time
        host, cport, dport = self._addr
        self._config = _Endpoint("config", self._transport, host, cport)
        try:
            self._data = _Endpoint("data", self._transport, host, dport)
        except Exception:
            self._config.close()
            raise
        self._write_config(self.module.banner())
        for target, name in ((self._config_loop, "sim-config-uart"), (self._frame_loop, "sim-data-uart")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        ports = self.ports = PortNames(self._config.path, self._data.path)
        log.info("serving config UART on %s, data UART on %s", ports.config, ports.data)
        return ports

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5.0)
        for ep in (self._config, self._data):
            if ep is not None:
                ep.close()
        self._threads.clear()

    def __enter__(self) -> "ModuleServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def power_cycle(self) -> None:
        """The module resets (see ``RadarModule.power_cycle``); the ports stay, the banner is printed."""
        with self._lock:
            self.module.power_cycle()
            self._started.clear()
        self._write_config(self.module.banner())

    def _write_config(self, data: bytes) -> None:
        self._config.write(data, block=True, stop=self._stop)

    def _config_loop(self) -> None:
        # Nothing a client sends or does (garbage, a reset connection) ends this thread: an
        # unexpected failure is logged and the loop goes on serving the port.
        while not self._stop.is_set():
            try:
                self._config_step()
            except Exception as e:  # noqa: BLE001
                log.error("config UART: %s: %s (still serving)", type(e).__name__, e, exc_info=True)
                self._stop.wait(_POLL_S)

    def _config_step(self) -> None:
        fds = self._config.read_fds() + [x for x in self._data.read_fds() if not isinstance(x, int)]
        try:
            ready, _, _ = select.select(fds, [], [], _POLL_S)
        except (OSError, ValueError):  # a socket closed between read_fds() and select()
            return
        for fd in ready:
            ep = self._config if fd in self._config.read_fds() else self._data
            data, connected = ep.on_readable(fd)
            if connected and ep is self._config:
                self._write_config(self.module.banner())
            if ep is self._data or not data:
                continue  # the data UART's RX is not used by the firmware
            with self._lock:
                was_running = self.module.running
                out_cfg, out_data = self.module.config_input(data, self._clock.now_s())
                running = self.module.running
                if running and not was_running:
                    self._warm_up()
            self._write_config(out_cfg)
            if out_data:
                self._data.write(out_data, block=True, stop=self._stop)
            if running:
                self._started.set()
            else:
                self._started.clear()
        if self._transport == "pty" and not ready:
            time.sleep(0)  # let the frame thread run between polls

    def _warm_up(self) -> None:
        """Right after sensorStart (lock held): make the first frames before ``Done`` goes out
        and hold the clock back by the time that took, so the first frame leaves on time."""
        t0 = time.monotonic()
        self.module.prepare_frames()
        self._clock.slip(time.monotonic() - t0)
        self._line_free_s = self._clock.now_s()
        self._overrun_reported = False

    def _frame_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._frame_loop_body()
            except Exception as e:  # noqa: BLE001 - the port stays up; the sensor stops, as after a fault
                log.error("data UART: %s: %s; sensor stopped", type(e).__name__, e, exc_info=True)
                with self._lock:
                    self.module.cli.running = False
                    self._started.clear()

    def _frame_loop_body(self) -> None:
        block = self._clock.speed == 0
        while not self._stop.is_set():
            if not self._started.wait(_POLL_S):
                continue
            with self._lock:
                frame = self.module.next_frame()
                baud = self.module.data_baud
                period_s = self.module.frame_period_s if frame is not None else 0.0
            if frame is None:
                self._started.clear()
                continue
            if frame.dropped:
                self.frames_dropped += 1
                if not self._overrun_reported:
                    self._overrun_reported = True
                    self._write_config(overrun_exception_line())
                self._clock.wait_until(frame.t_frame_s, self._stop)
                continue
            lag_s = self._clock.lag_s(frame.t_send_s)
            if lag_s > max(_MAX_LAG_S, 2 * period_s / max(self._clock.speed, 1e-9)):
                # The simulator fell far behind (a loaded machine): hold the clock back. A
                # smaller lag is made up at the line rate (the line has spare time between
                # packets), never faster.
                self._clock.slip(lag_s)
                self._line_free_s -= lag_s * self._clock.speed  # the same moment on the new clock
                self.clock_slips += 1
                log.debug("data UART: %.3f s behind; clock held back", lag_s)
            self._send_paced(frame.packet, frame.t_send_s, baud, block)
            self.frames_sent += 1
            with self._lock:  # the next block now, while the line is idle, not when it is due
                self.module.prepare_frames()

    def _send_paced(self, packet: bytes, t_send_s: float, baud: int, block: bool) -> None:
        """Write ``packet`` as an 8N1 UART at ``baud`` sends it, from ``t_send_s`` or from when
        the line is free: each ~2 ms chunk once its last byte would have left the wire."""
        chunk = uart_chunk_bytes(baud)
        s_per_byte = UART_BITS_PER_BYTE / baud
        t = max(t_send_s, self._line_free_s)
        for off in range(0, len(packet), chunk):
            part = packet[off: off + chunk]
            t += len(part) * s_per_byte
            self._clock.wait_until(t, self._stop)
            if self._stop.is_set():
                return
            self._data.write(part, block=block, stop=self._stop)
            # Written late (a busy machine): the next chunks may catch up at most _CATCH_UP_CHUNKS
            # of line time, never more, so a late write does not release a burst.
            t = max(t, self._clock.now_s() - _CATCH_UP_CHUNKS * chunk * s_per_byte)
        self._line_free_s = t
