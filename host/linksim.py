"""A serial cable between two pseudo-terminals, paced at a baud rate, with seeded faults.

    >>> link = PtyLink(baud=921600, seed=3)
    >>> link.host_port, link.board_port     # open one with the client, one with the agent
    >>> link.set_faults(drop_per_kb=0.5, corrupt_per_kb=0.5)

Each direction is a thread: read what one side wrote, wait for its line time (10 bits per
byte, 8N1), occasionally drop or corrupt a byte, write it to the other side. The link keeps
both slave ends open, so either program may die and come back; bytes that nobody reads are
lost when the other side has read nothing for STALL_S, like a UART with nothing attached. Used by the tests
and by `cardioradar bench flash`.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import threading
import time
import tty

import numpy as np

log = logging.getLogger(__name__)

UART_BITS_PER_BYTE = 10
STALL_S = 0.5  # a reader that takes nothing for this long is gone


class PtyLink:
    def __init__(self, baud: int | None = 921600, seed: int = 0):
        self.baud = baud
        self._rng = np.random.default_rng(seed)
        self._faults = (0.0, 0.0)
        self._stop = threading.Event()
        self._fds = []
        masters, names = [], []
        for _ in range(2):
            m, s = os.openpty()
            tty.setraw(s)
            os.set_blocking(m, False)
            masters.append(m)
            names.append(os.ttyname(s))
            self._fds += [m, s]
        self.host_port, self.board_port = names
        self.faults_injected = 0
        self._threads = [threading.Thread(target=self._pump, args=(a, b), daemon=True, name=f"ptylink-{i}")
                         for i, (a, b) in enumerate(((masters[0], masters[1]), (masters[1], masters[0])))]
        for t in self._threads:
            t.start()

    def set_faults(self, drop_per_kb: float = 0.0, corrupt_per_kb: float = 0.0) -> None:
        """Expected dropped / corrupted bytes per 1000 bytes carried, from now on."""
        self._faults = (drop_per_kb / 1000, corrupt_per_kb / 1000)

    def _damage(self, data: bytes) -> bytes:
        p_drop, p_corrupt = self._faults
        if not (p_drop or p_corrupt):
            return data
        buf = bytearray(data)
        n = len(buf)
        for i in sorted(np.flatnonzero(self._rng.random(n) < p_corrupt), reverse=True):
            buf[i] ^= 1 << int(self._rng.integers(8))
            self.faults_injected += 1
        for i in sorted(np.flatnonzero(self._rng.random(n) < p_drop), reverse=True):
            del buf[i]
            self.faults_injected += 1
        return bytes(buf)

    def _pump(self, src: int, dst: int) -> None:
        try:
            self._pump_loop(src, dst)
        except (OSError, ValueError) as e:  # fds closed under us by close()
            if not self._stop.is_set():
                raise
            log.debug("link pump ends: %s", e)

    def _pump_loop(self, src: int, dst: int) -> None:
        rate = self.baud / UART_BITS_PER_BYTE if self.baud else None
        line_free = time.monotonic()
        while not self._stop.is_set():
            r, _, _ = select.select([src], [], [], 0.05)
            if not r:
                continue
            try:
                data = os.read(src, 4096 if rate is None else max(64, int(rate / 1000)))  # ~1 ms of line time
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EIO):
                    continue
                raise
            if rate is not None:
                now = time.monotonic()
                line_free = max(line_free, now) + len(data) / rate
                if line_free > now:
                    time.sleep(line_free - now)
            self._deliver(dst, self._damage(data))

    def _deliver(self, dst: int, data: bytes) -> None:
        """Write all of ``data`` unless the other side reads nothing for ``STALL_S`` (then it is lost)."""
        deadline = time.monotonic() + STALL_S
        while data and not self._stop.is_set():
            try:
                data = data[os.write(dst, data):]
                continue
            except BlockingIOError:
                pass
            if time.monotonic() > deadline:
                return  # nobody reads the other end: the bytes are lost, as on a UART
            select.select([], [dst], [], 0.02)

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=1.0)
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> PtyLink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
