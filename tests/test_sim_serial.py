"""The module's two UARTs over real pseudo-terminals and TCP, read with pyserial."""

from __future__ import annotations

import socket
import struct
import time

import numpy as np
import pytest
import serial

from boards import load_profile
from hardware_sim.firmware.module import RadarModule
from hardware_sim.firmware.testsource import PointTargetSource
from hardware_sim.firmware.tlv import decode_frame, split_stream
from hardware_sim.serial_io import ModuleServer


def _module(seed=0):
    profile = load_profile("sim")
    return RadarModule(profile, None, seed=seed, front_end_factory=lambda r, a: PointTargetSource(r, a)), profile


def _send_cfg(port: serial.Serial, text: str) -> str:
    answers = []
    for line in text.splitlines():
        port.write(line.encode() + b"\n")
        answers.append(port.read_until(b"mmwDemo:/>").decode())
    return "".join(answers)


def test_pty_pacing_within_2_percent_and_frames_decode():
    module, profile = _module()
    with ModuleServer(module, transport="pty", speed=1.0) as server:
        cfg = serial.Serial(server.ports.config, 115200, timeout=2.0)
        data = serial.Serial(server.ports.data, 921600, timeout=0.05)
        time.sleep(0.3)
        assert data.read(4096) == b""  # nothing flows before sensorStart
        answers = _send_cfg(cfg, profile.cfg_path.read_text())
        assert answers.endswith("sensorStart\r\nDone\r\nmmwDemo:/>")
        buf, arrivals, t_end = b"", [], time.monotonic() + 3.0
        while time.monotonic() < t_end:
            chunk = data.read(data.in_waiting or 1)
            if chunk:
                n_before = buf.count(b"\x02\x01\x04\x03\x06\x05\x08\x07")
                buf += chunk
                arrivals += [time.monotonic()] * (buf.count(b"\x02\x01\x04\x03\x06\x05\x08\x07") - n_before)
        cfg.close()
        data.close()
    frames = [decode_frame(p) for p in split_stream(buf)]
    assert len(frames) >= 290
    numbers = [f.header.frame_number for f in frames]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    assert all(f.heatmap.shape == (15, 12, 2) for f in frames)
    # Rate from arrival times of the frame starts, skipping the first second's start-up.
    t = np.array(arrivals[50:])
    rate_hz = (len(t) - 1) / (t[-1] - t[0])
    assert abs(rate_hz - 100.0) / 100.0 < 0.02, rate_hz


def test_tcp_sockets_speed_zero_and_clean_shutdown():
    module, profile = _module(seed=3)
    server = ModuleServer(module, transport="tcp", speed=0)
    ports = server.start()
    assert ports.config.startswith("socket://127.0.0.1:")
    host, port = ports.config.removeprefix("socket://").split(":")
    with socket.create_connection((host, int(port)), timeout=2.0) as raw:  # a new client gets the banner
        got = b""
        while not got.endswith(b"mmwDemo:/>"):
            got += raw.recv(256)
        assert b"xWR68xx MMW Demo 03.05.00.04" in got
    cfg = serial.serial_for_url(ports.config, timeout=2.0)
    data = serial.serial_for_url(ports.data, timeout=0.5)
    # pyserial discards what arrived before open() returned (the banner); a bare line gets a prompt.
    time.sleep(0.1)
    cfg.reset_input_buffer()
    cfg.write(b"\n")
    assert cfg.read_until(b"mmwDemo:/>") == b"mmwDemo:/>"
    cfg.write(b"configDataPort 3125000 1\n")
    assert b"Done" in cfg.read_until(b"mmwDemo:/>")
    assert data.read(16) == b"\xff" * 16  # the ack ping on the data port
    _send_cfg(cfg, profile.cfg_path.read_text())
    buf, t0 = b"", time.monotonic()
    while len(split_stream(buf)) < 200 and time.monotonic() - t0 < 10:
        buf += data.read(65536)
    assert len(split_stream(buf)) >= 200  # speed 0: far faster than 100 frames/s of real time
    assert time.monotonic() - t0 < 2.0 * 1.0
    cfg.write(b"sensorStop\n")
    assert b"Done" in cfg.read_until(b"mmwDemo:/>")
    cfg.close()
    data.close()
    server.close()
    assert all(not t.is_alive() for t in server._threads) or not server._threads
    with pytest.raises(serial.SerialException):
        serial.serial_for_url(ports.config, timeout=0.5)


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer sees a TCP reset (a killed client), not a clean FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _read_prompt(sock: socket.socket, deadline_s: float = 5.0) -> bytes:
    got, t_end = b"", time.monotonic() + deadline_s
    while not got.endswith(b"mmwDemo:/>") and time.monotonic() < t_end:
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            continue
        if not chunk:
            break
        got += chunk
    return got


