"""The xWR68xx ROM bootloader's UART service (flashing mode, SOP[2:0] = 101) as a pure state
machine: bytes from the host in, the device's answers out. No I/O.

Facts and their sources (docs/radar-module.md, "Module flashing", lists them all):
- Host -> device packet: sync 0xAA, LENGTH (2 bytes, big-endian) = payload bytes + 2,
  CHECKSUM (1 byte) = sum of the payload bytes & 0xFF, payload = opcode + fields (words
  big-endian). TI SWRA627 / SPRACR5A section 3.3; UniFlash's ``mmWaveProgFlash.py``.
- Opcodes: PING 0x20, OPEN FILE 0x21 (file size, storage type, file type, mirror flag: four
  32-bit words), CLOSE FILE 0x22 (file type), GET STATUS 0x23, WRITE FILE to SFLASH 0x24,
  WRITE FILE to RAM 0x26, ERASE 0x28 (storage, offset, capacity), GET VERSION 0x2F: TI
  SWRA627 table 2 (UniFlash's table adds DISCONNECT 0x27 and FILE ERASE 0x2E).
- Device -> host answers carry no sync byte: LENGTH, CHECKSUM, payload. ACK = 00 04 CC 00 CC,
  NACK = 00 04 33 00 33 (UniFlash's ``_read_ack``; TI's E2E answers: a NACK to CLOSE means
  the image integrity check failed). GET STATUS is answered with a status packet only (no
  ACK; SWRA627), status 0x40 = success (UniFlash); the host then sends one 0xCC byte.
- The handshake starts with a UART break, answered with an ACK (SWRA627, UniFlash).
- A chunk holds at most 240 bytes (SWRA627: 243 - 3).
- A CRC32 over the whole image is checked when the file is closed (SPRACR5A 2.1.2; TI E2E).

This project's choices where TI's public material is silent (named so in the docs):
- A break reaches the simulator as one NUL byte between packets: that is how a POSIX tty
  with IGNBRK and BRKINT clear hands a break to its reader, and a pseudo-terminal or TCP
  port carries no break at all.
- The CRC32 is zlib's CRC-32 of every byte but the last four, stored little-endian in the
  last four bytes of the image.
- Refusals other than the CLOSE integrity check are NACKs too, with the ``Status`` codes
  below after GET STATUS (TI documents only 0x40 success and 0x4B access in progress).
- A break, or a new OPEN, drops a file still open; OPEN to SFLASH invalidates the stored
  image until a CLOSE passes its check (the device writes the flash as chunks arrive).
- GET VERSION answers 12 bytes, ``rom_version``: the xWR68xx ROM's real value is not public
  (UniFlash lists 07000600 / 01000601 for xWR14xx/12xx ROMs and 08000602 for xWR16xx PG1).
- DISCONNECT (0x27) is where the simulated board leaves flashing mode: it releases SOP2 and
  resets, as a board whose SOP and nRESET lines are wired to the flashing host would.
"""

from __future__ import annotations

import enum
import logging
import struct
import zlib
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

SYNC = 0xAA
ACK_BYTE = 0xCC
NACK_BYTE = 0x33
MAX_CHUNK_BYTES = 240
MAX_FILE_BYTES = 1024 * 1024  # UniFlash's MAX_FILE_SIZE (a file must be smaller)
STORAGE_SFLASH = 2
STORAGE_SRAM = 4
META_IMAGE_TYPES = (4, 5, 6, 7)  # META IMG1..4
BREAK_BYTE = 0x00


class Op(enum.IntEnum):
    PING = 0x20
    OPEN_FILE = 0x21
    CLOSE_FILE = 0x22
    GET_STATUS = 0x23
    WRITE_SFLASH = 0x24
    WRITE_RAM = 0x26
    DISCONNECT = 0x27
    ERASE = 0x28
    FILE_ERASE = 0x2E
    GET_VERSION = 0x2F


class Status(enum.IntEnum):
    """GET STATUS answers. SUCCESS is TI's (UniFlash); the others are this project's."""

    SUCCESS = 0x40
    ACCESS_IN_PROGRESS = 0x4B  # TI's (UniFlash); the simulator never reports it
    BAD_COMMAND = 0x41
    NO_FILE_OPEN = 0x42
    BAD_FILE = 0x43
    OVERFLOW = 0x44
    SIZE_MISMATCH = 0x45
    CRC_MISMATCH = 0x46


def answer_packet(payload: bytes) -> bytes:
    """Device -> host: LENGTH (payload + 2, big-endian), CHECKSUM, payload (no sync byte)."""
    return struct.pack(">HB", len(payload) + 2, sum(payload) & 0xFF) + payload


ACK = answer_packet(bytes([0x00, ACK_BYTE]))
NACK = answer_packet(bytes([0x00, NACK_BYTE]))


def image_crc_ok(image: bytes) -> bool:
    """The whole-image check at CLOSE (this project's CRC variant, see the module docstring)."""
    if len(image) < 8:
        return False
    return zlib.crc32(image[:-4]) == struct.unpack("<I", image[-4:])[0]


@dataclass
class RomEvents:
    """What one ``feed`` produced: bytes for the host, and whether the host asked to leave."""

    out: bytes = b""
    disconnect: bool = False
    committed: list[bytes] = field(default_factory=list)  # images that passed CLOSE


