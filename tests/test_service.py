"""`cardioradar edge install-service`: the systemd unit for each board, its ExecStart run as systemd
would run it, `systemd-analyze verify`, and the refusals (docs/runtime.md, "Run as a service")."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from boards import BOARDS_DIR, available_profiles, load_profile
from cardioradar.errors import ConfigError
from edge import service
from edge.runtime import portlock

ROOT = Path(__file__).resolve().parents[1]
# The entry point a user runs: the one installed beside this interpreter (pip's console script).
CARDIORADAR = Path(sys.executable).parent / "cardioradar"


def _cli(*args, env=None, timeout=120, user_cmd=None):
    cmd = [str(CARDIORADAR)] if CARDIORADAR.exists() else [sys.executable, "-m", "cardioradar"]
    return subprocess.run((user_cmd or []) + cmd + list(args), cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _unit_value(text: str, key: str) -> str:
    vals = [ln.split("=", 1)[1] for ln in text.splitlines() if ln.startswith(key + "=")]
    assert len(vals) == 1, (key, vals)
    return vals[0]


def _argv(exec_start: str) -> list[str]:
    """ExecStart as systemd hands it to execve (systemd.service(5), "Command lines"): our unit uses
    only quotes without backslash escapes but '\\' '"' in double quotes, '%%' and '$$'. A lone
    '%' or '$' would be a specifier or a variable systemd expands: refused here."""
    words = shlex.split(exec_start)
    out = []
    for w in words:
        assert re.fullmatch(r"(?:[^%]|%%)*", w), f"unescaped % in {w!r}"
        assert re.fullmatch(r"(?:[^$]|\$\$)*", w), f"unescaped $ in {w!r}"
        out.append(w.replace("%%", "%").replace("$$", "$"))
    return out


def _verify(unit: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)


def _cfg(**kw) -> service.ServiceConfig:
    return service.ServiceConfig(**{"board": "sim", "executable": Path("/opt/cardioradar/bin/cardioradar"), **kw})


# --- the unit text --------------------------------------------------------------------------


@pytest.mark.parametrize("board", available_profiles())
def test_unit_for_each_board_profile(board, tmp_path):
    profile = load_profile(board)
    r = _cli("edge", "install-service", "--board", board, "--json")
    assert r.returncode == 0, r.stderr
    text, summary = r.stdout.rsplit("\n", 2)[0] + "\n", json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["unit"] is None and summary["board"] == board  # printed, nothing written
    argv = _argv(_unit_value(text, "ExecStart"))
    assert argv[:2] == ["/bin/sh", "-c"] and argv[3] == "cardioradar-edge"
    exe = Path(argv[4])
    assert exe.is_absolute() and exe.name == "cardioradar" and os.access(exe, os.X_OK)
    assert str(exe) == summary["executable"]
    assert argv[5:] == [board, str(service.DEFAULT_SESSION_DIR), "12:00"]
    assert _unit_value(text, "Restart") == "always"
    assert _unit_value(text, "RestartSec") == "10"
    assert _unit_value(text, "RestartPreventExitStatus") == "2 3"
    assert _unit_value(text, "StartLimitBurst") == "5" and _unit_value(text, "StartLimitIntervalSec") == "600"
    assert _unit_value(text, "StateDirectory") == "cardioradar"
    devices = [f"{service.escape_path(p)}.device" for p in (profile.ports.config, profile.ports.data)
               if p.startswith("/dev/")]
    assert summary["devices"] == devices
    wanted = _unit_value(text, "WantedBy").split()
    assert wanted == ["multi-user.target"] + devices
    if devices:  # the real boards: /dev/ttyUSB0 and 1
        assert devices == ["dev-ttyUSB0.device", "dev-ttyUSB1.device"]
        assert _unit_value(text, "Wants").split() == devices == _unit_value(text, "After").split()
    else:  # sim: loopback sockets, no device and no network wait
        assert "Wants=" not in text and "After=" not in text


@pytest.mark.parametrize("night_split", ["12:00", "none"])
@pytest.mark.parametrize("board", available_profiles())
def test_unit_passes_systemd_analyze_verify(board, night_split, tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (Debian package systemd); the unit is not verified")
    unit = tmp_path / service.UNIT_NAME
    r = _cli("edge", "install-service", "--board", board, "--night-split", night_split, "--out", str(unit))
    assert r.returncode == 0, r.stderr
    v = _verify(unit)  # warnings go to stderr with the file's name, and exit 0: both checked
    assert v.returncode == 0 and unit.name not in v.stdout + v.stderr, v.stdout + v.stderr


def test_systemd_analyze_verify_catches_a_broken_unit(tmp_path):
    """The verify check above can fail: the same unit with a bad Restart= value is reported."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (Debian package systemd); the unit is not verified")
    text = service.build_unit(load_profile("rpi4-iwr6843isk"), _cfg(board="rpi4-iwr6843isk"))
    unit = tmp_path / service.UNIT_NAME
    unit.write_text(text)
    ok = _verify(unit)
    assert ok.returncode == 0 and unit.name not in ok.stdout + ok.stderr
    unit.write_text(text.replace("Restart=always", "Restart=sometimes"))
    bad = _verify(unit)
    assert "restart specifier" in bad.stderr and "sometimes" in bad.stderr and unit.name in bad.stderr


