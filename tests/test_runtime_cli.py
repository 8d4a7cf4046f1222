"""No surprises at the command line: checked numbers, no silent overwrite, a full disk without a
traceback, a viewer that survives a malformed datagram.

Before: `--seconds -5`, `0`, `nan`, `inf` were accepted; `demo --out d1`, `pull` and `sim
record` overwrote earlier results; a full disk printed a traceback before its message;
`view` died on one datagram without `fs_hz` (KeyError).
"""

import io
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cardioradar.cli import main
from edge.runtime import portlock

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _lock_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(portlock.LOCK_DIR_ENV, str(tmp_path / "locks"))


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "usage:" not in err[0] and "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf", "abc"])
def test_edge_run_seconds_refused_in_one_line(value, capsys):
    assert main(["edge", "run", "--seconds", value]) == 2
    assert _one_error_line(capsys) == f"error: --seconds: expected a finite number > 0 s, got '{value}'"


@pytest.mark.parametrize("argv, flag", [
    (["demo", "--seconds", "5"], "--seconds: expected a finite number >= 15 s, got '5'"),
    (["demo", "--seconds", "nan"], "--seconds: expected a finite number >= 15 s, got 'nan'"),
    (["sim", "record", "--seconds", "inf", "--out", "x"], "--seconds: expected a finite number > 0 s, got 'inf'"),
    (["view", "--width", "0"], "--width: expected a finite whole number >= 10 and <= 10000, got '0'"),
    (["view", "--seconds", "-1"], "--seconds: expected a finite number > 0 and <= 3600 s, got '-1'"),
    (["edge", "run", "--watchdog", "-1"], "--watchdog: expected a finite number >= 0 s, got '-1'"),
    (["bench", "edge", "--seconds", "0"], "--seconds: expected a finite number > 0 s, got '0'"),
])
def test_numbers_checked_for_every_command(argv, flag, capsys):
    assert main(argv) == 2
    assert _one_error_line(capsys) == f"error: {flag}"


def test_demo_refuses_to_overwrite_an_earlier_demo(tmp_path, capsys):
    out = tmp_path / "d1"
    out.mkdir()
    (out / "report.png").write_bytes(b"earlier")
    assert main(["demo", "--out", str(out), "--seconds", "15"]) == 2
    line = _one_error_line(capsys)
    assert f"--out {out}: already holds report.png" in line and "--force" in line
    assert (out / "report.png").read_bytes() == b"earlier" and not (out / "session.db").exists()


def test_sim_record_refuses_to_overwrite_and_force_does(tmp_path, capsys):
    out = tmp_path / "rec"
    out.mkdir()
    (out / "frames.bin").write_bytes(b"earlier")
    argv = ["sim", "record", "--seconds", "1", "--mode", "fast", "--out", str(out)]
    assert main(argv) == 2
    assert "already holds frames.bin" in _one_error_line(capsys)
    assert (out / "frames.bin").read_bytes() == b"earlier"
    assert main([*argv, "--force"]) == 0
    assert (out / "frames.bin").stat().st_size > 10_000


def test_pull_refuses_to_overwrite_before_asking_the_board(tmp_path, capsys):
    (tmp_path / "night.db").write_bytes(b"earlier")
    # no board on that port: the refusal comes first
    assert main(["pull", "--port", str(tmp_path / "no-such-port"), "night.db", "--out", str(tmp_path)]) == 2
    assert "already holds night.db" in _one_error_line(capsys)
    assert (tmp_path / "night.db").read_bytes() == b"earlier"


