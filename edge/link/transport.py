"""Byte transports to the module: device paths, pseudo-terminals or any pyserial URL.

`Transport` is the small protocol the rest of the link uses (read with a timeout, write,
close), so tests and scripts can pass their own; `open_port` makes one from a board
profile's port (``/dev/ttyUSB0``, a pty path, ``socket://``, ``rfc2217://``, ``loop://``)
with the profile's baud rate and DTR/RTS levels.
"""

from __future__ import annotations

import errno
import logging
import os
from typing import Protocol

import serial

from cardioradar.errors import TransportError

log = logging.getLogger(__name__)


class Transport(Protocol):
    """What the config sender and the frame reader need from a port."""

    name: str

    def read(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes``; ``b""`` when nothing came within the read timeout.

        Raises ``TransportError`` when the port is gone (unplugged, closed by the peer).
        """

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class SerialTransport:
    """A `Transport` over an open ``serial.Serial`` (or URL handler) instance."""

    def __init__(self, port: serial.SerialBase, name: str | None = None):
        self._port = port
        self.name = name or str(port.port)

    def read(self, max_bytes: int) -> bytes:
        try:
            # Block for the first byte (the port's timeout), then take what has arrived.
            first = self._port.read(1)
            if not first:
                return b""
            waiting = self._port.in_waiting
            rest = self._port.read(min(waiting, max_bytes - 1)) if waiting and max_bytes > 1 else b""
            return first + rest
        except (serial.SerialException, OSError, TypeError, AttributeError) as e:
            # TypeError/AttributeError: pyserial's posix read after the fd was closed under it.
            raise TransportError(f"port {self.name}: read failed: {e}") from e

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as e:
            raise TransportError(f"port {self.name}: write failed: {e}") from e

    def reset_input(self) -> None:
        """Discard bytes already received (start-up banner, stale answers)."""
        try:
            self._port.reset_input_buffer()
        except (serial.SerialException, OSError) as e:
            raise TransportError(f"port {self.name}: cannot flush input: {e}") from e

    def close(self) -> None:
        try:
            self._port.close()
        except (serial.SerialException, OSError) as e:  # closing a vanished port is not an error
            log.debug("port %s: close: %s", self.name, e)


def open_port(
    url: str,
    baud: int,
    *,
    dtr: bool | None = None,
    rts: bool | None = None,
    read_timeout_s: float = 0.1,
    write_timeout_s: float = 2.0,
    exclusive: bool | None = None,
) -> SerialTransport:
    """Open ``url`` (a path or pyserial URL) at ``baud`` with DTR/RTS driven as given.

    ``dtr``/``rts`` are set before the port opens, so the lines never toggle (toggling
    resets some modules on a Raspberry Pi 4); ``None`` leaves pyserial's default.
    ``exclusive``: pyserial's flock on the open device (POSIX only; ignored elsewhere and
    by URL handlers): another flock-aware program cannot open it meanwhile.
    """
    extra = {"exclusive": exclusive} if exclusive is not None and os.name == "posix" else {}
    try:
        port = serial.serial_for_url(
            url, do_not_open=True, baudrate=baud, timeout=read_timeout_s, write_timeout=write_timeout_s, **extra
        )
        if dtr is not None:
            port.dtr = dtr
        if rts is not None:
            port.rts = rts
        port.open()
    except (serial.SerialException, OSError, ValueError) as e:
        raise TransportError(f"cannot open port {url} at {baud} baud: {e}", hint=_open_hint(e)) from e
    log.debug("opened %s at %d baud (dtr=%s rts=%s)", url, baud, dtr, rts)
    return SerialTransport(port, name=url)


def open_config_port(profile, **kwargs) -> SerialTransport:
    """The config UART of a `boards.BoardProfile`."""
    p = profile.ports
    kwargs.setdefault("exclusive", True)
    return open_port(p.config, p.config_baud, dtr=p.dtr, rts=p.rts, **kwargs)


def open_data_port(profile, **kwargs) -> SerialTransport:
    """The data UART of a `boards.BoardProfile`."""
    p = profile.ports
    kwargs.setdefault("exclusive", True)
    return open_port(p.data, p.data_baud, dtr=p.dtr, rts=p.rts, **kwargs)


def _open_hint(e: Exception) -> str | None:
    code = getattr(e, "errno", None)
    text = str(e)
    if code == errno.EACCES or "Permission denied" in text:
        return "add the user to the 'dialout' group (then log in again), or check the port's permissions"
    if code == errno.ENOENT or "No such file" in text:
        return "is the module plugged in and powered? check [ports] in the board profile (ls /dev/ttyUSB* /dev/ttyACM*)"
    if code == errno.EBUSY or "busy" in text.lower() or "exclusively lock" in text:
        return "another program holds the port (a terminal, a visualizer, a second reader)"
    if "refused" in text.lower():
        return "nothing listens at that address: is the simulator serving (cardioradar sim serve)?"
    return None
