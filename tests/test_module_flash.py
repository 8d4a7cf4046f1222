"""Module flashing: the simulated ROM bootloader (TI's UART flashing protocol, docs/radar-module.md
"Module flashing") against the host's `cardioradar module flash`, over real ptys."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from boards import load_profile
from cardioradar.cli import main
from cardioradar.errors import DeviceError
from hardware_sim.bootloader import FIRMWARES, ImageInfo, RomBootloader, SimBoard, build_image, parse_image_info
from hardware_sim.bootloader.rom import ACK, NACK, Status, answer_packet
from hardware_sim.firmware.module import RadarModule
from hardware_sim.firmware.testsource import PointTargetSource
from hardware_sim.serial_io import ModuleServer
from host.module.flash import RomClient, flash_module, module_version
from host.module.image import ModuleImage, read_image

def packet(payload: bytes) -> bytes:
    """Host -> ROM packet written from TI's description (sync, BE length + 2, checksum, payload)."""
    return bytes([0xAA]) + len(payload + b"..").to_bytes(2, "big") + bytes([sum(payload) % 256]) + payload


def _board(sop="flashing", **kw) -> SimBoard:
    module = RadarModule(load_profile("sim"), None, seed=0, front_end_factory=lambda r, a: PointTargetSource(r, a))
    return SimBoard(module, sop=sop, **kw)


@pytest.fixture
def served():
    servers = []

    def serve(board: SimBoard) -> str:
        server = ModuleServer(board, transport="pty", speed=1.0)
        servers.append(server)
        return server.start().config

    yield serve
    for s in servers:
        s.close()


@pytest.fixture
def image(tmp_path) -> Path:
    out = tmp_path / "fw.bin"
    assert main(["module", "image", "--out", str(out), "--version", "2.0.0", "--payload-kib", "8"]) == 0
    return out


# -- the ROM codec, from TI's documented bytes ------------------------------------------------


def test_rom_answers_as_documented():
    rom = RomBootloader()
    assert ACK == bytes.fromhex("0004cc00cc") and NACK == bytes.fromhex("0004330033")
    assert rom.feed(b"\x00").out == ACK  # the break handshake
    assert rom.feed(packet(b"\x20")).out == ACK  # PING
    # GET STATUS: the status packet only, no ACK (0x40 success)
    assert rom.feed(packet(b"\x23")).out == bytes.fromhex("00034040")
    # The AWR1843 example on TI's E2E forum: WRITE with 7 bytes, length 0x000A, checksum 0xA2.
    frame = packet(bytes([0x24, 0x15, 0x17]) + b"\xaa" * 5)
    assert frame[:4] == bytes([0xAA, 0x00, 0x0A, 0xA2])
    assert rom.feed(frame).out == NACK  # no file open
    assert rom.feed(packet(b"\x23")).out == answer_packet(bytes([Status.NO_FILE_OPEN]))


def test_rom_checks_packet_checksum_and_image_crc():
    rom = RomBootloader()
    bad = bytearray(packet(b"\x20"))
    bad[3] ^= 1
    assert rom.feed(bytes(bad)).out == NACK
    img = build_image(ImageInfo("cardioradar", "X", "1"), b"p" * 500)
    corrupt = img[:100] + bytes([img[100] ^ 0xFF]) + img[101:]
    for data, want in ((corrupt, NACK), (img, ACK)):
        assert rom.feed(packet(b"\x21" + struct.pack(">4I", len(data), 2, 4, 0))).out == ACK
        for off in range(0, len(data), 240):
            assert rom.feed(packet(b"\x24" + data[off:off + 240])).out == ACK
        assert rom.feed(packet(b"\x22" + struct.pack(">I", 4))).out == want
    assert rom.sflash == img


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_rom_never_crashes_and_recovers(junk):
    rom = RomBootloader()
    rom.feed(junk)
    # Whatever came before, a complete PING after a break is answered with an ACK at the end.
    assert rom.feed(bytes(260) + packet(b"\x20")).out.endswith(ACK)


