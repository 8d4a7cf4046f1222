"""The simulated module's firmware: config CLI, TLV frame encoder, frame clock and UART budget.

- ``cli``: the config UART as a pure state machine (text lines in, device answers out).
- ``tlv``: the data UART's frame layout (``encode_frame``), per ``docs/radar-module.md``.
- ``module``: ``RadarModule`` ties them to a frame source (the front end): frame clock with
  crystal drift, range-bin selection, UART budget, one ``ModuleFrame`` per radar frame.
"""

from hardware_sim.firmware.cli import BANNER_68XX, PROMPT, CliCode, CliReply, ConfigCli
from hardware_sim.firmware.tlv import FrameHeader, encode_frame

__all__ = ["BANNER_68XX", "PROMPT", "CliCode", "CliReply", "ConfigCli", "FrameHeader", "encode_frame"]
