"""cardioradar.ptys: closing twice touches no fd the OS has handed out since; a slow reader
that keeps taking bytes loses none."""

from __future__ import annotations

import os
import threading

import pytest

from cardioradar import ptys
from cardioradar.ptys import NullModem, open_pty

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("make", [open_pty, NullModem], ids=["PtyPair", "NullModem"])
def test_close_twice_leaves_reused_fds_alone(make):
    thing = make()
    thing.close()
    r, w = os.pipe()  # the lowest free fds: those the first close gave back
    try:
        thing.close()
        os.write(w, b"still mine")
        assert os.read(r, 64) == b"still mine"
    finally:
        os.close(r)
        os.close(w)


def test_a_slow_reader_that_keeps_reading_loses_nothing(monkeypatch):
    """Each wait for the reader lasts 0.3 s of a fake clock (under STALL_S = 0.5 s) and the
    reader then takes what is there: 16 KB through a 4 KB pipe outlast STALL_S and all arrive."""
    clock = [0.0]
    r, w = os.pipe()
    try:
        import fcntl

        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
    except (ImportError, AttributeError, OSError):
        pass  # the default 64 KB pipe: the test carries more than it then
    os.set_blocking(w, False)
    os.set_blocking(r, False)
    got = bytearray()

    def reader_waits(_r, _w, _x, _timeout):
        clock[0] += 0.3
        try:
            got.extend(os.read(r, 1 << 20))
        except BlockingIOError:
            pass
        return [], [w], []

    monkeypatch.setattr(ptys, "time", type("FakeTime", (), {"monotonic": staticmethod(lambda: clock[0])}))
    monkeypatch.setattr(ptys, "select", type("FakeSelect", (), {"select": staticmethod(reader_waits)}))
    modem = NullModem.__new__(NullModem)  # only _deliver: no ptys, no pump threads
    modem._stop = threading.Event()
    data = bytes(i % 251 for i in range(256 * 1024))
    try:
        modem._deliver(w, data)
        while True:
            try:
                part = os.read(r, 1 << 20)
            except BlockingIOError:
                break
            got.extend(part)
        assert clock[0] > 2 * ptys.STALL_S and bytes(got) == data, (clock[0], len(got))
    finally:
        os.close(r)
        os.close(w)
