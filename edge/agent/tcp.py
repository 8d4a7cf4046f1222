"""The agent protocol over TCP, for a board with a network: ``tcp://HOST:PORT``.

The same frames as on the serial link, on a TCP stream. The agent listens (``agent --port
tcp://HOST:PORT``; an empty HOST means 127.0.0.1, loopback) and serves one host connection
at a time; the host connects (``flash|board|pull --port tcp://HOST:PORT``). Listening on
anything but loopback needs a token (``--token`` or ``$CARDIORADAR_AGENT_TOKEN``), which the
host sends in every request and the agent compares in constant time. The token travels in
clear text: it keeps other hosts on a LAN from talking to the agent by accident or on a
whim, not an eavesdropper; bundles stay signed either way. On a hostile network keep the
agent on loopback and reach it through an SSH tunnel.

`SocketTransport` has the `edge.link.transport.Transport` shape (``read`` returns b"" after
its timeout, raises `TransportError` when the peer is gone), so `serve` and `AgentClient`
use it unchanged.
"""

from __future__ import annotations

import ipaddress
import logging
import select
import socket
from urllib.parse import urlparse

from cardioradar.errors import ConfigError, TransportError

log = logging.getLogger(__name__)

SCHEME = "tcp://"
DEFAULT_HOST = "127.0.0.1"
TOKEN_ENV = "CARDIORADAR_AGENT_TOKEN"


def is_tcp(url: str) -> bool:
    return url.startswith(SCHEME)


def parse(url: str) -> tuple[str, int]:
    """``tcp://HOST:PORT`` -> (host, port); an empty host is loopback."""
    u = urlparse(url)
    try:
        port = u.port
    except ValueError as e:
        raise ConfigError(f"--port {url}: expected tcp://HOST:PORT, {e}") from e
    if u.scheme != "tcp" or port is None or u.path not in ("", "/"):
        raise ConfigError(f"--port {url}: expected tcp://HOST:PORT (HOST may be empty: loopback)")
    return u.hostname or DEFAULT_HOST, port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SocketTransport:
    """A connected TCP socket with the serial transport's read/write/close."""

    def __init__(self, sock: socket.socket, name: str, read_timeout_s: float = 0.05, write_timeout_s: float = 5.0):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # answers are small and awaited
        sock.settimeout(write_timeout_s)
        self._sock, self.name, self._read_timeout_s = sock, name, read_timeout_s

    def read(self, max_bytes: int) -> bytes:
        try:
            r, _, _ = select.select([self._sock], [], [], self._read_timeout_s)
            if not r:
                return b""
            data = self._sock.recv(max_bytes)
        except OSError as e:
            raise TransportError(f"port {self.name}: read failed: {e}") from e
        if not data:
            e = TransportError(f"port {self.name}: the other side closed the connection")
            e.closed = True  # a host that is done: `serve` logs it quietly
            raise e
        return data

    def write(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as e:
            raise TransportError(f"port {self.name}: write failed: {e}") from e

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass


def connect(url: str, timeout_s: float = 5.0) -> SocketTransport:
    """The host's end: connect to an agent listening at ``url``."""
    host, port = parse(url)
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as e:
        raise TransportError(f"cannot open port {url}: {e}",
                             hint="is `cardioradar agent --port tcp://...` running there, on that port?") from e
    return SocketTransport(sock, url)


class Listener:
    """The agent's end: a listening socket; `accept` gives one host connection."""

    def __init__(self, url: str):
        self.url = url
        host, port = parse(url)
        try:
            self._sock = socket.create_server((host, port), reuse_port=False, backlog=4)
        except OSError as e:
            raise TransportError(f"cannot listen on {url}: {e}") from e
        self.port = self._sock.getsockname()[1]
        self.name = f"tcp://{host}:{self.port}"

    def accept(self, timeout_s: float = 0.5) -> SocketTransport:
        r, _, _ = select.select([self._sock], [], [], timeout_s)
        if not r:
            e = TransportError(f"{self.name}: no host connected")
            e.waiting = True  # `serve` waits quietly: no host is no outage
            raise e
        conn, peer = self._sock.accept()
        log.info("host %s:%d connected to %s", peer[0], peer[1], self.name)
        return SocketTransport(conn, f"{self.name} <- {peer[0]}:{peer[1]}")

    def close(self) -> None:
        self._sock.close()
