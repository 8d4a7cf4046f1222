"""Raw-mode pseudo-terminals: one pair, and a null modem of two pairs (the tree's one pty code).

    >>> pair = open_pty()        # pyserial opens pair.path; the program talks on pair.master
    >>> modem = NullModem()      # one program opens modem.host_port, the other modem.board_port

Users: the simulator's pty ports (``hardware_sim.serial_io``), ``agent --pty``, the tests and
the transfer benches. A `NullModem` forwards bytes both ways as they come; a line rate and
faults are the ``cable://`` URL handler's (``host.cable``), opened on one end. The modem keeps
both slave ends open, so either program may die and come back on the same path; bytes that
nobody reads are lost once the reader has taken nothing for ``STALL_S``, like a UART with
nothing attached.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import threading
import time
import tty
from dataclasses import dataclass

log = logging.getLogger(__name__)

STALL_S = 0.5  # a reader that takes nothing for this long is gone
_POLL_S = 0.05


@dataclass
class PtyPair:
    """``path`` is the slave (raw mode) that pyserial opens; ``master`` (non-blocking) is the
    other program's end."""

    master: int
    slave: int
    path: str

    def close(self) -> None:
        # once only: a second os.close would hit whatever file the OS gave these numbers since
        fds, self.master, self.slave = (self.master, self.slave), -1, -1
        for fd in fds:
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass  # closed by someone else


def open_pty(*, blocking_master: bool = False) -> PtyPair:
    """A pty pair in raw mode: no echo or line editing, even before pyserial opens the path."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, blocking_master)
    return PtyPair(master, slave, os.ttyname(slave))


class NullModem:
    """Two pty pairs joined master to master by one forwarding thread per direction."""

    def __init__(self):
        self._stop = threading.Event()
        self._pairs: list[PtyPair] = []
        try:
            for _ in range(2):
                self._pairs.append(open_pty())
        except OSError:
            self.close()
            raise
        host, board = self._pairs
        self.host_port, self.board_port = host.path, board.path
        self._threads = [threading.Thread(target=self._pump, args=(a.master, b.master), daemon=True,
                                          name=f"nullmodem-{i}")
                         for i, (a, b) in enumerate(((host, board), (board, host)))]
        for t in self._threads:
            t.start()

    def _pump(self, src: int, dst: int) -> None:
        try:
            while not self._stop.is_set():
                if not select.select([src], [], [], _POLL_S)[0]:
                    continue
                try:
                    data = os.read(src, 4096)
                except OSError as e:
                    if e.errno in (errno.EAGAIN, errno.EIO):
                        self._stop.wait(0.01)
                        continue
                    raise
                self._deliver(dst, data)
        except (OSError, ValueError) as e:  # fds closed under us by close()
            if not self._stop.is_set():
                raise
            log.debug("null modem pump ends: %s", e)

    def _deliver(self, dst: int, data: bytes) -> None:
        """Write all of ``data`` unless the other side reads nothing for ``STALL_S`` (then it is lost)."""
        deadline = time.monotonic() + STALL_S
        while data and not self._stop.is_set():
            try:
                n = os.write(dst, data)
                data = data[n:]
                if n:  # the reader is there: STALL_S counts from its last take
                    deadline = time.monotonic() + STALL_S
                continue
            except BlockingIOError:
                pass
            if time.monotonic() > deadline:
                log.debug("null modem: %d bytes lost (nobody reads)", len(data))
                return
            select.select([], [dst], [], 0.02)

    def close(self) -> None:
        self._stop.set()
        threads, self._threads = getattr(self, "_threads", ()), ()  # joined once
        for t in threads:
            t.join(timeout=1.0)
        for p in self._pairs:
            p.close()  # idempotent

    def __enter__(self) -> NullModem:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
