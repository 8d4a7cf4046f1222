"""Send a radar ``.cfg`` to the module's config UART, line by line, checking every answer.

The device echoes each command and answers ``Done``, ``Error <code>`` (maybe after an
``Error: ...`` reason), ``Skipped`` or ``'<cmd>' is not recognized as a CLI command``,
then prints its prompt. A refused line raises `DeviceError` naming the file, line,
command and answer; silence raises `DeviceTimeout`; binary bytes (the data port, or a
wrong baud rate) raise `TransportError` saying so.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from cardioradar.errors import DeviceError, DeviceTimeout, TransportError
from cardioradar.inputs import read_config_input
from edge.link.protocol import MAGIC
from edge.link.transport import Transport

log = logging.getLogger(__name__)

PROMPT = "mmwDemo:/>"
_ERROR_CODE = re.compile(r"^Error\s+-?\d+$")
_NOT_RECOGNIZED = "is not recognized as a CLI command"
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}


@dataclass(frozen=True)
class CommandAnswer:
    """One sent line and what the device said (answer lines, echo removed)."""

    lineno: int
    command: str
    answer: tuple[str, ...]
    elapsed_s: float


@dataclass(frozen=True)
class ConfigResult:
    source: str
    port: str
    answers: tuple[CommandAnswer, ...]


def send_cfg(
    transport: Transport,
    cfg_path: str | Path,
    *,
    line_timeout_s: float = 2.0,
    start_timeout_s: float = 5.0,
) -> ConfigResult:
    """Send every command of ``cfg_path``; comments and blank lines are not sent."""
    path = Path(cfg_path)
    return send_cfg_text(transport, read_config_input(path, "radar cfg"), source=str(path),
                         line_timeout_s=line_timeout_s, start_timeout_s=start_timeout_s)


def send_cfg_text(
    transport: Transport,
    text: str,
    *,
    source: str = "<cfg>",
    line_timeout_s: float = 2.0,
    start_timeout_s: float = 5.0,
) -> ConfigResult:
    session = _CliSession(transport)
    session.drain()  # start-up banner, a stale prompt: checked for binary, then ignored
    answers = []
    for lineno, line in enumerate(text.splitlines(), 1):
        command = " ".join(line.split())
        if not command or command.startswith("%"):
            continue
        timeout_s = start_timeout_s if command.split()[0] == "sensorStart" else line_timeout_s
        t0 = time.monotonic()
        answer = session.command(command, timeout_s, where=f"{source}:{lineno}")
        ans = CommandAnswer(lineno, command, answer, time.monotonic() - t0)
        log.debug("%s:%d %s -> %s", source, lineno, command, " / ".join(answer))
        if not _accepted(answer):
            raise DeviceError(
                f"{source}:{lineno}: the device on {transport.name} refused {command!r}: "
                f"{' / '.join(answer)}",
                hint=_refusal_hint(command, answer),
            )
        answers.append(ans)
    return ConfigResult(source, transport.name, tuple(answers))


def _accepted(answer: tuple[str, ...]) -> bool:
    return bool(answer) and answer[-1] in ("Done", "Skipped") and not any(
        a.startswith("Error") for a in answer
    )


def _refusal_hint(command: str, answer: tuple[str, ...]) -> str | None:
    if any(_NOT_RECOGNIZED in a for a in answer):
        return "this firmware does not know the command: is the .cfg written for this module/firmware?"
    if any("Invalid usage" in a for a in answer):
        return "wrong number of arguments for this command"
    if any("running" in a for a in answer):
        return "send sensorStop before changing the configuration"
    return None


class _CliSession:
    """Reads the config UART's answers line by line."""

    def __init__(self, transport: Transport):
        self.t = transport
        self._pending = b""

    def drain(self, quiet_s: float = 0.05, max_s: float = 0.5) -> None:
        """Read what the device already sent (banner) until it is quiet."""
        deadline = time.monotonic() + max_s
        while time.monotonic() < deadline:
            chunk = self.t.read(4096)
            if not chunk:
                break
            self._check_text(chunk, "before the first command")
        self._pending = b""

    def command(self, command: str, timeout_s: float, where: str) -> tuple[str, ...]:
        self.t.write(command.encode("ascii", errors="replace") + b"\n")
        deadline = time.monotonic() + timeout_s
        lines: list[str] = []
        got_any = False
        while True:
            for raw in self._take_lines():
                line = raw.replace(PROMPT, "").strip()
                if not line or line == command:
                    continue  # prompt or echo
                lines.append(line)
                if _is_final(line):
                    return tuple(lines)
            if time.monotonic() >= deadline:
                break
            chunk = self.t.read(4096)
            if chunk:
                got_any = True
                self._check_text(chunk, f"after {command!r} ({where})")
                self._pending += chunk
        if not got_any:
            raise DeviceTimeout(
                f"{where}: config port {self.t.name} answered nothing in {timeout_s:g} s to {command!r}",
                hint="wrong port, wrong baud rate (the config UART runs at 115200), or the module is not powered",
            )
        said = " / ".join(lines) or self._pending.decode("ascii", errors="replace").strip()
        raise DeviceTimeout(
            f"{where}: config port {self.t.name} gave no final answer to {command!r} in {timeout_s:g} s "
            f"(expected Done or Error; got {said!r})",
            hint="is this the module's config port? is its firmware the mmWave demo?",
        )

    def _take_lines(self) -> list[str]:
        parts = re.split(rb"\r\n|\r|\n", self._pending)
        self._pending = parts.pop()
        # A trailing prompt is not followed by a newline: keep it from hiding a final line.
        return [p.decode("ascii", errors="replace") for p in parts]

    def _check_text(self, chunk: bytes, when: str) -> None:
        if MAGIC in chunk or chunk.count(0xFF) >= 8:
            raise TransportError(
                f"config port {self.t.name} sent binary frames {when}: this looks like the module's data port",
                hint="swap the config and data ports in the board profile ([ports] config / data)",
            )
        bad = sum(1 for b in chunk if b not in _TEXT_BYTES)
        if bad > max(2, len(chunk) // 10):
            raise TransportError(
                f"config port {self.t.name} sent {bad} non-text bytes of {len(chunk)} {when}: "
                "not the config CLI's text (the data port, or a wrong baud rate)",
                hint="the config UART runs at 115200 baud; check [ports] in the board profile",
            )


def _is_final(line: str) -> bool:
    return (
        line == "Done"
        or line == "Skipped"
        or bool(_ERROR_CODE.match(line))
        or _NOT_RECOGNIZED in line
    )
