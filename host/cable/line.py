"""A pty null modem whose host end is a ``cable://`` line: two programs on one machine talking
over a paced, faulty serial line (the tests, `bench flash`, `bench pull`).

    >>> line = PtyLine(baud=921600, seed=3)
    >>> line.board_port                 # a path: the agent (or any program) opens it plainly
    >>> line.host_port                  # 'cable:///dev/pts/7?baud=921600&seed=3': `--port` of a host command
    >>> port = line.open(timeout=0.05)  # or open it here; set_faults() reaches the ports opened so
    >>> line.set_faults(drop_per_kb=0.5, corrupt_per_kb=0.5)

The null modem (``cardioradar.ptys``) keeps both ends open, so the program on either end may
die and come back on the same path; the line rate and the faults are the cable's.
"""

from __future__ import annotations

import serial

from cardioradar.ptys import NullModem
from host.cable.url import cable_url


class PtyLine:
    def __init__(self, baud: int | None = None, seed: int = 0):
        """``baud``: the line rate (None: not paced); ``seed`` places the faults."""
        self._modem = NullModem()
        self.board_port = self._modem.board_port
        self.host_path = self._modem.host_port  # the bare pty, without the cable
        try:
            self.host_port = cable_url(self.host_path, baud=baud or 0, seed=seed)
        except Exception:  # a bad parameter: no pump threads or ptys left behind
            self._modem.close()
            raise
        self._faults = (0.0, 0.0)
        self._ports: list = []  # every cable opened by open(), for set_faults and the count

    def open(self, **serial_kw):
        """The host end as an open pyserial port (``serial_kw``: baudrate, timeout, ...)."""
        port = serial.serial_for_url(self.host_port, **serial_kw)
        port.set_faults(*self._faults)
        self._ports.append(port)
        return port

    def set_faults(self, drop_per_kb: float = 0.0, corrupt_per_kb: float = 0.0) -> None:
        """Expected dropped / corrupted bytes per 1000 carried, from now on, on the ports
        opened here (a host in another process gets its faults from the URL)."""
        self._faults = (drop_per_kb, corrupt_per_kb)
        for p in self._ports:
            p.set_faults(drop_per_kb, corrupt_per_kb)

    @property
    def faults_injected(self) -> int:
        return sum(p.faults_injected for p in self._ports)

    def close(self) -> None:
        for p in self._ports:
            p.close()
        self._modem.close()

    def __enter__(self) -> PtyLine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
