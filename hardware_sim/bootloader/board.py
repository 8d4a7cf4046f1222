"""The simulated module on its board: SOP lines, serial flash (SFLASH) and ROM bootloader
around a ``RadarModule``.

``SimBoard`` stands where a ``RadarModule`` stands (``ModuleServer(SimBoard(module, ...))``):
it passes everything through to the module, except that

- with SOP[2:0] = 101 ("flashing", SOP2 closed) the config UART talks to the ROM
  (``RomBootloader``) and the data UART is silent;
- with SOP[2:0] = 001 ("functional") a reset boots the meta image stored in SFLASH: the
  image's metadata names the firmware, ``boot_firmware`` makes the simulated module run it,
  and ``version`` reports the image's name and version. An image that is missing, fails its
  CRC or names a firmware this simulator does not have boots nothing: the port stays silent.

The SFLASH content lives as long as the board object (the ``sim serve`` process), across
resets. Image layout: docs/radar-module.md, "Module flashing".
"""

from __future__ import annotations

import json
import logging
import struct
import zlib
from dataclasses import dataclass
from typing import Callable

from hardware_sim.bootloader.rom import RomBootloader, image_crc_ok
from hardware_sim.firmware.module import RadarModule

log = logging.getLogger(__name__)

META_MAGIC = 0x5254534D  # 'MSTR' little-endian: UniFlash's header check for xWR68xx images
PROJECT_TAG = b"CRDR"  # this project's image (TI's meta images continue differently)
SOP_MODES = {"functional": "001", "flashing": "101"}  # SOP[2:0] (TI SWRU546E table 2-9)


@dataclass(frozen=True)
class ImageInfo:
    """What this project's image header says: firmware key, display name, version."""

    firmware: str
    name: str
    version: str
    factory: bool = False  # the module's own firmware as built: it names itself in `version`


def parse_image_info(image: bytes) -> ImageInfo | None:
    """The metadata of one of this project's images (None: not one, or unreadable)."""
    if len(image) < 16 or struct.unpack("<I", image[:4])[0] != META_MAGIC or image[4:8] != PROJECT_TAG:
        return None
    n = struct.unpack("<I", image[8:12])[0]
    try:
        meta = json.loads(image[12:12 + n].decode("utf-8"))
        return ImageInfo(str(meta["firmware"]), str(meta["name"]), str(meta["version"]), meta.get("factory") is True)
    except (ValueError, KeyError, TypeError):
        return None


def build_image(info: ImageInfo, payload: bytes = b"") -> bytes:
    """An image in this project's layout (the simulator's factory image; the host has its own
    builder, ``host.module.image``, written apart so each checks the other)."""
    fields = {"firmware": info.firmware, "name": info.name, "version": info.version}
    meta = json.dumps(fields | ({"factory": True} if info.factory else {})).encode()
    body = struct.pack("<I", META_MAGIC) + PROJECT_TAG + struct.pack("<I", len(meta)) + meta + payload
    return body + struct.pack("<I", zlib.crc32(body))


# How the simulated module runs the firmware an image names: the module's own
# ``select_firmware(name)`` when it has one (it raises ValueError for a firmware it does not
# have), or a boot function registered here (``register_firmware``), which gets the freshly
# reset module and the image's metadata.
FirmwareBoot = Callable[[RadarModule, ImageInfo], None]
FIRMWARES: dict[str, FirmwareBoot] = {}


def register_firmware(name: str, boot: FirmwareBoot) -> None:
    FIRMWARES[name] = boot


def boot_firmware(module: RadarModule, info: ImageInfo) -> None:
    """Make ``module`` run the firmware ``info`` names; ValueError if it has no such firmware."""
    boot = FIRMWARES.get(info.firmware)
    if boot is not None:
        return boot(module, info)
    select = getattr(module, "select_firmware", None)
    if select is not None:
        return select(info.firmware)
    if info.firmware != "cardioradar":
        raise ValueError(f"firmware: expected 'cardioradar', got {info.firmware!r}")