def test_by_id_ports_become_escaped_device_units():
    by_id = "/dev/serial/by-id/usb-Silicon_Labs_CP2105_Dual_USB_to_UART_Bridge_Controller_00F4A1B2-if00-port0"
    name = service.device_unit(by_id)
    assert name == ("dev-serial-by\\x2did-usb\\x2dSilicon_Labs_CP2105_Dual_USB_to_UART_Bridge_Controller_"
                    "00F4A1B2\\x2dif00\\x2dport0.device")
    if shutil.which("systemd-escape"):
        for p in (by_id, "/dev/ttyUSB0", "/dev//odd name/.x/", "/dev/a.b-c:d_e"):
            want = subprocess.run(["systemd-escape", "--path", p], capture_output=True, text=True).stdout.strip()
            assert service.escape_path(p) == want, p
    assert service.device_unit("socket://127.0.0.1:48301") is None and service.device_unit("/dev/pts/4") is None
    text = service.build_unit(load_profile("rpi4-iwr6843isk"), _cfg(board="rpi4-iwr6843isk", config_port=by_id))
    assert _unit_value(text, "Wants").split() == [name, "dev-ttyUSB1.device"]
    assert _argv(_unit_value(text, "ExecStart"))[-2:] == ["--config-port", by_id]
    remote = service.build_unit(load_profile("sim"), _cfg(data_port="socket://10.0.0.7:48302"))
    assert _unit_value(remote, "Wants") == "network-online.target"


def test_restart_table_follows_the_error_codes():
    from cardioradar.errors import InputDataError, TransportError

    by_code = {e.code: e for e in service.EXIT_CODES}
    assert not by_code[ConfigError.exit_code].restart and not by_code[InputDataError.exit_code].restart
    assert by_code[TransportError.exit_code].restart and by_code[1].restart
    assert service.NO_RESTART == (2, 3)
    per_boot = service.build_unit(load_profile("sim"), _cfg(night_split=None))
    assert _unit_value(per_boot, "Restart") == "on-failure"
    assert _unit_value(per_boot, "RestartPreventExitStatus") == "2 3"
    assert "#   0: " in per_boot and "-> not restarted\n" in per_boot


# --- ExecStart run as systemd runs it ---------------------------------------------------------


