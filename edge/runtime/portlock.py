"""One tester, one radar: exclusive locks on the radar's ports for the length of a session.

A second `edge run` on the same module re-sends the ``.cfg`` (the module restarts) and
steals bytes from the first run's data port: both runs lose frames. Each run therefore
holds, for its whole length, an exclusive ``flock`` on one small lock file per port, and
refuses to start when one is held: ``busy: used by PID N``.

Why lock files and not a lock on the device node itself: opening a UART drives DTR/RTS
(which resets some modules on a Raspberry Pi 4), and the config port is only open while a
``.cfg`` is being sent, so a lock on its file descriptor would leave gaps. ``flock`` locks
go away with the process (a crashed run leaves no stale lock); the file holds the owner's
PID for the message. The port is keyed both by the name given (``/dev/serial/by-id/...``,
a symlink) and by the device it resolves to at start (``/dev/ttyUSB0``), so a second run
is refused whichever of the two names it is given. pyserial URLs are keyed by their
address (``socket://host:port``, ``rfc2217://host:port``); ``loop://`` and other
in-process URLs are not locked. The open ports also get pyserial's ``exclusive=True`` on
POSIX (see `edge.link.transport.open_port`), which keeps out other flock-aware programs.

`holder(port)` tells whether a running session holds a port, without opening it (the
board agent's health check uses it to leave the radar alone during a session).

Lock directory: ``$CARDIORADAR_LOCK_DIR``, else ``/run/lock`` (FHS, shared by all users)
when writable, else the system temporary directory.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from cardioradar.errors import TransportError

LOCK_DIR_ENV = "CARDIORADAR_LOCK_DIR"
_NETWORK_SCHEMES = ("socket", "rfc2217")


def lock_dir() -> Path:
    env = os.environ.get(LOCK_DIR_ENV)
    if env:
        d = Path(env)
    elif os.access("/run/lock", os.W_OK | os.X_OK):
        d = Path("/run/lock")
    else:
        d = Path(tempfile.gettempdir())
    return d / "cardioradar"


def port_keys(port: str) -> list[str]:
    """The names a port is locked under: the name as given and what it resolves to now."""
    if "://" in port:
        u = urlparse(port)
        if u.scheme in _NETWORK_SCHEMES and u.hostname:
            return [f"{u.scheme}://{u.hostname.lower()}:{u.port}"]
        return []  # loop://, spy://, alt://...: nothing shared between processes to lock
    given = os.path.abspath(port)
    resolved = os.path.realpath(port)
    return [given] if resolved == given else [given, resolved]


def _lock_path(key: str) -> Path:
    # readable and unique: the key's tail plus a short hash of the whole key
    tail = re.sub(r"[^A-Za-z0-9._-]+", "_", key)[-60:]
    return lock_dir() / f"port.{tail}.{hashlib.sha256(key.encode()).hexdigest()[:12]}.lock"


def _read_pid(fd: int) -> int:
    """The PID written by the lock's holder (0 if it has not written it yet)."""
    for _ in range(20):  # the holder writes its PID right after taking the lock
        text = os.pread(fd, 64, 0).decode("ascii", "replace").split("\n", 1)[0].strip()
        if text.isdigit():
            return int(text)
        time.sleep(0.005)
    return 0


def holder(port: str) -> int | None:
    """PID of the running session holding ``port`` (a path, symlink or URL), else None.

    Never opens the port itself. 0: held, by a process that has not written its PID yet.
    """
    for key in port_keys(port):
        try:
            fd = os.open(_lock_path(key), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read_pid(fd)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    return None


def check(ports: dict[str, str]) -> None:
    """Raise the `acquire` refusal now if a port of ``ports`` is held (takes no lock): lets a
    command refuse before slow set-up such as loading the model."""
    for role, port in ports.items():
        pid = holder(port)
        if pid is not None:
            raise TransportError(_busy(role, port, port_keys(port)[0], pid))


def _busy(role: str, port: str, key: str, pid: int) -> str:
    via = "" if key in (port, os.path.abspath(port)) else f" (as {key})"
    return f"{role} port {port}{via}: busy: used by PID {pid or '?'}; one session per radar: stop that run first"


@dataclass
class PortLocks:
    """Exclusive locks held on ports; `release` (or the process's end) frees them."""

    fds: list[int]
    keys: set[str] = field(default_factory=set)

    def add(self, role: str, port: str) -> None:
        """Also lock ``port`` (e.g. the device a stable name resolves to after a replug)."""
        new = [k for k in port_keys(port) if k not in self.keys]
        if new:
            more = acquire({role: port}, skip=self.keys)
            self.fds += more.fds
            self.keys |= more.keys

    def release(self) -> None:
        for fd in self.fds:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        self.fds = []
        self.keys = set()

    def __enter__(self) -> "PortLocks":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def acquire(ports: dict[str, str], owner: str = "cardioradar edge run", skip: set[str] = frozenset()) -> PortLocks:
    """Lock every port of ``ports`` (role -> port), all or none.

    Raises ``TransportError('<role> port <p>: busy: used by PID N ...')`` when a port is held.
    """
    d = lock_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o1777)  # every user's runs must see (and be refused by) the same locks
    except PermissionError:
        pass  # made by another user with the right mode already
    except OSError as e:
        raise TransportError(f"port lock directory {d}: {e}", hint=f"set {LOCK_DIR_ENV} to a writable folder") from e
    locks = PortLocks([])
    seen: set[str] = set(skip)  # keys this process holds already (flock would refuse our own)
    try:
        for role, port in ports.items():
            for key in port_keys(port):
                if key in seen:  # config and data given as the same port: one lock
                    continue
                seen.add(key)
                path = _lock_path(key)
                try:
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
                except OSError as e:
                    raise TransportError(f"{role} port {port}: cannot create lock file {path}: {e}") from e
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as e:
                    pid = _read_pid(fd)
                    os.close(fd)
                    if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                        raise TransportError(f"{role} port {port}: cannot lock {path}: {e}") from e
                    raise TransportError(_busy(role, port, key, pid)) from None
                locks.fds.append(fd)
                locks.keys.add(key)
                try:
                    os.fchmod(fd, 0o666)  # the umask must not lock other users out of the file
                except PermissionError:
                    pass
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n{owner}\n{key}\n".encode(), 0)
    except BaseException:
        locks.release()
        raise
    return locks
