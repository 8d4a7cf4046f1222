"""pyserial's ``cable://`` handler: a real port behind a paced line with seeded faults.

    cable://PORT[?baud=N&drop_per_kb=X&corrupt_per_kb=X&seed=N]

PORT is a device path (opened with an exclusive lock, as `open_link` opens paths) or any
pyserial URL. ``baud``: the line rate in bit/s (default: the baudrate the port is opened
with; 0: no pacing). Each character takes 1 start + data + parity + stop bits (10 for 8N1).
Both directions are paced: ``write`` hands each piece of about 1 ms of line time to the port
only once its last bit would have left the wire (so ``write`` takes the line time, as on a
UART with a small FIFO; ``write_timeout=0``: only the first piece, returning the count); a
received piece becomes readable only once its last bit would have arrived (after
``reset_input_buffer``, counted from the reset). Bytes never arrive faster than the line
rate; a busy machine only makes them slower. ``drop_per_kb`` / ``corrupt_per_kb``: expected dropped bytes / bytes with one bit
flipped per 1000 carried, in each direction, placed by ``seed`` (`faults.FaultStream`).
`Serial.set_faults` changes them on an open port; `Serial.faults_injected` counts them.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque

import serial
from serial.serialutil import PortNotOpenError, SerialBase, SerialException, SerialTimeoutException, to_bytes

from host.cable.faults import FaultStream
from host.cable.url import CableParams, parse_url

_PIECE_S = 1e-3  # pacing granularity: ~1 ms of line time per write and per release
_INNER_POLL_S = 0.01  # a blocking read of the wrapped port returns at least this often
TX, RX = 0, 1


def bits_per_char(bytesize: int = 8, parity: str = serial.PARITY_NONE, stopbits: float = 1) -> float:
    """Line time of one character in bits: start bit, data, parity, stop bits (8N1: 10)."""
    return 1 + bytesize + (parity != serial.PARITY_NONE) + stopbits


class Serial(SerialBase):
    """A ``SerialBase`` over another port; pyserial builds it for ``cable://`` URLs."""

    def __init__(self, *args, **kwargs):
        self._inner: SerialBase | None = None
        self.params: CableParams | None = None
        self._faults = (FaultStream(0, TX), FaultStream(0, RX))
        self._tx_free_s = 0.0  # when the last byte written has left the wire
        self._rx_free_s = 0.0  # when the last byte received has arrived
        self._rx: deque[list] = deque()  # [release start, bytearray]: received, not yet read
        self._rx_lock = threading.Lock()  # _rx and _rx_free_s: a reset may come from another thread
        super().__init__(*args, **kwargs)

    # -- open / close / settings -------------------------------------------------------------

    def open(self) -> None:
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        params = parse_url(self._port)
        exclusive = self._exclusive
        if exclusive is None and "://" not in params.port and os.name == "posix":
            exclusive = True  # a cable holds its port, like a program: a second user gets "busy"
        kw = {"exclusive": exclusive} if exclusive is not None else {}
        inner = serial.serial_for_url(params.port, do_not_open=True, baudrate=self._baudrate,
                                      bytesize=self._bytesize, parity=self._parity, stopbits=self._stopbits,
                                      timeout=_INNER_POLL_S, write_timeout=self._write_timeout, **kw)
        inner.dtr, inner.rts = self._dtr_state, self._rts_state  # set before open: no toggle
        inner.open()
        self._inner, self.params = inner, params
        self._faults = (FaultStream(params.seed, TX), FaultStream(params.seed, RX))
        self.set_faults(params.drop_per_kb, params.corrupt_per_kb)
        self._rx.clear()
        self._tx_free_s = self._rx_free_s = 0.0
        self.is_open = True

    def close(self) -> None:
        self.is_open = False
        if self._inner is not None:
            try:
                self._inner.close()
            finally:
                self._inner = None
        with self._rx_lock:
            self._rx.clear()

    def _reconfigure_port(self) -> None:
        # the line's character format goes to the wrapped port; timeouts stay the cable's own
        inner = self._inner
        if inner is not None:
            inner.baudrate, inner.bytesize = self._baudrate, self._bytesize
            inner.parity, inner.stopbits = self._parity, self._stopbits

    def _update_dtr_state(self) -> None:
        if self._inner is not None:
            self._inner.dtr = self._dtr_state

    def _update_rts_state(self) -> None:
        if self._inner is not None:
            self._inner.rts = self._rts_state

    def _update_break_state(self) -> None:
        if self._inner is not None:
            self._inner.break_condition = self._break_state

    # -- the line ----------------------------------------------------------------------------

    @property
    def faults_injected(self) -> int:
        """Bytes dropped or corrupted so far, both directions together."""
        tx, rx = self._faults
        return tx.injected + rx.injected

    def set_faults(self, drop_per_kb: float = 0.0, corrupt_per_kb: float = 0.0) -> None:
        """Expected dropped / corrupted bytes per 1000 carried (each direction), from now on."""
        for f in self._faults:
            f.set_rates(drop_per_kb, corrupt_per_kb)

    def _chars_per_s(self) -> float:
        """Characters per second on the line; 0 = not paced."""
        baud = self.params.baud if self.params and self.params.baud is not None else self._baudrate
        return baud / bits_per_char(self._bytesize, self._parity, self._stopbits) if baud else 0.0

    def _piece(self, rate: float) -> int:
        return max(16, int(rate * _PIECE_S))

    # -- writing -----------------------------------------------------------------------------

    @staticmethod
    def _send(inner: SerialBase, out: bytes) -> None:
        try:
            inner.write(out)
        except (TypeError, AttributeError) as e:  # pyserial's posix write on an fd closed under it
            raise PortNotOpenError() from e

    def write(self, data) -> int:
        inner = self._open_inner()  # kept for the whole write: a close() elsewhere sets _inner to None
        data = to_bytes(data)
        rate = self._chars_per_s()
        if not rate:
            self._send(inner, self._faults[TX].apply(data))
            return len(data)
        piece = self._piece(rate)
        # write_timeout=0 is non-blocking in pyserial: here, what the line takes within one
        # piece of line time (the first piece always: a caller that loops makes progress)
        nonblocking = self._write_timeout == 0
        timeout_s = piece / rate if nonblocking else self._write_timeout
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for off in range(0, len(data), piece):
            part = data[off: off + piece]
            now = time.monotonic()
            # a stream goes on where its last byte left (late wake-ups are made up); after an
            # idle line it starts now
            start = self._tx_free_s if now - self._tx_free_s < piece / rate else now
            due = start + len(part) / rate
            if deadline is not None and due > deadline and not (nonblocking and off == 0):
                if nonblocking:
                    return off
                raise SerialTimeoutException("Write timeout")
            if due > now:
                time.sleep(due - now)
            self._tx_free_s = due
            out = self._faults[TX].apply(part)
            if out:
                self._send(inner, out)
        return len(data)

    def _open_inner(self) -> SerialBase:
        """The wrapped port, or PortNotOpenError: a close() from another thread sets it to None."""
        inner = self._inner
        if not self.is_open or inner is None:
            raise PortNotOpenError()
        return inner

    def flush(self) -> None:
        self._open_inner().flush()

    @property
    def out_waiting(self) -> int:
        return 0  # write() returns once the bytes have left the line

    def reset_output_buffer(self) -> None:
        self._open_inner().reset_output_buffer()

    # -- reading -----------------------------------------------------------------------------

    def _fetch(self, block: bool) -> None:
        """Take what the wrapped port has (waiting up to ``_INNER_POLL_S`` for it when
        ``block``) and stamp it with when its pieces arrive over the line."""
        inner = self._open_inner()
        try:
            n = inner.in_waiting
            if not n and not block:
                return
            data = inner.read(n or 1)
            if data and not n and inner.in_waiting:
                data += inner.read(inner.in_waiting)
        except (TypeError, AttributeError) as e:  # pyserial's posix read on an fd closed under it
            raise SerialException(f"read failed: {e}") from e
        data = self._faults[RX].apply(data) if data else b""
        if not data:
            return
        now, rate = time.monotonic(), self._chars_per_s()
        with self._rx_lock:
            start = max(self._rx_free_s, now) if rate else 0.0
            self._rx_free_s = start + (len(data) / rate if rate else 0.0)
            self._rx.append([start, bytearray(data)])

    def _released(self, seg: list, now: float, rate: float) -> int:
        """Bytes of a received segment that have arrived by ``now`` (whole pieces, or all)."""
        start, buf = seg
        if not rate or now >= start + len(buf) / rate:
            return len(buf)
        piece = self._piece(rate)
        return max(0, min(len(buf), int((now - start) * rate) // piece * piece))  # 0: not yet begun

    def _next_release_s(self, rate: float) -> float | None:
        with self._rx_lock:
            if not self._rx:
                return None
            start, buf = self._rx[0]
            return start + min(len(buf), self._piece(rate)) / rate

    def _take(self, size: int) -> bytes:
        now, rate = time.monotonic(), self._chars_per_s()
        out = bytearray()
        with self._rx_lock:
            while self._rx and len(out) < size:
                seg = self._rx[0]
                k = min(size - len(out), self._released(seg, now, rate))
                if not k:
                    break
                out += seg[1][:k]
                del seg[1][:k]
                if rate:
                    seg[0] += k / rate
                if not seg[1]:
                    self._rx.popleft()
        return bytes(out)

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise PortNotOpenError()
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        out = bytearray()
        while len(out) < size:
            self._fetch(block=False)
            out += self._take(size - len(out))
            now = time.monotonic()
            if len(out) >= size or (deadline is not None and now >= deadline):
                break
            rate = self._chars_per_s()
            at = self._next_release_s(rate) if rate else None
            if at is not None:  # bytes on the wire: wait for the next piece to arrive
                time.sleep(max(0.0, min(at, deadline if deadline is not None else at) - now))
            else:
                self._fetch(block=True)
        return bytes(out)

    @property
    def in_waiting(self) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        self._fetch(block=False)
        now, rate, n = time.monotonic(), self._chars_per_s(), 0
        with self._rx_lock:
            for seg in self._rx:
                k = self._released(seg, now, rate)
                n += k
                if k < len(seg[1]):
                    break
        return n

    def reset_input_buffer(self) -> None:
        self._open_inner().reset_input_buffer()
        with self._rx_lock:
            self._rx.clear()
            # the discarded bytes no longer hold the line: what comes next is paced from now
            self._rx_free_s = min(self._rx_free_s, time.monotonic())

    # -- modem lines: the wrapped port's ---------------------------------------------------

    cts = property(lambda self: self._open_inner().cts)
    dsr = property(lambda self: self._open_inner().dsr)
    ri = property(lambda self: self._open_inner().ri)
    cd = property(lambda self: self._open_inner().cd)