DISK_FULL = r"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (3_000_000, resource.RLIM_INFINITY))
from cardioradar.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_disk_full_is_one_error_not_a_traceback(tmp_path):
    """A real write failure (the process's file-size limit, as a full disk would): exit 3,
    the message and its hint, no traceback."""
    sys.path.insert(0, str(Path(__file__).parent))
    from runtime_rig import serve

    with serve(speed=0.0) as server:
        p = subprocess.run([sys.executable, "-c", DISK_FULL, "edge", "run", "--config-port", server.ports.config,
                            "--data-port", server.ports.data, "--session", str(tmp_path / "s.db"),
                            "--seconds", "120", "--quiet"],
                           capture_output=True, text=True, timeout=300, cwd=ROOT, env=os.environ)
    assert p.returncode == 3, p.stderr[-3000:]
    assert "Traceback" not in p.stderr, p.stderr[-3000:]
    lines = [x for x in p.stderr.strip().splitlines() if not x.startswith("INFO: Created TensorFlow")]
    assert lines[-2].startswith("error: session store failed:") and lines[-1].startswith("hint: is the session's disk full")


def test_disk_space_guard_closes_the_session_cleanly(tmp_path):
    from edge.dsp.config import DspConfig
    from edge.runtime import RunConfig, run_edge, with_ports
    from edge.store import SessionReader
    from runtime_rig import BeatModel, serve, sim_profile

    with serve(speed=0.0) as server:
        prof = with_ports(sim_profile(), server.ports.config, server.ports.data)
        summary = run_edge(prof, BeatModel(DspConfig.from_profile(prof)),
                           RunConfig(tmp_path / "s.db", seconds=60.0, min_free_mb=1e15), status_out=False)
    assert summary.stopped_by == "disk space"
    with SessionReader(tmp_path / "s.db") as r:
        assert r.metadata()["closed_cleanly"] is True
        assert any(e.kind == "disk" and "free on the session's disk" in e.detail for e in r.events())


MALFORMED = [
    '{"type": "ecg"}',  # KeyError: 'fs_hz' killed the viewer
    '{"type": "ecg", "fs_hz": 100.0, "ecg_mv": [[1.0]]}',  # a row too short
    '{"type": "ecg", "fs_hz": "fast", "ecg_mv": []}',
    '{"type": "ecg", "fs_hz": -1, "ecg_mv": []}',
    '{"type": "event", "t_s": "soon"}',
    '[1, 2, 3]',
    '"just a string"',
    'not json at all',
]


def _block(t0, value):
    return json.dumps({"type": "ecg", "t0_s": t0, "fs_hz": 100.0, "excluded": False,
                       "ecg_mv": [[value] * 12 for _ in range(256)]})


def test_view_survives_malformed_messages():
    from edge.view import ViewConfig, run_view

    lines = [_block(0.0, 0.5), *MALFORMED, '{"type": "ecg", "fs_hz": 100, "ecg_mv": [[Infinity, 1,1,1,1,1,1,1,1,1,1,1]]}',
             _block(2.56, 1.0), '{"type": "vitals", "hr_bpm": 61.0, "br_bpm": 12.0, "quality": 0.9, "source": "model"}']
    out = io.StringIO()
    view = run_view("-", ViewConfig(width=40, height=5, redraw=False), out=out, stdin=io.StringIO("\n".join(lines)))
    assert len(view.ring) == 500 and view.ring[-1] == 1.0
    assert view.bad == len(MALFORMED) - 1  # 'not json at all' never became a message
    text = out.getvalue()
    assert "HR 61.0 bpm (model)" in text and f"{view.bad} bad messages skipped" in text


def test_view_over_udp_skips_a_malformed_datagram():
    from edge.view import LiveView, ViewConfig, messages

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    view, done = LiveView(ViewConfig()), threading.Event()

    def consume():
        for m in messages(f"udp://127.0.0.1:{port}"):
            if view.update(m):
                done.set()
                return

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    while not done.wait(0.05):  # the viewer binds when it starts reading: send until it has drawn
        for d in (b"\xff\xfe not utf-8", b'{"type": "ecg"}', _block(0.0, 0.25).encode()):
            tx.sendto(d, ("127.0.0.1", port))
    tx.close()
    t.join(5)
    assert view.bad >= 1 and view.ring[-1] == 0.25