def _fake_cardioradar(tmp_path: Path) -> tuple[Path, Path]:
    """A stand-in for the entry point that records the argv it was exec'd with."""
    rec = tmp_path / "argv.json"
    exe = tmp_path / "bin" / "cardioradar"
    exe.parent.mkdir()
    exe.write_text(f"#!{sys.executable}\nimport json, sys\njson.dump(sys.argv[1:], open({str(rec)!r}, 'w'))\n")
    exe.chmod(0o755)
    return exe, rec


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin"])
@pytest.mark.parametrize("offset_min", [120, 0, -120])
def test_night_wrapper_names_the_night_and_ends_at_the_split(tz, offset_min, tmp_path):
    """offset 120: the split comes later today; 0 / -120: it is (about) now or past, so the run
    belongs to the night starting today and lasts until tomorrow's split."""
    if not shutil.which("date") or subprocess.run(["date", "-d", "tomorrow 12:00"], capture_output=True).returncode:
        pytest.skip("the wrapper needs GNU date (coreutils), which this machine lacks")
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone = ZoneInfo(tz)
    except ZoneInfoNotFoundError:
        pytest.skip(f"no tzdata for {tz}")
    exe, rec = _fake_cardioradar(tmp_path)
    sessions = tmp_path / "my sessions %b $HOME"  # a space, a specifier and a variable stay literal
    now = dt.datetime.now(zone)
    split_at = now + dt.timedelta(minutes=offset_min)
    split = f"{split_at:%H:%M}"
    cfg = _cfg(executable=exe, session_dir=sessions, night_split=split, run_args=("--web", "8750"))
    argv = _argv(service.exec_start(cfg))
    r = subprocess.run(argv, env=dict(os.environ, TZ=tz), capture_output=True, text=True, timeout=30)
    after = dt.datetime.now(zone)
    assert r.returncode == 0, r.stderr
    got = json.loads(rec.read_text())
    assert got[:3] == ["edge", "run", "--board"] and got[3] == "sim"
    assert got[4] == "--session" and got[6] == "--seconds" and got[8:] == ["--quiet", "--web", "8750"]
    path = Path(got[5])
    assert path.parent == sessions
    m = re.fullmatch(r"night-(\d{4}-\d\d-\d\d)_(\d{8}T\d{6}Z)\.db", path.name)
    assert m, path.name
    start_utc = dt.datetime.strptime(m.group(2), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    assert now.astimezone(dt.timezone.utc).replace(microsecond=0) <= start_utc <= after.astimezone(dt.timezone.utc)
    # reference rule: the split today unless it is less than 60 s away, else tomorrow's
    h, mi = map(int, split.split(":"))
    today_split = now.replace(hour=h, minute=mi, second=0, microsecond=0)
    if (today_split - now).total_seconds() >= 60:
        end, night = today_split, (now - dt.timedelta(days=1)).date()
    else:
        end, night = (now + dt.timedelta(days=1)).replace(hour=h, minute=mi, second=0, microsecond=0), now.date()
    assert m.group(1) == night.isoformat()
    seconds = int(got[7])
    expected = (end - now).total_seconds()
    assert expected - 3 <= seconds <= expected + 1, (seconds, expected)
    assert 60 <= seconds <= 24 * 3600 + 3600


def test_per_boot_wrapper_one_session_per_start(tmp_path):
    exe, rec = _fake_cardioradar(tmp_path)
    argv = _argv(service.exec_start(_cfg(executable=exe, session_dir=tmp_path / "s", night_split=None)))
    assert subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
    got = json.loads(rec.read_text())
    assert got[:4] == ["edge", "run", "--board", "sim"] and got[6:] == ["--quiet"] and "--seconds" not in got
    assert re.fullmatch(r"\d{8}T\d{6}Z\.db", Path(got[5]).name)


def _frames(session: Path) -> int:
    from cardioradar.errors import InputDataError
    from edge.store import SessionReader

    try:
        with SessionReader(session) as s:
            return s.counts()["frames"]
    except InputDataError:  # just made: its header is not written yet
        return 0


def test_documented_install_then_the_units_command_records_a_session(tmp_path, monkeypatch, aot_dir):
    """As docs/runtime.md tells a user: `cardioradar edge install-service --board B --out FILE`
    (here the simulator's ports and a session folder), then the unit's ExecStartPre (the DSP
    kernels, already current here) and ExecStart, run as systemd runs them, record on the
    simulator until SIGTERM (systemctl stop): exit 0, closed cleanly."""
    from edge.store import SessionReader
    from runtime_rig import serve

    monkeypatch.setenv(portlock.LOCK_DIR_ENV, str(tmp_path / "locks"))  # the run's locks, seen from here too
    env = dict(os.environ, CARDIORADAR_DSP_AOT_DIR=str(aot_dir))
    sessions = tmp_path / "sessions"
    unit = tmp_path / service.UNIT_NAME
    with serve(speed=0.0) as server:
        r = _cli("edge", "install-service", "--board", "sim", "--session-dir", str(sessions),
                 "--config-port", server.ports.config, "--data-port", server.ports.data, "--out", str(unit), env=env)
        assert r.returncode == 0, r.stderr
        assert r.stderr.startswith(f"wrote {unit}; next: sudo cp ")
        text = unit.read_text()
        pre = _argv(_unit_value(text, "ExecStartPre").removeprefix("-"))
        assert pre[1:] == ["-m", "edge.dsp.aot", "--if-stale"] and Path(pre[0]).samefile(sys.executable)
        built = subprocess.run(pre, env=env, capture_output=True, text=True, timeout=300)
        assert built.returncode == 0 and json.loads(built.stdout.splitlines()[-1])["built"] is False, built.stderr
        argv = _argv(_unit_value(text, "ExecStart"))
        run = subprocess.Popen(argv, env=dict(env, PYTHONUNBUFFERED=_unit_value(text, "Environment").split("=")[1]),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            t_end = time.monotonic() + 120
            found: list[Path] = []
            while time.monotonic() < t_end and run.poll() is None:
                found = sorted(sessions.glob("night-*.db"))
                if found and portlock.holder(server.ports.data) == run.pid and _frames(found[0]) >= 300:
                    break
                time.sleep(0.1)
            assert run.poll() is None, run.communicate()
            assert len(found) == 1 and portlock.holder(server.ports.data) == run.pid  # exec'd: the PID is the run
            run.send_signal(signal.SIGTERM)
            out, err = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()
    assert run.returncode == 0, err
    assert re.search(r"night-\S+\.db: \d+ frames, .* stopped by signal;", out), out  # the journal's summary line
    assert "Traceback" not in err and "| frames " not in err  # --quiet: no status line each second in the journal
    with SessionReader(found[0]) as s:
        meta = s.metadata()
        assert meta["closed_cleanly"] is True and s.counts()["frames"] >= 300


def test_kernels_are_built_by_the_scripts_own_interpreter(tmp_path):
    """ExecStartPre uses the Python in the `cardioradar` script's #! line (pip writes it), not
    whichever Python ran install-service; a script without one falls back to this Python."""
    py = tmp_path / "venv" / "bin" / "python3.11"
    script = tmp_path / "venv" / "bin" / "cardioradar"
    script.parent.mkdir(parents=True)
    script.write_text(f"#!{py}\nimport sys\n")
    assert service.interpreter_of(script) == py
    text = service.build_unit(load_profile("sim"), service.ServiceConfig(board="sim", executable=script))
    assert _argv(_unit_value(text, "ExecStartPre").removeprefix("-")) == [str(py), "-m", "edge.dsp.aot", "--if-stale"]
    script.write_text("#!/bin/sh\nexec something\n")
    assert service.interpreter_of(script) == Path(os.path.abspath(sys.executable))


def test_kernel_build_into_an_unwritable_folder_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    env = dict(os.environ, CARDIORADAR_DSP_AOT_DIR=str(blocker / "aot"))
    r = subprocess.run([sys.executable, "-m", "edge.dsp.aot", "--if-stale"], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "CARDIORADAR_DSP_AOT_DIR" in r.stderr


# --- refusals ---------------------------------------------------------------------------------


def test_out_never_overwrites_without_force(tmp_path):
    unit = tmp_path / service.UNIT_NAME
    unit.write_text("mine\n")
    r = _cli("edge", "install-service", "--board", "sim", "--out", str(unit))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "already holds cardioradar-edge.service" in r.stderr and "--force" in r.stderr
    assert unit.read_text() == "mine\n"
    r = _cli("edge", "install-service", "--board", "sim", "--out", str(tmp_path), "--force")  # a folder: the name in it
    assert r.returncode == 0, r.stderr
    assert unit.read_text().startswith("# cardioradar-edge.service") and oct(unit.stat().st_mode & 0o777) == "0o644"
    assert not list(tmp_path.glob(".*.tmp"))
    r = _cli("edge", "install-service", "--board", "sim", "--out", str(tmp_path / "new" / "units"))
    assert r.returncode == 0, r.stderr  # a folder not there yet is made (the --out rule)
    assert (tmp_path / "new" / "units" / service.UNIT_NAME).read_text().startswith("# cardioradar-edge.service")


def test_system_needs_root_and_writes_only_there(tmp_path):
    with pytest.raises(ConfigError, match=r"--system: writing /etc/systemd/system/cardioradar-edge.service needs "
                                          r"root; run it with sudo"):
        service.target_path(None, True, euid=1000)
    etc = tmp_path / "etc"
    etc.mkdir()
    assert service.target_path(None, True, euid=0, unit_dir=etc) == etc / service.UNIT_NAME
    assert service.target_path(None, False) is None  # neither: printed
    service.write_unit("x\n", etc / service.UNIT_NAME, force=False)
    with pytest.raises(ConfigError, match="already holds"):
        service.write_unit("y\n", etc / service.UNIT_NAME, force=False)
    assert (etc / service.UNIT_NAME).read_text() == "x\n"


def test_system_refused_without_root_from_the_cli():
    """Run as an ordinary user (setpriv to nobody when the tests run as root)."""
    prefix = None
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot run the command as an ordinary user")
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    env = {k: v for k, v in os.environ.items() if k != "SUDO_USER"}
    cache = Path(tempfile.mkdtemp(prefix="numba-nobody-"))  # numba caches in the root-owned checkout otherwise
    try:
        cache.chmod(0o777)
        env["NUMBA_CACHE_DIR"] = str(cache)
        r = _cli("edge", "install-service", "--board", "sim", "--system", "--user", "root", env=env, user_cmd=prefix)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if prefix and "Permission denied" in r.stderr:
        pytest.skip(f"user nobody cannot run this checkout: {r.stderr.strip()[-200:]}")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr == ("error: install-service --system: writing /etc/systemd/system/cardioradar-edge.service "
                        "needs root; run it with sudo, or give --out PATH\n")
    assert not (service.SYSTEM_UNIT_DIR / service.UNIT_NAME).exists() or os.geteuid() == 0


@pytest.mark.parametrize("args, message", [
    (["--board", "nope"], "unknown board profile 'nope'"),
    (["--board", "sim", "--night-split", "25:00"], "--night-split: expected HH:MM (24 h, e.g. 12:00) or 'none', got '25:00'"),
    (["--board", "sim", "--user", "no-such-user-x"], "--user: no such user 'no-such-user-x'"),
    (["--board", "sim", "--out", "/dev/null/unit.service"], "cannot make the folder /dev/null: "),
])
def test_bad_input_is_one_line(args, message):
    r = _cli("edge", "install-service", *args)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("error: ") and message in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.count("\n") <= 2  # the error, and a hint for some


def test_nightly_split_without_gnu_date_is_refused_at_install(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "date").write_text("#!/bin/sh\necho 'date: invalid date' >&2\nexit 1\n")
    (fake / "date").chmod(0o755)
    env = dict(os.environ, PATH=f"{fake}:{os.environ.get('PATH', '')}")
    r = _cli("edge", "install-service", "--board", "sim", env=env)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("error: install-service: the nightly split needs GNU date") and "Traceback" not in r.stderr
    assert "hint: install coreutils, or use --night-split none" in r.stderr
    assert _cli("edge", "install-service", "--board", "sim", "--night-split", "none", env=env).returncode == 0


def test_out_and_system_are_exclusive():
    r = _cli("edge", "install-service", "--board", "sim", "--out", "x.service", "--system")
    assert r.returncode == 2 and "not allowed with argument" in r.stderr


def test_control_characters_and_relative_paths_are_refused():
    with pytest.raises(ConfigError, match="control character"):
        service.exec_start(_cfg(session_dir=Path("/srv/a\nb")))
    with pytest.raises(ConfigError, match="absolute paths"):
        service.build_unit(load_profile("sim"), _cfg(session_dir=Path("rel/sessions")))


def test_board_given_as_a_path_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(BOARDS_DIR)
    assert service.board_argument("sim") == "sim"
    assert service.board_argument("sim.toml") == str(BOARDS_DIR / "sim.toml")
