"""Flash a meta image into the radar module's serial flash through its ROM bootloader.

The module must be in flashing mode (SOP[2:0] = 101, SOP2 closed, then power-cycled); the
ROM then serves TI's UART flashing protocol on the config UART at 115200 baud. The wire
format and its sources are in ``hardware_sim.bootloader.rom`` and docs/radar-module.md
("Module flashing"); this client is written from those documents, apart from the simulator.

Sequence (as TI's UniFlash does it): UART break -> ACK; GET VERSION (refuse ROMs of other
chips); optional ERASE; OPEN FILE (META IMG1, SFLASH); WRITE chunks of 240 bytes, each
answered ACK and checked with GET STATUS; CLOSE FILE, where the ROM checks the image's CRC32
(NACK: corrupted). Then, this project's step: DISCONNECT, after which a board wired for it
(the simulator) resets into functional mode; the client waits for the demo's prompt and
asks ``version``. A real EVM needs its SOP jumpers set back and a power cycle instead.

Resume: TI's protocol has no offset in WRITE and OPEN starts the file over, so an
interrupted transfer cannot be resumed; the module stays in flashing mode and a new run
(break, OPEN, ...) writes the whole image again.
"""

from __future__ import annotations

import logging
import struct
import time
from dataclasses import dataclass
from typing import Callable

import serial

from cardioradar.errors import DeviceError, DeviceTimeout, TransportError
from host.module.image import ModuleImage

log = logging.getLogger(__name__)

ROM_BAUD = 115200  # UniFlash's DEFAULT_SERIAL_BAUD_RATE; the demo's CLI uses it too
CHUNK_BYTES = 240
PROMPT = b"mmwDemo:/>"
SFLASH, META_IMAGE1 = 2, 4
OP_PING, OP_OPEN, OP_CLOSE, OP_STATUS, OP_WRITE, OP_DISCONNECT, OP_ERASE, OP_VERSION = (
    0x20, 0x21, 0x22, 0x23, 0x24, 0x27, 0x28, 0x2F)
ACK, NACK, STATUS_OK = 0xCC, 0x33, 0x40
# GET STATUS codes: 0x40 and 0x4B are TI's (UniFlash); the rest are the simulator's (rom.py).
STATUS_TEXT = {0x40: "success", 0x4B: "access in progress", 0x41: "bad command", 0x42: "no file open",
               0x43: "bad file type, storage or size", 0x44: "more data than OPEN announced",
               0x45: "size differs from OPEN", 0x46: "CRC32 integrity check failed"}
# ROM versions (first 4 bytes of GET VERSION) of other chips, from UniFlash's tables.
OTHER_CHIP_ROMS = {"07000600": "xWR14xx/xWR12xx (PG1)", "01000601": "xWR14xx/xWR12xx (PG2)",
                   "08000602": "xWR16xx (PG1)"}
FLASHING_HINT = ("put the module in flashing mode: close SOP2 (SOP[2:0] = 101) and power-cycle it; "
                 "simulator: cardioradar sim serve --sop flashing")


@dataclass(frozen=True)
class FlashResult:
    """What ``flash_module`` did. ``firmware_line``: the ``Firmware`` line of ``version`` after
    the reboot (None when the module did not come up in functional mode in time)."""

    port: str
    image: str
    bytes_written: int
    chunks: int
    rom_version: str
    seconds: float
    firmware_line: str | None


