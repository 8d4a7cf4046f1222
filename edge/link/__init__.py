"""Serial link to the radar module: transport, frame decoder, .cfg sender, reader.

- ``types``: `RadarFrame`, `LinkEvent` (and the event kinds).
- ``protocol``: `FrameDecoder`, a pure incremental decoder (bytes in -> frames/events out).
- ``transport``: `Transport` protocol, `open_port` (path, pty or pyserial URL).
- ``configure``: `send_cfg` (a ``.cfg`` to the config UART, every answer checked).
- ``reader``: `FrameReader` (thread, bounded queue, reconnect with back-off).
"""

from edge.link.configure import ConfigResult, send_cfg, send_cfg_text
from edge.link.protocol import DecoderConfig, FrameDecoder
from edge.link.reader import FrameReader, ReaderConfig
from edge.link.transport import SerialTransport, Transport, open_config_port, open_data_port, open_port
from edge.link.types import LinkEvent, RadarFrame

__all__ = [
    "ConfigResult", "DecoderConfig", "FrameDecoder", "FrameReader", "LinkEvent", "RadarFrame",
    "ReaderConfig", "SerialTransport", "Transport", "open_config_port", "open_data_port", "open_port",
    "send_cfg", "send_cfg_text",
]