def test_killed_tcp_clients_never_stop_the_server():
    """Issue 13: a client killed mid-session (TCP reset) took the config thread with it and every
    later `edge run --board sim` timed out. Now the server drops that client and serves the next."""
    module, profile = _module(seed=5)
    with ModuleServer(module, transport="tcp", speed=0) as server:
        host, cport = server.ports.config.removeprefix("socket://").split(":")
        dport = int(server.ports.data.rsplit(":", 1)[1])
        for round_ in range(3):
            c = socket.create_connection((host, int(cport)), timeout=1.0)
            d = socket.create_connection((host, dport), timeout=1.0)
            _read_prompt(c)
            for line in profile.cfg_path.read_text().splitlines():
                c.sendall(line.encode() + b"\n")
                reply = _read_prompt(c)
            assert reply.endswith(b"Done\r\nmmwDemo:/>"), (round_, reply[-80:])
            assert d.recv(4096)  # frames flow (speed 0: the writer waits for this reader)
            c.sendall(b"channelCfg 15 7 ")  # half a command, then the client dies
            _reset(d)
            _reset(c)
            time.sleep(0.2)  # the server sees both resets (and a write to the dead data client)
            assert all(t.is_alive() for t in server._threads), round_
        c = socket.create_connection((host, int(cport)), timeout=1.0)
        _read_prompt(c)
        c.sendall(b"sensorStop\nversion\n")
        got = _read_prompt(c) + _read_prompt(c)
        assert b"mmWave SDK Version      : 03.05.00.04" in got and got.endswith(b"Done\r\nmmwDemo:/>")
        c.close()


def test_refused_inputs_over_a_pty_leave_both_threads_streaming():
    """The inputs that killed the config or the data thread, sent over a real pty: each is
    answered with an Error, and the port then starts and streams frames."""
    module, profile = _module(seed=6)
    bad = ["channelCfg 15 7 nan", "channelCfg 15 7 inf", "frameCfg 0 2 1 nan 10 1 0", "frameCfg 0 2 1 0 inf 1 0",
           "frameCfg 0 2 1 0 10 1 nan", "frameCfg 0 2 1 0 1e30 1 0",
           "profileCfg 0 nan 7 3 24 0 0 166 1 256 12500 0 0 158", "profileCfg 0 60 -7 3 24 0 0 166 1 256 12500 0 0 158",
           "\x00\xff garbage \t\x1b[A", "%" + "y" * 300]
    with ModuleServer(module, transport="pty", speed=0) as server:
        cfg = serial.Serial(server.ports.config, 115200, timeout=5.0)
        data = serial.Serial(server.ports.data, 921600, timeout=0.5)
        _send_cfg(cfg, profile.cfg_path.read_text().replace("sensorStart", ""))
        for line in bad:
            cfg.write(line.encode("latin-1") + b"\n")
            reply = cfg.read_until(b"mmwDemo:/>")
            assert reply.endswith(b"mmwDemo:/>"), line
            if "nan" in line or "inf" in line or "1e30" in line or "-7" in line:
                assert b"Error -1\r\n" in reply and b"expected" in reply, (line, reply)
        cfg.reset_input_buffer()
        cfg.write(b"sensorStart\n")
        assert cfg.read_until(b"mmwDemo:/>").endswith(b"Done\r\nmmwDemo:/>")
        buf, t0 = b"", time.monotonic()
        while len(split_stream(buf)) < 20 and time.monotonic() - t0 < 10:
            buf += data.read(65536)
        assert len(split_stream(buf)) >= 20
        assert all(t.is_alive() for t in server._threads)
        cfg.close()
        data.close()
