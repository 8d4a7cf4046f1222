"""`cardioradar edge install-service`: a systemd unit that runs `edge run` from boot, one session a night.

Pure functions build the unit text from a board profile (`build_unit`); `install` only picks the
file and writes it. Nothing here starts or enables anything: the user runs `systemctl`.

    >>> from boards import load_profile
    >>> cfg = ServiceConfig(board="rpi4-iwr6843isk", executable=Path("/opt/cr/bin/cardioradar"))
    >>> text = build_unit(load_profile("rpi4-iwr6843isk"), cfg)
    >>> "RestartPreventExitStatus=2 3" in text
    True

How the unit behaves (docs/runtime.md, "Run as a service"):
- One session per night: a shell wrapper in ``ExecStart`` names the file
  ``night-<evening date>_<UTC start>.db`` and passes ``--seconds`` up to the next split time
  (default 12:00 local), so the run ends by itself, cleanly (exit 0), and ``Restart=always``
  starts the next night's file. ``night_split=None``: one session per start (normally per
  boot) with ``Restart=on-failure``.
- Exit codes that a restart cannot fix (configuration 2, disk 3; `EXIT_CODES`) are in
  ``RestartPreventExitStatus``, so a bad profile does not loop; the rest are retried after
  ``RestartSec`` within systemd's start limit.
- Ports that are device nodes get ``Wants=``/``After=`` on their ``.device`` units and the
  unit is also ``WantedBy=`` them: it starts once the radar is there at boot, or when it is
  plugged in later. Not ``BindsTo=``: that would stop the run on every replug, and `edge run`
  rides out a replug itself (reconnects, re-resolves /dev/serial/by-id names) in one session.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cardioradar.errors import ConfigError, DeviceError, DeviceTimeout, InputDataError, TransportError

UNIT_NAME = "cardioradar-edge.service"
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
# StateDirectory=cardioradar makes /var/lib/cardioradar owned by User=; `agent --root
# /var/lib/cardioradar` serves the same sessions/ folder for `pull`.
DEFAULT_SESSION_DIR = Path("/var/lib/cardioradar/sessions")
DEFAULT_NIGHT_SPLIT = "12:00"


@dataclass(frozen=True)
class ExitCode:
    code: int
    meaning: str
    restart: bool  # does a restart have a chance to help?


# `edge run`'s exit codes (cardioradar.errors and edge.cli's `edge run` handler) and what the
# unit does with each. RestartPreventExitStatus is built from this table.
EXIT_CODES: tuple[ExitCode, ...] = (
    ExitCode(0, "ended cleanly: SIGTERM (systemctl stop, shutdown) or --seconds reached (the night's end)", True),
    ExitCode(1, "a bug (traceback in the journal)", True),
    ExitCode(ConfigError.exit_code, "configuration: bad profile or arguments, model made for other DSP "
             "settings, session file already there, a missing package", False),
    ExitCode(InputDataError.exit_code, "disk: less than 64 MB free, or a session write failed", False),
    ExitCode(TransportError.exit_code, "a port missing, busy (another run) or a pseudo-terminal gone", True),
    ExitCode(DeviceError.exit_code, "the module refused a .cfg line", True),
    ExitCode(DeviceTimeout.exit_code, "the module did not answer on the config port", True),
)
NO_RESTART = tuple(e.code for e in EXIT_CODES if not e.restart)

# ExecStart's wrapper, plain shell (escaped for systemd by `_systemd_script`). Arguments:
# $1 cardioradar, $2 board, $3 session folder, $4 split HH:MM, then extra `edge run` arguments.
# GNU date: "yesterday 12:00" / "tomorrow 12:00" move by calendar days at that clock time, so
# a daylight-saving change does not shift the split. Less than 60 s to the split: the run
# belongs to the next night (no 30-s session files).
_NIGHT_SCRIPT = (
    'set -eu; cr="$1"; board="$2"; dir="$3"; split="$4"; shift 4; '
    'now=$(date +%s); end=$(date -d "today $split" +%s); night=$(date -d "yesterday $split" +%F); '
    'if [ $((end - now)) -lt 60 ]; then end=$(date -d "tomorrow $split" +%s); night=$(date +%F); fi; '
    'exec "$cr" edge run --board "$board" '
    '--session "$dir/night-${night}_$(date -u +%Y%m%dT%H%M%SZ).db" --seconds $((end - now)) --quiet "$@"'
)
# One session per start (night_split=None): the same naming as `edge run`'s default.
_BOOT_SCRIPT = (
    'set -eu; cr="$1"; board="$2"; dir="$3"; shift 3; '
    'exec "$cr" edge run --board "$board" --session "$dir/$(date -u +%Y%m%dT%H%M%SZ).db" --quiet "$@"'
)


@dataclass(frozen=True)
class ServiceConfig:
    """What the unit runs. ``board``: as `edge run --board` takes it (a shipped profile's name,
    else an absolute path); ``executable``: the installed `cardioradar` entry point (absolute);
    ``night_split``: "HH:MM" local time, or None for one session per start."""

    board: str
    executable: Path
    session_dir: Path = DEFAULT_SESSION_DIR
    user: str | None = None
    groups: tuple[str, ...] = ()
    night_split: str | None = DEFAULT_NIGHT_SPLIT
    run_args: tuple[str, ...] = ()  # extra `edge run` arguments (--web, --config-port ...)
    config_port: str | None = None  # override the profile's ports (also for the device units)
    data_port: str | None = None
    restart_sec_s: int = 10
    start_limit_interval_s: int = 600
    start_limit_burst: int = 5
    extra_env: tuple[tuple[str, str], ...] = field(default=(("PYTHONUNBUFFERED", "1"),))


def parse_split(text: str) -> str | None:
    """``--night-split``: "HH:MM" (24 h) or "none"."""
    if text.strip().lower() == "none":
        return None
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
    if not m:
        raise ConfigError(f"--night-split: expected HH:MM (24 h, e.g. 12:00) or 'none', got {text!r}")
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def escape_path(path: str) -> str:
    """A path as a unit name (systemd.unit(5), "String escaping"; ``systemd-escape --path``)."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "-"
    out = []
    for i, ch in enumerate("/".join(parts)):
        if ch == "/":
            out.append("-")
        elif (ch.isascii() and ch.isalnum()) or ch in ":_" or (ch == "." and i > 0):
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode())
    return "".join(out)


