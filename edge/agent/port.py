"""Open the agent link (both ends): a path or pyserial URL, locked against a second user.

Like `edge.link.transport.open_port`, plus an exclusive lock on device paths, so a second
flasher (or a terminal) on the same port fails at once with "busy" instead of both
programs reading half of each other's answers.
"""

from __future__ import annotations

import logging

import serial

from cardioradar.errors import TransportError
from edge.link.transport import SerialTransport, _open_hint

log = logging.getLogger(__name__)

DEFAULT_BAUD = 921600


def open_link(url: str, baud: int = DEFAULT_BAUD, *, read_timeout_s: float = 0.05,
              write_timeout_s: float = 5.0) -> SerialTransport:
    """The host's end of the link; ``tcp://HOST:PORT`` connects to an agent on the network."""
    from edge.agent import tcp

    if tcp.is_tcp(url):
        return tcp.connect(url)
    is_path = "://" not in url
    try:
        kw = {"exclusive": True} if is_path else {}
        port = serial.serial_for_url(url, baudrate=baud, timeout=read_timeout_s,
                                     write_timeout=write_timeout_s, **kw)
    except (serial.SerialException, OSError, ValueError) as e:
        text = str(e)
        hint = _open_hint(e)
        if "lock" in text.lower():
            hint = "another program holds the port (a second flash, a terminal, the runtime)"
            text = f"busy: {text}"
        raise TransportError(f"cannot open port {url}: {text}", hint=hint) from e
    log.debug("opened %s at %d baud", url, baud)
    return SerialTransport(port, name=url)
