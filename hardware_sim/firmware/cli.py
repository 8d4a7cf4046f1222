"""The module's config UART as a pure state machine: text lines in, the device's answers out.

Behaviour follows the mmWave SDK 3.5 CLI (``packages/ti/utils/cli/src/cli.c``) and the OOB
demo's handlers: the banner and prompt ``mmwDemo:/>``, the echoed command, then ``Done``,
``Error <code>`` (after ``Error: Invalid usage of the CLI command`` for a wrong argument
count), ``Skipped`` for ``%`` comments, and ``'<cmd>' is not recognized as a CLI command``.
Lines are cut at 255 bytes (the rest is read as the next command, as the device's UART read
does) and split on spaces, CR and LF (``boards.radarcfg.split_command``, which the edge's cfg
check uses too; a tab is not a separator on the device).

Arguments. Every numeric argument is checked against the range of its mmWaveLink field
(``boards.radarcfg.ARG_RANGES``, sources in docs/radar-module.md): NaN, inf, a non-number or
a value out of range is refused with ``Error: <command> <argument>: got <value>, expected
<range>`` and ``Error -1``. No input ends the CLI: whatever a line holds, it gets an answer
and the next prompt.

Error codes. The handlers return -1 for bad arguments as the SDK's do. The device reports
``sensorStart`` failures with mmWave-link codes that vary by firmware build; this simulator
uses the stable codes of ``CliCode`` instead, and prints a one-line reason before them.

Deliberate differences from the device: a number that does not parse is refused (the SDK's
``atoi`` would read it as 0); ranges are checked when the command arrives (the device's
mmWaveLink checks most of them when sensorStart configures the front end); a configuration
change while the sensor runs is refused with ``CliCode.SENSOR_RUNNING`` (the SDK accepts some
and silently ignores them until restart). ``version`` prints the platform and SDK version
lines of the SDK's handler and a firmware line; the device's RF firmware, patch and die-ID
lines are not printed (a simulator has no such values).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, replace

from boards.radarcfg import (
    COMMAND_ARGC,
    MAX_LINE_BYTES,
    RadarConfig,
    apply_command,
    check_args,
    physical_problems,
    split_command,
)
from cardioradar import __version__

log = logging.getLogger(__name__)

PROMPT = "mmwDemo:/>"
BANNER_68XX = "xWR68xx MMW Demo 03.05.00.04"
FIRMWARE_NAME = "CardioRadar range-matrix firmware"  # what `version` names (ours, simulated)
EOL = "\r\n"  # the UART driver in text mode sends CR LF for every newline
ACK_PING = b"\xff" * 16  # configDataPort <baud> 1: sent on the data UART


class CliCode(enum.IntEnum):
    """The negative codes after ``Error`` (see the module docstring)."""

    HANDLER = -1  # bad argument count or value (SDK handlers return -1)
    SENSOR_RUNNING = -2  # configuration change while the sensor runs
    MISSING_CONFIG = -10  # sensorStart: a needed command was never given
    SWEEP_OUT_OF_BAND = -11  # sensorStart: sweep leaves 60-64 GHz
    CHIRP_TIMING = -12  # sensorStart: ADC window outside the ramp / chirps exceed the frame period
    ADC_BUFFER = -13  # sensorStart: chirp samples exceed the ADC ping buffer
    TX_MASK = -14  # sensorStart: chirp TX mask not enabled by channelCfg
    RANGE_SELECTION = -15  # sensorStart: rangeBinSelCfg impossible for the profile
    UNSUPPORTED_OUTPUT = -16  # sensorStart: guiMonitor asks for a TLV this firmware does not make
    FRONT_END = -17  # sensorStart: the RF front end refused the configuration
    FRAME_MODE = -18  # sensorStart: dfeDataOutputMode is not 1 (frame mode)


_PROBLEM_CODES = {
    "missing": CliCode.MISSING_CONFIG,
    "band": CliCode.SWEEP_OUT_OF_BAND,
    "timing": CliCode.CHIRP_TIMING,
    "adc_buffer": CliCode.ADC_BUFFER,
    "tx_mask": CliCode.TX_MASK,
    "range_sel": CliCode.RANGE_SELECTION,
    "frame_mode": CliCode.FRAME_MODE,
}

# Commands that only read state or drive the sensor: allowed while it runs.
_RUNTIME_COMMANDS = {"sensorStop", "sensorStart", "queryDemoStatus", "help", "version"}


@dataclass(frozen=True)
class CliReply:
    """What one command line produces.

    ``text``: bytes for the config UART (echo, answer lines, next prompt).
    ``data``: bytes for the data UART (the configDataPort ack ping), usually empty.
    ``event``: 'start' when the sensor was started, 'stop' when stopped, else None.
    """

    text: bytes
    data: bytes = b""
    event: str | None = None


class StartVeto(Exception):
    """Raised by a ``start_check`` hook to refuse sensorStart (code, one-line reason)."""

    def __init__(self, code: CliCode, message: str):
        super().__init__(message)
        self.code = code


class ConfigCli:
    """The config UART's state: pending configuration, running flag, data baud rate.

    ``start_check(cfg)``, if given, is called on sensorStart after the physical checks; it may
    raise ``StartVeto`` (e.g. the front end cannot model this configuration).
    """

    def __init__(self, banner: str = BANNER_68XX, start_check=None):
        self.banner_text = banner
        self.cfg = RadarConfig()
        self.running = False
        self.running_cfg: RadarConfig | None = None
        self.firmware = (FIRMWARE_NAME, __version__)  # (name, version) `version` reports; a flashed image sets it
        self._start_check = start_check
        self._pending = b""
        self._after_cr = False

    @property
    def data_baud(self) -> int:
        return self.cfg.data_baud or 921600

    def banner(self) -> bytes:
        star = "*" * 42
        return f"{EOL}{star}{EOL}{self.banner_text}{EOL}{star}{EOL}{PROMPT}".encode()

    def feed(self, data: bytes) -> list[CliReply]:
        """Bytes as they arrive on the UART -> one reply per completed line."""
        self._pending += data
        replies = []
        while True:
            cut = min((i for i in (self._pending.find(b"\n"), self._pending.find(b"\r")) if i >= 0), default=-1)
            if cut < 0 and len(self._pending) < MAX_LINE_BYTES:
                break
            if cut < 0 or cut > MAX_LINE_BYTES:
                line, self._pending = self._pending[:MAX_LINE_BYTES], self._pending[MAX_LINE_BYTES:]
                self._after_cr = False
            else:
                line, term = self._pending[:cut], self._pending[cut:cut + 1]
                self._pending = self._pending[cut + 1:]
                after_cr, self._after_cr = self._after_cr, term == b"\r"
                if line == b"" and term == b"\n" and after_cr:
                    continue  # second half of a CR LF pair
            replies.append(self.execute(line.decode("ascii", errors="replace")))
        return replies

    def execute(self, line: str) -> CliReply:
        """Run one command line; returns the echo, the answer and the next prompt.

        Never raises: a handler failure the checks did not foresee is logged and answered
        ``Error -1``, and the CLI goes on (the device's CLI task never ends either).
        """
        if line.startswith("%"):  # the SDK skips a line whose first byte is '%'
            return CliReply((line.strip("\r\n") + EOL + "Skipped" + EOL + PROMPT).encode())
        words = split_command(line)
        if not words:
            return CliReply(PROMPT.encode())
        try:
            answer, data, event = self._dispatch(words[0], words[1:])
        except Exception as e:  # noqa: BLE001 - the CLI must answer whatever the line holds
            log.error("config CLI: %r failed: %s: %s", line, type(e).__name__, e, exc_info=True)
            answer, data, event = [f"Error: {words[0]}: {type(e).__name__}", _err(CliCode.HANDLER)], b"", None
        text = line.strip("\r\n") + EOL + "".join(a + EOL for a in answer) + PROMPT
        return CliReply(text.encode(errors="replace"), data, event)

    # -- dispatch ---------------------------------------------------------------------------

    def _dispatch(self, name: str, args: list[str]) -> tuple[list[str], bytes, str | None]:
        if name == "version":
            return self._version() + ["Done"], b"", None
        if name == "help":
            return sorted(COMMAND_ARGC) + ["Done"], b"", None
        if name not in COMMAND_ARGC:
            return [f"'{name}' is not recognized as a CLI command"], b"", None
        if name == "sensorStart":
            if len(args) > 1:
                return _usage()
            return self._sensor_start()
        if len(args) != COMMAND_ARGC[name]:
            return _usage()
        if name == "sensorStop":
            if not self.running:
                return ["Ignored: Sensor is already stopped", "Done"], b"", None
            self.running = False
            return ["Done"], b"", "stop"
        if self.running and name not in _RUNTIME_COMMANDS:
            return ["Error: sensor is running; send sensorStop before changing the configuration",
                    _err(CliCode.SENSOR_RUNNING)], b"", None
        if name == "queryDemoStatus":
            return [f"Sensor State: {1 if self.running else 0}", f"Data port baud rate: {self.data_baud}", "Done"], b"", None
        reason = check_args(name, args)
        if reason:
            return [f"Error: {reason}", _err(CliCode.HANDLER)], b"", None
        self.cfg = apply_command(self.cfg, name, args)
        if name == "configDataPort" and int(float(args[1])) != 0:
            return ["Done"], ACK_PING, None
        return ["Done"], b"", None

    def _version(self) -> list[str]:
        """The lines of the SDK's ``version`` handler that a simulator can answer truly."""
        words = self.banner_text.split()
        platform, sdk = (words[0], words[-1]) if len(words) >= 2 else ("xWR68xx", "03.05.00.04")
        return [f"Platform                : {platform}", f"mmWave SDK Version      : {sdk}",
                f"Firmware                : {self.firmware[0]} {self.firmware[1]} (simulated module)"]

    def _sensor_start(self) -> tuple[list[str], bytes, str | None]:
        if self.running:
            return ["Ignored: Sensor is already started", "Done"], b"", None
        problems = physical_problems(self.cfg)
        if problems:
            p = problems[0]
            log.info("sensorStart refused: %s", "; ".join(q.message for q in problems))
            return [f"Error: {p.message}", _err(_PROBLEM_CODES[p.kind])], b"", None
        gm = self.cfg.gui_monitor
        if gm is not None and (gm.noise_profile or gm.range_doppler_heatmap or gm.log_mag_range):
            what = [n for n, v in (("logMagRange", gm.log_mag_range), ("noiseProfile", gm.noise_profile),
                                   ("rangeDopplerHeatMap", gm.range_doppler_heatmap)) if v]
            return [f"Error: guiMonitor {', '.join(what)} not supported by this firmware "
                    "(it streams the range x antenna heatmap, TLV 8)", _err(CliCode.UNSUPPORTED_OUTPUT)], b"", None
        if self._start_check is not None:
            try:
                self._start_check(self.cfg)
            except StartVeto as e:
                return [f"Error: {e}", _err(e.code)], b"", None
            except Exception as e:  # noqa: BLE001 - a front-end failure refuses the start, never ends the CLI
                log.error("sensorStart: front end failed: %s", e, exc_info=True)
                return [f"Error: front end: {type(e).__name__}: {e}", _err(CliCode.FRONT_END)], b"", None
        self.running = True
        self.running_cfg = self.cfg
        return ["Done"], b"", "start"

    def apply_text(self, text: str) -> list[CliReply]:
        """Run every line of a ``.cfg`` text (convenience for scripts and tests)."""
        return [self.execute(line) for line in text.splitlines()]

    def reset(self) -> None:
        """Power cycle: configuration lost, sensor stopped, data port back to 921600."""
        self.cfg = replace(RadarConfig())
        self.running = False
        self.running_cfg = None
        self._pending = b""


def _usage() -> tuple[list[str], bytes, None]:
    return ["Error: Invalid usage of the CLI command", _err(CliCode.HANDLER)], b"", None


def _err(code: CliCode) -> str:
    return f"Error {int(code)}"