def device_unit(port: str) -> str | None:
    """The ``.device`` unit of a port given as a device node (``/dev/ttyUSB0``,
    ``/dev/serial/by-id/...``); None for pyserial URLs (``socket://``, ``loop://``) and
    pseudo-terminals (udev does not tag them, so systemd has no unit for them)."""
    if "://" in port or not port.startswith("/dev/") or port.startswith("/dev/pts/"):
        return None
    return escape_path(port) + ".device"


def _network(port: str) -> bool:
    return port.startswith(("socket://", "rfc2217://")) and not re.match(
        r"^\w+://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:|$)", port)


_SAFE_WORD = re.compile(r"[A-Za-z0-9/._:@+=,-]+")


def systemd_word(s: str) -> str:
    """One ExecStart argument: '%' and '$' doubled (specifiers, variables), quoted when needed.
    Control characters are refused (a unit file line cannot hold them)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in s):
        raise ConfigError(f"service: {s!r} holds a control character; a unit file cannot carry it")
    s = s.replace("%", "%%").replace("$", "$$")
    if _SAFE_WORD.fullmatch(s):
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _systemd_script(script: str) -> str:
    # Single-quoted: the script holds no single quote and no backslash (checked), so systemd's
    # unquoting gives it back unchanged once '%%' and '$$' are undone.
    assert "'" not in script and "\\" not in script
    return "'" + script.replace("%", "%%").replace("$", "$$") + "'"


def ports_of(profile, cfg: ServiceConfig) -> tuple[str, str]:
    return cfg.config_port or profile.ports.config, cfg.data_port or profile.ports.data


def exec_start(cfg: ServiceConfig) -> str:
    """The ``ExecStart=`` value: /bin/sh runs the wrapper, which execs `cardioradar edge run`."""
    args = [str(cfg.executable), cfg.board, str(cfg.session_dir)]
    script = _BOOT_SCRIPT
    if cfg.night_split is not None:
        args.append(cfg.night_split)
        script = _NIGHT_SCRIPT
    extra = list(cfg.run_args)
    if cfg.config_port:
        extra += ["--config-port", cfg.config_port]
    if cfg.data_port:
        extra += ["--data-port", cfg.data_port]
    return " ".join(["/bin/sh", "-c", _systemd_script(script), "cardioradar-edge"]
                    + [systemd_word(a) for a in args + extra])


def build_unit(profile, cfg: ServiceConfig) -> str:
    """The unit file text for ``profile`` (a `boards.BoardProfile`)."""
    if not cfg.executable.is_absolute() or not cfg.session_dir.is_absolute():
        raise ConfigError(f"service: expected absolute paths, got executable {cfg.executable}, "
                          f"session folder {cfg.session_dir}")
    ports = ports_of(profile, cfg)
    devices = list(dict.fromkeys(d for d in map(device_unit, ports) if d))
    network = any(_network(p) for p in ports)
    if cfg.night_split is not None:
        split = (f"one session per night, split at {cfg.night_split} local time: the run ends cleanly "
                 "then (exit 0) and Restart=always starts the next night's file")
        restart = "always"
    else:
        split, restart = "one session per start (normally one per boot)", "on-failure"
    after = wants = devices + (["network-online.target"] if network else [])
    lines = [
        f"# {UNIT_NAME}: written by `cardioradar edge install-service`; docs/runtime.md, \"Run as a service\".",
        f"# Board {profile.name}; ports {ports[0]} (config), {ports[1]} (data); sessions in {cfg.session_dir},",
        f"# {split}.",
        "# Exit codes of `edge run`:",
        *(f"#   {e.code}: {e.meaning} -> {_restart_word(e, restart)}" for e in EXIT_CODES),
        "",
        "[Unit]",
        f"Description=CardioRadar edge runtime ({profile.name.replace('%', '%%')})",  # '%': a specifier
    ]
    if wants:
        # Wants + After: wait for the radar at boot (up to the device job timeout), no stop on a
        # replug (the runtime reconnects on its own). BindsTo would end the session at each replug.
        lines += [f"Wants={' '.join(wants)}", f"After={' '.join(after)}"]
    lines += [
        # Starts of any kind count; a port that stays missing or busy gives up after this many.
        f"StartLimitIntervalSec={cfg.start_limit_interval_s}",
        f"StartLimitBurst={cfg.start_limit_burst}",
        "",
        "[Service]",
        "Type=exec",
    ]
    if cfg.user:
        lines.append(f"User={cfg.user}")
    if cfg.groups:
        lines.append(f"SupplementaryGroups={' '.join(cfg.groups)}")
    if cfg.session_dir == DEFAULT_SESSION_DIR:
        lines.append("StateDirectory=cardioradar")
    lines += [f"Environment={k}={v}" for k, v in cfg.extra_env]
    lines += [
        # The DSP kernels built ahead of time before each start when missing or stale (after an
        # update): without them the run loads numba's JIT (~117 MB more, docs/runtime.md "Board
        # memory"). "-": a failed build (no C compiler) still starts the run, on the JIT (it warns).
        f"ExecStartPre=-{systemd_word(str(interpreter_of(cfg.executable)))} -m edge.dsp.aot --if-stale",
        # The start includes that build: minutes on a small board, once per update.
        "TimeoutStartSec=900",
        f"ExecStart={exec_start(cfg)}",
        f"Restart={restart}",
        f"RestartSec={cfg.restart_sec_s}",
        f"RestartPreventExitStatus={' '.join(map(str, NO_RESTART))}",
        # The run closes its session on SIGTERM (flush, stitcher, summary): give it time.
        "TimeoutStopSec=60",
        "NoNewPrivileges=yes",
        "",
        "[Install]",
        f"WantedBy={' '.join(['multi-user.target'] + devices)}",
        "",
    ]
    return "\n".join(lines)


def _restart_word(e: ExitCode, restart: str) -> str:
    if not e.restart:
        return "not restarted (RestartPreventExitStatus)"
    if e.code == 0:
        return ("restarted (the next night), except after systemctl stop" if restart == "always"
                else "not restarted")
    return "restarted after RestartSec, within the start limit"


def check_gnu_date() -> None:
    """The nightly wrapper needs GNU date's ``-d "tomorrow 12:00"`` (coreutils; busybox lacks it)."""
    import subprocess

    try:
        ok = subprocess.run(["date", "-d", "tomorrow 12:00", "+%s"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        raise ConfigError("install-service: the nightly split needs GNU date (date -d 'tomorrow 12:00'), "
                          "which this machine lacks", hint="install coreutils, or use --night-split none")


def board_argument(name_or_path: str) -> str:
    """What the unit passes to `--board`: a shipped profile by name, any other as an absolute path
    (the service's working directory is not the installer's)."""
    from boards import BOARDS_DIR, resolve_profile_path

    path = resolve_profile_path(name_or_path)
    if path.parent == BOARDS_DIR and not Path(name_or_path).exists():
        return str(name_or_path)
    return str(path)


def find_executable() -> Path:
    """The `cardioradar` entry point of this install: beside this interpreter (a virtualenv run
    without activation), else on PATH. Absolute, symlinks kept (a venv's bin/ is the install)."""
    here = Path(sys.executable).parent / "cardioradar"
    if here.is_file() and os.access(here, os.X_OK):
        return Path(os.path.abspath(here))
    found = shutil.which("cardioradar")
    if found:
        return Path(os.path.abspath(found))
    raise ConfigError("install-service: cannot find the installed `cardioradar` command beside "
                      f"{sys.executable} or on PATH", hint='pip install -e ".[edge]" on the board first')


def interpreter_of(executable: Path) -> Path:
    """The Python that runs the `cardioradar` script (its ``#!`` line, as pip writes it), so the
    kernels are built for the interpreter the service runs; else this one."""
    try:
        with open(executable, "rb") as f:
            first = f.readline(4096).decode("utf-8", "replace").strip()
    except OSError:
        first = ""
    words = first[2:].split() if first.startswith("#!") else []
    if words and Path(words[0]).is_absolute() and Path(words[0]).name.startswith("python"):
        return Path(words[0])
    return Path(os.path.abspath(sys.executable))


def default_user(euid: int | None = None) -> str:
    """The user the service runs as when none is given: who ran sudo, else who runs this."""
    import pwd

    euid = os.geteuid() if euid is None else euid
    sudo_user = os.environ.get("SUDO_USER")
    if euid == 0 and sudo_user and sudo_user != "root":
        return sudo_user
    return pwd.getpwuid(euid).pw_name


def check_user(user: str) -> None:
    import pwd

    try:
        pwd.getpwnam(user)
    except KeyError:
        raise ConfigError(f"--user: no such user {user!r} on this machine") from None


def serial_groups(user: str, ports: tuple[str, ...]) -> tuple[str, ...]:
    """``dialout`` (owner group of USB serial nodes on Debian / Raspberry Pi OS) when a port is a
    device node, the user is not root and the group exists here."""
    import grp

    if user == "root" or not any(device_unit(p) for p in ports):
        return ()
    try:
        grp.getgrnam("dialout")
    except KeyError:
        return ()
    return ("dialout",)


def target_path(out: Path | None, system: bool, *, euid: int | None = None,
                unit_dir: Path = SYSTEM_UNIT_DIR) -> Path | None:
    """Where the unit goes: ``--out`` (the one --out rule: a ``.service`` path, or a folder to
    put UNIT_NAME in), ``--system`` (``unit_dir``, root only) or None (print it)."""
    if system:
        euid = os.geteuid() if euid is None else euid
        if euid != 0:
            raise ConfigError(f"install-service --system: writing {unit_dir / UNIT_NAME} needs root; "
                              "run it with sudo, or give --out PATH")
        return unit_dir / UNIT_NAME
    if out is None:
        return None
    from cardioradar.cliargs import out_path

    return Path(os.path.abspath(out_path(out, UNIT_NAME)))


def write_unit(text: str, path: Path, *, force: bool) -> None:
    """Write ``text`` to ``path`` (mode 0644) under a temporary name, then rename: a reader never
    sees half a unit. Refuses an existing file without ``force``."""
    from cardioradar.cliargs import refuse_overwrite

    refuse_overwrite([path], f"install-service: {path}", force=force)
    try:  # the --out rule: a folder that is not there yet is made, as every command does
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"install-service: cannot make the folder {path.parent}: {e.strerror or e}") from e
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"install-service: cannot write {path}: {e.strerror or e}") from e