class RomClient:
    """The host side of the ROM's UART service over an open pyserial port (injected)."""

    def __init__(self, port: serial.SerialBase, name: str, *, timeout_s: float = 2.0):
        self.port = port
        self.name = name
        self.timeout_s = timeout_s
        self._owed = b""

    # -- framing ----------------------------------------------------------------------------

    def _send(self, payload: bytes) -> None:
        frame = bytes([0xAA]) + struct.pack(">HB", len(payload) + 2, sum(payload) & 0xFF) + payload
        # The 0xCC owed for the last status packet goes out with this packet: the same bytes
        # on the wire, one write (a lone byte waits out Nagle and delayed ACKs on TCP ports).
        frame, self._owed = self._owed + frame, b""
        try:
            self.port.write(frame)
        except (serial.SerialException, OSError) as e:
            raise TransportError(f"port {self.name}: write failed: {e}") from e

    def _read(self, n: int, deadline: float) -> bytes:
        got = b""
        while len(got) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.port.timeout = min(left, 0.2)
            try:
                got += self.port.read(n - len(got))
            except (serial.SerialException, OSError) as e:
                raise TransportError(f"port {self.name}: read failed: {e}") from e
        return got

    def _answer(self, what: str, timeout_s: float | None = None) -> bytes:
        """One device answer: LENGTH, CHECKSUM, payload; returns the payload."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        head = self._read(3, deadline)
        if len(head) < 3:
            raise DeviceTimeout(f"port {self.name}: no answer to {what} within {timeout_s or self.timeout_s:g} s",
                                hint="is the module still powered and in flashing mode?")
        length, checksum = struct.unpack(">HB", head)
        if not 3 <= length <= 258:
            raise DeviceError(f"port {self.name}: answer to {what} has length {length}, expected 3..258 "
                              f"(got bytes {head.hex(' ')}): not the ROM bootloader's framing")
        payload = self._read(length - 2, deadline)
        if len(payload) < length - 2 or sum(payload) & 0xFF != checksum:
            raise DeviceError(f"port {self.name}: answer to {what} is truncated or has a bad checksum "
                              f"({(head + payload).hex(' ')})")
        return payload

    def _ack(self, what: str, timeout_s: float | None = None) -> bool:
        payload = self._answer(what, timeout_s)
        if len(payload) != 2 or payload[1] not in (ACK, NACK):
            raise DeviceError(f"port {self.name}: answer to {what} is {payload.hex(' ')}, "
                              f"expected ACK (00 cc) or NACK (00 33)")
        return payload[1] == ACK

    def status(self) -> int:
        self._send(bytes([OP_STATUS]))
        payload = self._answer("GET STATUS")
        self._owed = bytes([ACK])  # the host acknowledges a data packet (UniFlash); sent with the next one
        return payload[0] if payload else -1

    def command(self, payload: bytes, what: str) -> None:
        """Send a command; ACK and a GET STATUS of 0x40 or a one-line ``DeviceError``."""
        self._send(payload)
        acked = self._ack(what)
        st = self.status()
        if not acked or st != STATUS_OK:
            raise DeviceError(f"port {self.name}: the ROM refused {what}: {'ACK' if acked else 'NACK'}, "
                              f"status 0x{st:02X} ({STATUS_TEXT.get(st, 'not documented')})")

    # -- the steps --------------------------------------------------------------------------

    def connect(self) -> None:
        """The break handshake. A break, then (pty / TCP carry none) one NUL byte, which is
        how a tty hands a break to its reader (this project's fallback, see the docs)."""
        self.port.reset_input_buffer()
        got = b""
        for attempt in ("break", "nul"):
            if attempt == "break":
                self.port.break_condition = True
                got = self._read(5, time.monotonic() + 0.3)
                self.port.break_condition = False
            else:
                self.port.write(b"\x00")
                got += self._read(5 - len(got), time.monotonic() + self.timeout_s)
            if got:
                break
        if got == bytes([0x00, 0x04, ACK, 0x00, ACK]):
            return
        if not got:  # silent: probe with a line end, which a demo CLI answers
            self.port.write(b"\r\n")
            got = self._read(64, time.monotonic() + 0.5)
        got += self._read(256, time.monotonic() + 0.2)
        if _looks_like_cli(got):
            raise DeviceError(f"port {self.name}: the module answered as the mmWave demo CLI, not as the ROM "
                              f"bootloader: it is in functional mode", hint=FLASHING_HINT)
        if not got:
            raise DeviceTimeout(f"port {self.name}: no answer to the UART break within {self.timeout_s:g} s "
                                f"(flashing mode answers it with an ACK)", hint=FLASHING_HINT)
        raise DeviceError(f"port {self.name}: answer to the UART break is {got[:16].hex(' ')}, expected ACK "
                          f"00 04 cc 00 cc: not an xWR ROM bootloader", hint=FLASHING_HINT)

    def rom_version(self) -> str:
        self._send(bytes([OP_VERSION]))
        if not self._ack("GET VERSION"):
            raise DeviceError(f"port {self.name}: the ROM refused GET VERSION (NACK)")
        payload = self._answer("GET VERSION (version packet)")
        self._owed = bytes([ACK])
        return payload[:4].hex()

    def erase(self) -> None:
        self._send(bytes([OP_ERASE]) + struct.pack(">3I", SFLASH, 0, 0))
        if not self._ack("ERASE", timeout_s=max(self.timeout_s, 60.0)):  # ~30 s on an EVM (TI E2E)
            raise DeviceError(f"port {self.name}: the ROM refused ERASE (NACK)")

    def disconnect(self) -> None:
        self._send(bytes([OP_DISCONNECT]))
        self._ack("DISCONNECT")


def _looks_like_cli(data: bytes) -> bool:
    return PROMPT in data or b"not recognized" in data or b"*****" in data or b"MMW Demo" in data


def _open(url: str, timeout_s: float) -> serial.SerialBase:
    try:
        return serial.serial_for_url(url, baudrate=ROM_BAUD, timeout=timeout_s, write_timeout=timeout_s)
    except (serial.SerialException, OSError, ValueError) as e:
        raise TransportError(f"cannot open port {url} at {ROM_BAUD} baud: {e}",
                             hint="is the module plugged in (or `cardioradar sim serve` running)? "
                                  "is another program holding the port?") from e


def flash_module(url: str, image: ModuleImage, *, erase: bool = False, timeout_s: float = 2.0,
                 boot_timeout_s: float = 5.0, progress: Callable[[int, int], None] | None = None,
                 port: serial.SerialBase | None = None) -> FlashResult:
    """Write ``image`` into the module's SFLASH on ``url``, have the ROM verify it, reboot the
    module and read back its ``version``. ``progress(bytes_done, bytes_total)`` after each
    chunk. ``port``: an already open port (tests); else ``url`` is opened at 115200 baud."""
    t0 = time.monotonic()
    owned = port is None
    port = _open(url, timeout_s) if port is None else port
    try:
        rom = RomClient(port, url, timeout_s=timeout_s)
        rom.connect()
        version = rom.rom_version()
        if version in OTHER_CHIP_ROMS:
            raise DeviceError(f"port {url}: the ROM reports version {version}, an {OTHER_CHIP_ROMS[version]} ROM "
                              f"(UniFlash's table), not an xWR68xx: {image.path.name} is not for this chip")
        if erase:
            rom.erase()
        data = image.data
        rom.command(bytes([OP_OPEN]) + struct.pack(">4I", len(data), SFLASH, META_IMAGE1, 0), "OPEN FILE")
        chunks = 0
        for off in range(0, len(data), CHUNK_BYTES):
            rom.command(bytes([OP_WRITE]) + data[off:off + CHUNK_BYTES], f"WRITE (bytes {off}..)")
            chunks += 1
            if progress is not None:
                progress(min(off + CHUNK_BYTES, len(data)), len(data))
        try:
            rom.command(bytes([OP_CLOSE]) + struct.pack(">I", META_IMAGE1), "CLOSE FILE")
        except DeviceError as e:
            raise DeviceError(f"{image.path.name}: the module did not accept the image at CLOSE ({e}); "
                              f"it stays in flashing mode", hint="check the image (a corrupted image fails its "
                              "CRC32) and flash again") from e
        rom.disconnect()
        line = _functional_version(port, boot_timeout_s)
    finally:
        if owned:
            port.close()
    if line is not None and image.name is not None and f"{image.name} {image.version}" not in line:
        raise DeviceError(f"port {url}: after the reboot `version` reports {line!r}, expected "
                          f"{image.name} {image.version} from {image.path.name}")
    return FlashResult(url, str(image.path), len(image.data), chunks, version, time.monotonic() - t0, line)


def _functional_version(port: serial.SerialBase, timeout_s: float) -> str | None:
    """After the reset: wait for the demo's prompt, ask ``version``, return its Firmware line."""
    seen = _read_until(port, PROMPT, timeout_s)
    if PROMPT not in seen:
        log.info("no prompt within %.1f s after DISCONNECT (a real EVM needs its SOP jumpers and a power cycle)",
                 timeout_s)
        return None
    lines = version_lines(port, timeout_s)
    return next((ln for ln in lines if ln.startswith("Firmware")), None)


def _read_until(port: serial.SerialBase, marker: bytes, timeout_s: float) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout_s
    while marker not in got and time.monotonic() < deadline:
        port.timeout = min(0.2, max(0.01, deadline - time.monotonic()))
        got += port.read(max(1, port.in_waiting))
    return got


def version_lines(port: serial.SerialBase, timeout_s: float = 2.0) -> list[str]:
    """Send ``version`` on the demo CLI; the answer's lines (echo and prompt removed)."""
    port.reset_input_buffer()
    port.write(b"version\n")
    text = _read_until(port, b"Done", timeout_s).decode("ascii", errors="replace")
    if "Done" not in text:
        raise DeviceTimeout(f"port {getattr(port, 'port', '?')}: no `Done` to `version` within {timeout_s:g} s")
    lines = [ln.strip() for ln in text.replace(PROMPT.decode(), "\n").splitlines()]
    return [ln for ln in lines if ln and ln not in ("version", "Done")]


def module_version(url: str, *, timeout_s: float = 2.0) -> list[str]:
    """``version`` of a module in functional mode on ``url``."""
    port = _open(url, timeout_s)
    try:
        return version_lines(port, timeout_s)
    finally:
        port.close()