class RomBootloader:
    """The ROM's UART service. ``sflash`` is the stored meta image (None: none valid)."""

    def __init__(self, sflash: bytes | None = None, *, rom_version: bytes = bytes(12)):
        if len(rom_version) != 12:
            raise ValueError(f"rom_version: expected 12 bytes, got {len(rom_version)}")
        self.sflash = sflash
        self.rom_version = rom_version
        self.status = Status.SUCCESS
        self._buf = bytearray()
        self._file: bytearray | None = None
        self._file_size = 0
        self._file_type = 0
        self._storage = 0
        self.bad_packets = 0

    def feed(self, data: bytes) -> RomEvents:
        """Bytes received on the UART -> the answers, in order."""
        ev = RomEvents()
        self._buf += data
        while self._buf:
            first = self._buf[0]
            if first != SYNC:
                del self._buf[0]
                if first == BREAK_BYTE:  # a break between packets: handshake (see docstring)
                    self._file = None
                    ev.out += ACK
                continue  # anything else between packets (e.g. the host's 0xCC) is skipped
            if len(self._buf) < 4:
                break
            length, checksum = struct.unpack(">HB", self._buf[1:4])
            n = length - 2
            if n < 1 or n > MAX_CHUNK_BYTES + 1:
                del self._buf[0]  # not a packet header: resynchronise on the next 0xAA
                self.bad_packets += 1
                continue
            if len(self._buf) < 4 + n:
                break
            payload = bytes(self._buf[4:4 + n])
            del self._buf[:4 + n]
            if sum(payload) & 0xFF != checksum:
                self.bad_packets += 1
                self.status = Status.BAD_COMMAND
                ev.out += NACK
                continue
            self._execute(payload, ev)
        return ev

    # -- commands -------------------------------------------------------------------------

    def _execute(self, payload: bytes, ev: RomEvents) -> None:
        op, args = payload[0], payload[1:]
        if op == Op.GET_STATUS:  # status packet only, no ACK (SWRA627)
            ev.out += answer_packet(bytes([int(self.status)]))
            return
        handler = {
            Op.PING: self._ping, Op.OPEN_FILE: self._open, Op.WRITE_SFLASH: self._write,
            Op.WRITE_RAM: self._write, Op.CLOSE_FILE: self._close, Op.ERASE: self._erase,
            Op.GET_VERSION: self._version, Op.DISCONNECT: self._disconnect,
        }.get(op)
        if handler is None:
            self.status = Status.BAD_COMMAND
            ev.out += NACK
            return
        handler(args, ev)

    def _reply(self, ev: RomEvents, status: Status, extra: bytes = b"") -> None:
        self.status = status
        ev.out += (ACK if status == Status.SUCCESS else NACK) + extra

    def _ping(self, args: bytes, ev: RomEvents) -> None:
        self._reply(ev, Status.SUCCESS)

    def _version(self, args: bytes, ev: RomEvents) -> None:
        self._reply(ev, Status.SUCCESS, answer_packet(self.rom_version))

    def _disconnect(self, args: bytes, ev: RomEvents) -> None:
        self._reply(ev, Status.SUCCESS)
        ev.disconnect = True

    def _erase(self, args: bytes, ev: RomEvents) -> None:
        if len(args) != 12:
            return self._reply(ev, Status.BAD_COMMAND)
        storage = struct.unpack(">I", args[:4])[0]
        if storage == STORAGE_SFLASH:
            self.sflash = None
            log.info("ROM: SFLASH erased")
        self._reply(ev, Status.SUCCESS)

    def _open(self, args: bytes, ev: RomEvents) -> None:
        if len(args) != 16:
            return self._reply(ev, Status.BAD_COMMAND)
        size, storage, ftype, _mirror = struct.unpack(">4I", args)
        if storage not in (STORAGE_SFLASH, STORAGE_SRAM) or ftype not in META_IMAGE_TYPES \
                or not 0 < size < MAX_FILE_BYTES:
            self._file = None
            return self._reply(ev, Status.BAD_FILE)
        self._file, self._file_size, self._file_type, self._storage = bytearray(), size, ftype, storage
        if storage == STORAGE_SFLASH:
            self.sflash = None  # overwritten from here on
        log.info("ROM: open file type %d, %d bytes, storage %d", ftype, size, storage)
        self._reply(ev, Status.SUCCESS)

    def _write(self, args: bytes, ev: RomEvents) -> None:
        if self._file is None:
            return self._reply(ev, Status.NO_FILE_OPEN)
        if len(self._file) + len(args) > self._file_size:
            return self._reply(ev, Status.OVERFLOW)
        self._file += args
        self._reply(ev, Status.SUCCESS)

    def _close(self, args: bytes, ev: RomEvents) -> None:
        if self._file is None:
            return self._reply(ev, Status.NO_FILE_OPEN)
        image, self._file = bytes(self._file), None
        if len(args) != 4 or struct.unpack(">I", args)[0] != self._file_type:
            return self._reply(ev, Status.BAD_FILE)
        if len(image) != self._file_size:
            log.info("ROM: close after %d of %d bytes", len(image), self._file_size)
            return self._reply(ev, Status.SIZE_MISMATCH)
        if not image_crc_ok(image):
            log.info("ROM: image CRC32 check failed at close")
            return self._reply(ev, Status.CRC_MISMATCH)
        if self._storage == STORAGE_SFLASH:
            self.sflash = image
            ev.committed.append(image)
        log.info("ROM: file closed, %d bytes, CRC32 ok", len(image))
        self._reply(ev, Status.SUCCESS)
