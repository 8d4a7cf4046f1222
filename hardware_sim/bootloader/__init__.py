"""The simulated module's ROM bootloader (flashing mode over UART) and its board.

- ``rom``: the xWR68xx ROM's UART flashing service as a pure state machine (bytes in, answers out).
- ``board``: ``SimBoard``, the module with SOP lines and serial flash; boots the stored image's
  firmware (``boot_firmware``: the module's ``select_firmware`` or ``register_firmware``) and reports it in ``version``.
"""

from hardware_sim.bootloader.board import (
    FIRMWARES, SOP_MODES, ImageInfo, SimBoard, boot_firmware, build_image, parse_image_info,
    register_firmware,
)
from hardware_sim.bootloader.rom import RomBootloader

__all__ = ["FIRMWARES", "SOP_MODES", "ImageInfo", "RomBootloader", "SimBoard", "boot_firmware", "build_image",
           "parse_image_info", "register_firmware"]
