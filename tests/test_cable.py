"""The ``cable://`` pyserial URL handler (host/cable): seeded faults, pacing no faster than the
line rate, one-line errors for bad parameters, and `--port cable://...` as docs/agent.md
tells a user (against `agent --pty`)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import pytest
import serial

import host.cable  # noqa: F401 -- registers cable:// with pyserial, as docs/agent.md says
from cardioradar.errors import ConfigError, TransportError
from edge.agent.port import open_link
from host.cable.faults import FaultStream
from host.cable.protocol_cable import RX, TX

pytestmark = pytest.mark.timeout(120)

PAYLOAD = bytes(i % 251 for i in range(6000))


def _read_master(fd: int, n: int, timeout_s: float = 10.0, log: list | None = None) -> bytes:
    """``n`` bytes from a pty master; ``log`` gets (time, bytes so far) after each read."""
    got = bytearray()
    deadline = time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.05)[0]:
            got += os.read(fd, 65536)
            if log is not None:
                log.append((time.monotonic(), len(got)))
    return bytes(got)


def _write_master(fd: int, data: bytes) -> None:
    while data:
        select.select([], [fd], [], 0.05)
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:
            pass


def _through(pty_pair, url: str, pieces: list[int]) -> tuple[bytes, bytes, int]:
    """PAYLOAD written through ``url`` in ``pieces`` and sent back to it; what each side got."""
    want_tx = FaultStream(_seed(url), TX)
    want_tx.set_rates(20.0, 20.0)
    n_tx = len(want_tx.apply(PAYLOAD))  # how many bytes arrive (the cable drops some)
    with serial.serial_for_url(url, timeout=2.0) as port:
        box = {}
        reader = threading.Thread(target=lambda: box.update(got=_read_master(pty_pair.master, n_tx)))
        reader.start()
        off = 0
        for k in pieces:
            port.write(PAYLOAD[off: off + k])
            off += k
        reader.join(15)
        want_rx = FaultStream(_seed(url), RX)
        want_rx.set_rates(20.0, 20.0)
        n_rx = len(want_rx.apply(PAYLOAD))
        writer = threading.Thread(target=_write_master, args=(pty_pair.master, PAYLOAD))
        writer.start()
        back = port.read(n_rx)
        writer.join(15)
        return box["got"], back, port.faults_injected


def _seed(url: str) -> int:
    return int(url.rsplit("seed=", 1)[1])


def test_same_seed_same_faults_however_the_writes_are_cut(pty_pair):
    url = f"cable://{pty_pair.path}?baud=0&drop_per_kb=20&corrupt_per_kb=20&seed=3"
    a_tx, a_rx, a_n = _through(pty_pair, url, [6000])
    b_tx, b_rx, b_n = _through(pty_pair, url, [1, 999, 17, 2983, 2000])
    assert (a_tx, a_rx, a_n) == (b_tx, b_rx, b_n)
    # ~2 % dropped and ~2 % corrupted each way: the bytes really were damaged
    assert 60 <= len(PAYLOAD) - len(a_tx) <= 200 and 60 <= len(PAYLOAD) - len(a_rx) <= 200, (len(a_tx), len(a_rx))
    assert 200 <= a_n <= 800 and a_tx != a_rx
    c_tx, c_rx, _ = _through(pty_pair, url.replace("seed=3", "seed=4"), [6000])
    assert c_tx != a_tx and c_rx != a_rx


def test_faults_off_carries_every_byte_and_set_faults_turns_them_on(pty_pair):
    with serial.serial_for_url(f"cable://{pty_pair.path}?baud=0&seed=1", timeout=2.0) as port:
        port.write(PAYLOAD[:3000])
        assert _read_master(pty_pair.master, 3000) == PAYLOAD[:3000] and port.faults_injected == 0
        port.set_faults(drop_per_kb=50.0)
        port.write(PAYLOAD[:3000])
        assert port.faults_injected > 0
        assert len(_read_master(pty_pair.master, 3000, timeout_s=0.5)) == 3000 - port.faults_injected


def _assert_never_faster(log: list, t0: float, chars_per_s: float, total: int) -> None:
    assert log and log[-1][1] == total, log[-3:]
    for t, n in log:  # byte n cannot have arrived before n characters' line time
        assert n <= (t - t0) * chars_per_s + 1e-6, (n, t - t0, chars_per_s)


def test_pacing_never_faster_than_the_line_rate_both_ways(pty_pair):
    n = 4600  # 0.4 s at 115200 baud, 8N1
    with serial.serial_for_url(f"cable://{pty_pair.path}?baud=115200", timeout=2.0) as port:
        log: list = []
        reader = threading.Thread(target=_read_master, args=(pty_pair.master, n), kwargs={"log": log})
        t0 = time.monotonic()
        reader.start()
        port.write(PAYLOAD[:n])
        reader.join(15)
        _assert_never_faster(log, t0, 115200 / 10, n)
    # the other way, at the baudrate the port is opened with: 8E1 is 11 bits a character
    with serial.serial_for_url(f"cable://{pty_pair.path}", baudrate=115200, parity=serial.PARITY_EVEN,
                               timeout=2.0) as port:
        log = []
        t0 = time.monotonic()
        writer = threading.Thread(target=_write_master, args=(pty_pair.master, PAYLOAD[:n]))
        writer.start()
        got = bytearray()
        while len(got) < n:
            part = port.read(min(port.in_waiting, n - len(got)) or 1)
            assert part, "the cable stopped delivering"
            got += part
            log.append((time.monotonic(), len(got)))
        writer.join(15)
        assert bytes(got) == PAYLOAD[:n]
        _assert_never_faster(log, t0, 115200 / 11, n)


@pytest.mark.parametrize("query,name", [
    ("baud=fast", "baud"), ("baud=-5", "baud"), ("drop_per_kb=2000", "drop_per_kb"),
    ("corrupt_per_kb=nan", "corrupt_per_kb"), ("seed=1.5", "seed"), ("speed=3", "speed"),
    ("baud=1&baud=2", "baud"),
])
def test_bad_parameters_are_one_line_errors_naming_them(pty_pair, query, name):
    with pytest.raises(ConfigError) as e:
        serial.serial_for_url(f"cable://{pty_pair.path}?{query}")
    text = str(e.value)
    assert "\n" not in text and name in text and "expected" in text and "got" in text, text


def test_no_port_and_busy_port(pty_pair):
    with pytest.raises(ConfigError, match="expected a port after cable://"):
        serial.serial_for_url("cable://?baud=9600")
    with serial.serial_for_url(f"cable://{pty_pair.path}"):  # the cable holds the port, as a program does
        with pytest.raises(TransportError, match="busy"):
            open_link(pty_pair.path)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cardioradar", *args], capture_output=True, text=True, timeout=90)


@contextmanager
def _agent_pty(tmp_path):
    """`cardioradar agent --pty --json` as docs/agent.md starts it; yields the host end's path."""
    from host.bundle import generate_keys

    _, pub = generate_keys(tmp_path / "keys")
    cmd = [sys.executable, "-m", "cardioradar", "agent", "--pty", "--json", "--root", str(tmp_path / "r"),
           "--pubkey", str(pub)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as agent:
        try:
            yield json.loads(agent.stdout.readline())["host_port"]
        finally:
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(30) == 0


def test_board_status_over_a_cable_url_as_docs_tell(tmp_path):
    """docs/agent.md: `agent --pty`, then `--port 'cable://PATH?baud=921600'` on the host side."""
    with _agent_pty(tmp_path) as host:
        url = f"cable://{host}?baud=921600&drop_per_kb=0.5&seed=3"
        p = _cli("board", "status", "--port", url, "--json")
        assert p.returncode == 0 and json.loads(p.stdout.splitlines()[-1])["running"] == "a", p.stderr
        bad = _cli("board", "status", "--port", f"cable://{host}?baud=fast")
    assert bad.returncode == 2 and bad.stderr.splitlines()[0].startswith("error: cable://"), bad.stderr
    assert "baud: expected an integer >= 0" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr


def test_reset_input_buffer_then_new_bytes_are_counted_and_read_as_sent(pty_pair, wait_until):
    """Bytes discarded by a reset no longer hold the line: what comes after is paced from the
    reset, and `in_waiting` / `read` never go negative or hand out more than asked."""
    with serial.serial_for_url(f"cable://{pty_pair.path}?baud=9600", timeout=2.0) as port:
        _write_master(pty_pair.master, PAYLOAD[:960])  # 1 s of line time at 9600 baud
        wait_until(lambda: port.in_waiting > 0, "the first piece of 960 bytes")
        port.reset_input_buffer()
        _write_master(pty_pair.master, b"abcdefghij")
        n = wait_until(lambda: port.in_waiting, "the 10 bytes sent after the reset")
        assert 0 < n <= 10, n
        assert port.read(1) == b"a" and port.read(9) == b"bcdefghij"


def test_write_timeout_0_writes_what_the_line_takes_now_and_returns_the_count(pty_pair):
    """pyserial's write_timeout=0 is non-blocking: a paced write returns the count it wrote
    (at most ~1 ms of line time), never a timeout, and the line is no faster for it."""
    n = 2000
    with serial.serial_for_url(f"cable://{pty_pair.path}?baud=115200", timeout=2.0, write_timeout=0) as port:
        log: list = []
        reader = threading.Thread(target=_read_master, args=(pty_pair.master, n), kwargs={"log": log})
        t0 = time.monotonic()
        reader.start()
        counts, off = [], 0
        while off < n:
            k = port.write(PAYLOAD[off:n])
            assert 0 <= k <= n - off, k
            counts.append(k)
            off += k
        reader.join(15)
        assert max(counts) < n  # the first write did not take it all
        _assert_never_faster(log, t0, 115200 / 10, n)


def test_close_from_another_thread_during_a_write_is_a_serial_exception(pty_pair, wait_until):
    port = serial.serial_for_url(f"cable://{pty_pair.path}?baud=9600", timeout=2.0)
    box: dict = {}

    def write():
        try:
            port.write(PAYLOAD)  # 6.25 s of line time: closed long before its end
        except Exception as e:  # noqa: BLE001 -- the test checks which one
            box["error"] = e

    writer = threading.Thread(target=write)
    writer.start()
    got = bytearray()
    wait_until(lambda: got.extend(_read_master(pty_pair.master, 1, timeout_s=0.05)) or got, "the write to start")
    port.close()
    writer.join(15)
    assert isinstance(box.get("error"), serial.SerialException), repr(box.get("error"))


def test_every_call_on_a_closed_cable_is_port_not_open(pty_pair):
    """A close (from any thread) leaves no None behind to raise AttributeError: each call the
    wrapped port serves says PortNotOpenError, a SerialException, as pyserial's ports do."""
    port = serial.serial_for_url(f"cable://{pty_pair.path}?baud=9600", timeout=0.1)
    port.close()
    for call in (port.flush, port.reset_output_buffer, port.reset_input_buffer, lambda: port.read(1),
                 lambda: port.cts, lambda: port.dsr, lambda: port.ri, lambda: port.cd):
        with pytest.raises(serial.SerialException):
            call()


def test_reset_input_buffer_from_another_thread_waits_for_a_read_in_progress(pty_pair, wait_until):
    """One lock around the received bytes: a reset while `read` takes them does not pull the
    segment from under it (IndexError before)."""
    with serial.serial_for_url(f"cable://{pty_pair.path}?baud=0", timeout=2.0) as port:
        _write_master(pty_pair.master, b"xyz")
        wait_until(lambda: port.in_waiting == 3, "3 bytes")
        released = port._released
        resets: list = []

        def released_then_reset(*args):
            k = released(*args)
            if not resets:  # another thread resets in the middle of this read
                resets.append(threading.Thread(target=port.reset_input_buffer))
                resets[0].start()
                resets[0].join(0.2)  # before the lock it ran to the end here
            return k

        port._released = released_then_reset
        assert port.read(3) == b"xyz"
        resets[0].join(15)
        assert not resets[0].is_alive() and port.in_waiting == 0


def test_pty_line_with_a_bad_parameter_leaves_no_thread_or_fd(tmp_path):
    from host.cable.line import PtyLine

    threads, fds = set(threading.enumerate()), set(os.listdir("/proc/self/fd"))
    with pytest.raises(ConfigError, match="seed"):
        PtyLine(seed=-1)
    assert {t.name for t in set(threading.enumerate()) - threads if t.is_alive()} == set()
    assert set(os.listdir("/proc/self/fd")) - fds == set()