def test_project_image_layout_read_by_both_sides(image):
    img = read_image(image)
    info = parse_image_info(img.data)
    assert (img.firmware, img.version) == ("cardioradar", "2.0.0") == (info.firmware, info.version)
    assert img.name == info.name
    assert struct.unpack("<I", img.data[:4])[0] == 0x5254534D and img.data[:4] == b"MSTR"
    assert zlib.crc32(img.data[:-4]) == img.crc32


# -- the CLI, as docs/radar-module.md tells a user ----------------------------------------------


def test_flash_round_trip_as_the_docs_tell(tmp_path, capsys):
    """`sim serve --sop flashing` in its own process; `module image`, `module flash`, `module
    version` through the CLI's entry point (``main(argv)``, what the console script runs)."""
    serve = subprocess.Popen([sys.executable, "-m", "cardioradar", "sim", "serve", "--sop", "flashing", "--mode",
                              "fast", "--json"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
    try:
        fw = tmp_path / "fw.bin"
        assert main(["module", "image", "--out", str(fw), "--version", "2.1.0"]) == 0
        port = json.loads(serve.stdout.readline())["config_port"]
        capsys.readouterr()
        assert main(["module", "flash", "--port", port, str(fw), "--json"]) == 0
        out = capsys.readouterr()
        res = json.loads(out.out.splitlines()[-1])
        assert res["rebooted"] and res["bytes"] == fw.stat().st_size and res["chunks"] == -(-res["bytes"] // 240)
        assert "CardioRadar range-matrix firmware 2.1.0" in res["firmware"]
        assert "module flash" in out.err  # the progress bar
        assert main(["module", "version", "--port", port]) == 0
        out = capsys.readouterr().out
        assert "Firmware                : CardioRadar range-matrix firmware 2.1.0 (simulated module)" in out
    finally:
        serve.terminate()
        serve.wait(timeout=10)


def test_flash_over_tcp(image):
    """A socket:// port carries no break either: the NUL fallback, then the same sequence."""
    board = _board()
    with ModuleServer(board, transport="tcp") as server:
        res = flash_module(server.ports.config, read_image(image))
    assert res.port.startswith("socket://") and "2.0.0" in res.firmware_line and board.booted.version == "2.0.0"


def test_corrupted_image_is_refused_in_one_line(image, tmp_path, capsys):
    data = bytearray(image.read_bytes())
    data[200] ^= 0x01
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes(data))
    assert main(["module", "flash", "--port", "loop://", str(bad)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CRC32" in err[0] and "corrupted" in err[0] and "bad.bin" in err[0]
    other = tmp_path / "elf.bin"
    other.write_bytes(b"\x7fELF" + bytes(100))
    assert main(["module", "flash", "--port", "loop://", str(other)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "0x5254534D" in err[0] and "not an xWR68xx meta image" in err[0]


def test_module_in_functional_mode_is_refused(served, image, capsys):
    port = served(_board(sop="functional"))
    assert main(["module", "flash", "--port", port, str(image), "--timeout", "0.5"]) == 5
    err = capsys.readouterr().err
    assert "answered as the mmWave demo CLI" in err and "functional mode" in err and "--sop flashing" in err
    assert "Traceback" not in err


def test_rom_of_another_chip_is_refused(served, image):
    port = served(_board(rom_version=bytes.fromhex("01000601") + bytes(8)))
    with pytest.raises(DeviceError, match="xWR14xx/xWR12xx .* not an xWR68xx"):
        flash_module(port, read_image(image))


# -- verify, interruption, persistence ----------------------------------------------------------


def test_rom_refuses_a_corrupted_image_at_close_and_stays_in_flashing_mode(served, image):
    board = _board()
    port = served(board)
    good = read_image(image)
    data = bytearray(good.data)
    data[-10] ^= 0x80
    with pytest.raises(DeviceError, match=r"CLOSE .*CRC32 integrity check failed"):
        flash_module(port, ModuleImage(good.path, bytes(data)))  # skips the host's own CRC check
    assert board.flashing and board.rom.sflash is None
    res = flash_module(port, good)
    assert "2.0.0" in res.firmware_line and not board.flashing


def test_interrupted_flash_leaves_flashing_mode_and_a_rerun_succeeds(served, image):
    board = _board()
    port = served(board)
    good = read_image(image)

    def pull_the_cable(done, total):
        if done > total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        flash_module(port, good, progress=pull_the_cable)
    assert board.flashing and board.rom.sflash is None  # half written: no valid image
    seen = []
    res = flash_module(port, good, progress=lambda d, t: seen.append(d))  # the whole image again
    assert seen[0] == 240 and seen[-1] == good.size
    assert res.firmware_line.endswith("2.0.0 (simulated module)")


def test_flashed_image_persists_across_resets_and_names_the_firmware(served, tmp_path, monkeypatch):
    board = _board()
    port = served(board)
    booted = []
    monkeypatch.setitem(FIRMWARES, "demo-fw", lambda module, info: booted.append(info.version))
    fw = tmp_path / "demo.bin"
    assert main(["module", "image", "--out", str(fw), "--firmware", "demo-fw", "--name", "Demo",
                 "--version", "3.4.5", "--payload-kib", "1"]) == 0
    res = flash_module(port, read_image(fw))
    assert booted == ["3.4.5"] and "Demo 3.4.5" in res.firmware_line
    board.power_cycle()  # a reset in functional mode boots the same image again
    assert booted == ["3.4.5", "3.4.5"] and board.booted.name == "Demo"
    assert any("Demo 3.4.5" in ln for ln in module_version(port))
    board.set_sop("flashing")
    board.power_cycle()
    assert board.flashing and board.rom.sflash == read_image(fw).data


def test_flashing_the_oob_firmware_switches_the_module_and_version_names_it(served, tmp_path):
    board = _board()
    port = served(board)
    fw = tmp_path / "oob.bin"
    assert main(["module", "image", "--out", str(fw), "--firmware", "oob", "--name", "OOB build",
                 "--version", "9.8.7", "--payload-kib", "1"]) == 0
    res = flash_module(port, read_image(fw))
    assert res.firmware_line is not None and "OOB build 9.8.7" in res.firmware_line
    assert any("OOB build 9.8.7" in ln for ln in module_version(port))
    assert board.module.firmware == "oob"


def test_image_naming_an_unknown_firmware_boots_nothing(served, tmp_path):
    board = _board()
    port = served(board)
    fw = tmp_path / "x.bin"
    assert main(["module", "image", "--out", str(fw), "--firmware", "no-such-fw", "--version", "1",
                 "--payload-kib", "1"]) == 0
    t0 = time.monotonic()
    res = flash_module(port, read_image(fw), boot_timeout_s=0.3)
    assert res.firmware_line is None and board.booted is None and not board.flashing
    assert time.monotonic() - t0 < 10
    with serial.serial_for_url(port, timeout=0.3) as p:  # nothing answers on the port
        p.write(b"version\n")
        assert p.read(16) == b""


@pytest.mark.hardware
@pytest.mark.skipif(not os.environ.get("CARDIORADAR_ROM_PORT"),
                    reason="needs a real xWR68xx module in flashing mode (SOP2): set CARDIORADAR_ROM_PORT")
def test_real_module_rom_answers_break_and_get_version():
    """Read-only on a real module: the break handshake and GET VERSION (prints the ROM version,
    which TI does not publish for xWR68xx)."""
    url = os.environ["CARDIORADAR_ROM_PORT"]
    with serial.serial_for_url(url, baudrate=115200, timeout=2) as port:
        rom = RomClient(port, url)
        rom.connect()
        version = rom.rom_version()
        rom.command(bytes([0x20]), "PING")
    print(f"ROM version on {url}: {version}")
    assert len(version) == 8
