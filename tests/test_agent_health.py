"""The agent's DEFAULT health check, used exactly as docs/agent.md tells a user.

`cardioradar agent --port B --root R --pubkey K` with nothing else, then `cardioradar flash`:
a healthy bundle (this tree's runtime + the shipped model) must end confirmed, with the
verdict and its timing in `board status`; a slot whose code does not import must roll
back; a recording in progress must keep the check off the radar ports.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from agent_rig import DefaultAgent, cli, write_live_session
from edge.agent import selfcheck
from host.bundle import build_bundle
from host.bundle.collect import RUNTIME_PACKAGES, repo_root

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory, signing_keys):
    return tmp_path_factory.mktemp("health"), signing_keys.key, signing_keys.pub


def test_default_settings_flash_confirms_and_status_shows_the_verdict(tmp_path, keyed):
    d, key, pub = keyed
    bundle = build_bundle("sim", key, d / "good.bundle", security_counter=1)  # the profile's own (shipped) model
    with DefaultAgent(tmp_path, pub) as agent:
        p = cli("flash", "--port", agent.link.host_port, "--no-progress", "--json", str(bundle))
        assert p.returncode == 0, p.stderr + agent.log.read_text()[-3000:]
        assert json.loads(p.stdout.strip().splitlines()[-1])["outcome"] == "confirmed"
        s = cli("board", "status", "--port", agent.link.host_port, "--json")
        assert s.returncode == 0, s.stderr
        h = json.loads(s.stdout.strip().splitlines()[-1])
        assert h["state"]["confirmed"] == "b" and h["running"] == "b"
        hc = h["health"]
        assert hc["slot"] == "b" and hc["ok"] and "modules import" in hc["detail"], hc
        assert {"imports", "model", "radar", "total"} <= set(hc["timing_s"]), hc
        text = cli("board", "status", "--port", agent.link.host_port)
        assert "last health check: slot b PASS" in text.stdout and "imports" in text.stdout, text.stdout


def _broken_source(dst: Path) -> Path:
    """A checkout whose runtime fails to import one module (bundle build refuses syntax errors)."""
    src = repo_root()
    for pkg in RUNTIME_PACKAGES:
        shutil.copytree(src / pkg, dst / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    post = (src / "edge" / "post.py").read_text()
    (dst / "edge" / "post.py").write_text(post + "\nraise RuntimeError(\"broken on purpose\")\n")
    return dst


def test_a_slot_that_does_not_import_rolls_back(tmp_path, keyed):
    d, key, pub = keyed
    bundle = build_bundle("sim", key, tmp_path / "broken.bundle", security_counter=1,
                          source_root=_broken_source(tmp_path / "src"))
    with DefaultAgent(tmp_path, pub, "--attempts", "1") as agent:
        p = cli("flash", "--port", agent.link.host_port, "--no-progress", str(bundle))
        assert p.returncode == 5 and "rolled back" in p.stderr, p.stderr
        assert "import edge.post: RuntimeError: broken on purpose" in p.stderr, p.stderr
        s = json.loads(cli("board", "status", "--port", agent.link.host_port, "--json").stdout.splitlines()[-1])
        assert s["running"] == "a" and not s["health"]["ok"] and s["health"]["slot"] == "b", s


def test_a_recording_in_progress_keeps_the_check_off_the_radar(tmp_path, monkeypatch, pty_pair):
    """The radar's config port is a pty the test holds: while a session is written in the
    agent's sessions/ folder the check must not open it; with no session it asks the module."""
    class Ports:
        def __init__(self, config: str):
            self.config, self.data = config, "socket://127.0.0.1:9"
            self.config_baud, self.dtr, self.rts = 115200, None, None

    class Profile:
        def __init__(self, config: str):
            self.ports = Ports(config)

    import os

    master, name = pty_pair.master, pty_pair.path
    os.set_blocking(master, False)
    root = tmp_path / "root"
    (root / "sessions").mkdir(parents=True)
    stop = threading.Event()
    t = threading.Thread(target=write_live_session, args=(root / "sessions" / "night.db", stop),
                         kwargs=dict(seed=5, frame_bytes=64, period_s=0.01), daemon=True)
    t.start()
    try:
        while not (root / "sessions" / "night.db-wal").exists():
            time.sleep(0.02)
        verdict = selfcheck.check_radar(Profile(name), root)
        assert verdict == "not touched: session night.db is being recorded", verdict
        with pytest.raises(BlockingIOError):
            os.read(master, 100)  # nothing was written to the radar's port
    finally:
        stop.set()
        t.join(10)
    (root / "sessions" / "night.db-wal").unlink(missing_ok=True)
    from edge.runtime import portlock  # `edge run` holds its ports' locks for the whole session

    monkeypatch.setenv(portlock.LOCK_DIR_ENV, str(tmp_path / "locks"))
    with portlock.acquire({"config": name, "data": "socket://127.0.0.1:9"}):
        verdict = selfcheck.check_radar(Profile(name), root)
    assert verdict.startswith("not touched: a session (PID ") and name in verdict, verdict
    with pytest.raises(BlockingIOError):
        os.read(master, 100)
    # no recording: the module is asked (the test answers like its CLI)
    box = {}

    def module():
        buf = b""
        deadline = time.monotonic() + 10
        while b"queryDemoStatus" not in buf and time.monotonic() < deadline:
            try:
                buf += os.read(master, 100)
            except BlockingIOError:
                time.sleep(0.01)
        box["got"] = buf
        os.write(master, b"queryDemoStatus\r\nSensor State: 0\r\nDone\r\nmmwDemo:/>")

    (root / "sessions" / "night.db-wal").unlink(missing_ok=True)
    m = threading.Thread(target=module, daemon=True)
    m.start()
    verdict = selfcheck.check_radar(Profile(name), root)
    m.join(10)
    assert b"queryDemoStatus" in box["got"] and verdict.startswith("config port answered queryDemoStatus"), verdict