def factory_image(module: RadarModule) -> bytes:
    """What a new simulated module has in SFLASH: the firmware it was built with, this release."""
    from cardioradar import __version__
    from hardware_sim.firmware.cli import FIRMWARE_NAME

    name, version = getattr(module.cli, "firmware", (FIRMWARE_NAME, __version__))
    return build_image(ImageInfo(getattr(module, "firmware", "cardioradar"), name, version, factory=True))


class SimBoard:
    """A ``RadarModule`` with SOP lines, SFLASH and the ROM bootloader (see module docstring)."""

    _OWN = frozenset({"_module", "_sop", "rom", "booted", "boots"})

    def __init__(self, module: RadarModule, *, sop: str = "functional", sflash: bytes | None = None,
                 rom_version: bytes = bytes(12)):
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_sop", _check_sop(sop))
        object.__setattr__(self, "rom", RomBootloader(factory_image(module) if sflash is None else sflash,
                                                      rom_version=rom_version))
        object.__setattr__(self, "booted", None)  # ImageInfo running now (None: ROM or nothing)
        object.__setattr__(self, "boots", 0)
        self._reset()

    # -- pass-through (ModuleServer reads and sets module attributes) -------------------------

    def __getattr__(self, name):
        return getattr(self._module, name)

    def __setattr__(self, name, value):
        if name in self._OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self._module, name, value)

    @property
    def module(self) -> RadarModule:
        return self._module

    @property
    def sop(self) -> str:
        return self._sop

    @property
    def flashing(self) -> bool:
        return self._sop == "flashing"

    @property
    def running(self) -> bool:
        return not self.flashing and self.booted is not None and self._module.running

    def banner(self) -> bytes:
        return self._module.banner() if self._alive() else b""

    def config_input(self, data: bytes, t_s: float = 0.0) -> tuple[bytes, bytes]:
        if self.flashing:
            ev = self.rom.feed(data)
            out = ev.out
            if ev.disconnect:  # leaves flashing mode: SOP2 released, reset (see rom.py)
                self._sop = "functional"
                self._reset()
                out += self.banner()
            return out, b""
        if not self._alive():
            return b"", b""  # nothing runs that would answer
        return self._module.config_input(data, t_s)

    def power_cycle(self) -> None:
        """Reset: the ROM reads the SOP lines again (SFLASH keeps its content)."""
        self._reset()

    def set_sop(self, sop: str) -> None:
        """Set the SOP jumpers; they count at the next ``power_cycle``."""
        self._sop = _check_sop(sop)

    # -- boot -------------------------------------------------------------------------------

    def _alive(self) -> bool:
        return not self.flashing and self.booted is not None

    def _reset(self) -> None:
        self.boots += 1
        self.booted = None
        self._module.power_cycle()
        if self.flashing:
            self.rom = RomBootloader(self.rom.sflash, rom_version=self.rom.rom_version)
            log.info("board reset in flashing mode (SOP %s): ROM bootloader on the config UART",
                     SOP_MODES[self._sop])
            return
        image = self.rom.sflash
        info = parse_image_info(image) if image is not None and image_crc_ok(image) else None
        if info is None:
            log.error("board reset in functional mode: no valid image in SFLASH; nothing runs")
            return
        try:
            boot_firmware(self._module, info)
        except ValueError as e:
            log.error("board reset in functional mode: the image names a firmware this simulator does not "
                      "have (%s); nothing runs", e)
            return
        cli = self._module.cli
        if hasattr(cli, "firmware") and not info.factory:  # what `version` reports
            cli.firmware = (info.name, info.version)
        self.booted = info
        log.info("board reset in functional mode: running %s %s (%s)", info.name, info.version, info.firmware)


def _check_sop(sop: str) -> str:
    if sop not in SOP_MODES:
        raise ValueError(f"sop: expected one of {', '.join(SOP_MODES)}, got {sop!r}")
    return sop
