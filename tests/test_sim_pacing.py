"""The data UART is paced like an 8N1 UART: bytes never leave faster than the configured line
rate, from the first frame after sensorStart on; a frame whose packet cannot leave within its
period is reported on the CLI the way the SDK demo reports it.

The checks use the server's own write times (taken after its waits): a loaded machine can
only make them later, never earlier, so the bound cannot fail because CI is busy.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np
import serial

from boards import load_profile
from hardware_sim.firmware.module import UART_BITS_PER_BYTE, RadarModule
from hardware_sim.firmware.testsource import PointTargetSource
from hardware_sim.firmware.tlv import decode_frame, split_stream
from hardware_sim.serial_io import _CATCH_UP_CHUNKS, ModuleServer, uart_chunk_bytes
from sim_rig import send_cfg_lines

TIMER_SLACK_S = 0.5e-3  # Event.wait() may wake this much early on some kernels


def _module(seed=0):
    profile = load_profile("sim")
    return RadarModule(profile, None, seed=seed, batch_frames=5,
                       front_end_factory=lambda r, a: PointTargetSource(r, a)), profile


def _record_writes(server: ModuleServer) -> list[tuple[float, int]]:
    """Wrap the data port's write: (monotonic time, bytes) of every data-UART write."""
    log: list[tuple[float, int]] = []
    real = server._data.write

    def write(data, *, block, stop):
        n = real(data, block=block, stop=stop)
        if data:
            log.append((time.monotonic(), len(data)))
        return n

    server._data.write = write
    return log


def _assert_at_most_line_rate(writes: list[tuple[float, int]], baud: int) -> None:
    """Over every stretch between two writes, the bytes of the later writes take at least
    their line time at ``baud`` (8N1), give or take the server's catch-up allowance (two ~2 ms
    chunks after a late write): the port never carries more than the line rate."""
    chunk = uart_chunk_bytes(baud)
    s_per_byte = UART_BITS_PER_BYTE / baud
    t = np.array([w[0] for w in writes])
    total = np.cumsum([w[1] for w in writes])
    # bytes(i+1..j) - rate x (t_j - t_i) = D_j - D_i with D = total - t / s_per_byte
    d = total - t / s_per_byte
    excess = d - np.minimum.accumulate(d)
    worst = int(np.argmax(excess))
    assert excess[worst] <= (_CATCH_UP_CHUNKS + 1) * chunk + TIMER_SLACK_S / s_per_byte, (
        f"write {worst}: {excess[worst]:.0f} bytes more than {baud} baud carries since an earlier write")


@contextmanager
def _streaming(seed: int, baud: int):
    """The module on ptys at real time, its data writes recorded, the profile's .cfg sent (with
    ``configDataPort BAUD`` before ``sensorStart`` unless ``baud`` is the default 921600)
    -> (server, writes, config port, data port, the CLI's answers)."""
    module, profile = _module(seed)
    lines = profile.cfg_path.read_text().splitlines()
    if baud != 921600:
        lines = [x for x in lines if not x.startswith("sensorStart")] + [f"configDataPort {baud} 0", "sensorStart"]
    with ModuleServer(module, transport="pty", speed=1.0) as server:
        writes = _record_writes(server)
        cfg = serial.Serial(server.ports.config, 115200, timeout=5.0)
        data = serial.Serial(server.ports.data, baud, timeout=0.05)
        try:
            yield server, writes, cfg, data, b"".join(send_cfg_lines(cfg, lines))
        finally:
            cfg.close()
            data.close()


def _read_for(port: serial.Serial, seconds: float) -> bytes:
    buf, t_end = b"", time.monotonic() + seconds
    while time.monotonic() < t_end:
        buf += port.read(65536)
    return buf


def test_frames_leave_at_or_below_line_rate_from_the_first_frame():
    with _streaming(0, 921600) as (_, writes, _, data, answers):
        assert answers.endswith(b"sensorStart\r\nDone\r\nmmwDemo:/>")
        buf = _read_for(data, 1.5)
    frames = [decode_frame(p) for p in split_stream(buf)]
    assert len(frames) >= 100
    assert frames[0].header.frame_number == 1  # from the very first frame after sensorStart
    assert sum(n for _, n in writes) >= len(buf)  # every byte read went through the recorded writes
    _assert_at_most_line_rate(writes, 921600)
    # ~2 ms chunks: a packet is never handed to the port in one piece.
    assert max(n for _, n in writes) <= uart_chunk_bytes(921600) < len(split_stream(buf)[0])


def test_pacing_follows_config_data_port_rate():
    with _streaming(2, 3_125_000) as (_, writes, _, data, _):
        buf = _read_for(data, 0.5)
    assert len(split_stream(buf)) >= 30
    _assert_at_most_line_rate(writes, 3_125_000)


def test_frame_overrun_is_reported_like_the_sdk_demo_and_stays_paced():
    """460800 baud: an 864-byte packet needs 18.75 ms, the period is 10 ms. The demo's frame
    start check fails; the CLI shows the DPC exception line once; frames keep the line rate."""
    with _streaming(4, 460800) as (server, writes, cfg, data, _):
        cfg.timeout = 3.0
        notice = cfg.read_until(b"line ")
        notice += cfg.read_until(b".\r\n")
        buf = _read_for(data, 0.5)
        cfg.timeout = 0.3
        again = cfg.read(4096)
        assert server.frames_dropped > 0
    assert notice.startswith(b"Obj Det DPC Exception: ") and notice.endswith(b".\r\n"), notice
    assert b"Exception" not in again  # once per sensorStart, not once per frame
    frames = [decode_frame(p) for p in split_stream(buf)]
    assert frames and all(b.header.frame_number > a.header.frame_number for a, b in zip(frames, frames[1:]))
    _assert_at_most_line_rate(writes, 460800)
