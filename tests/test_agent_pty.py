"""`cardioradar agent --pty`: the agent on one end of a pty pair, for trying everything on
one machine, exactly as docs/agent.md walks a new user through it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest

from edge.store import SessionReader, SessionWriter
from edge.types import RawFrame
from host.bundle import build_bundle, generate_keys

pytestmark = pytest.mark.timeout(300)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cardioradar", *args], capture_output=True, text=True, timeout=240)


def test_agent_pty_json_then_flash_status_and_pull(tmp_path):
    key, pub = generate_keys(tmp_path / "keys")
    bundle = build_bundle("sim", key, tmp_path / "sim-1.bundle", security_counter=1)
    root = tmp_path / "board"
    (root / "sessions").mkdir(parents=True)
    with SessionWriter(root / "sessions" / "night.db", {"board": "sim"}) as w:
        rng = np.random.default_rng(8)
        for i in range(300):
            w.add_frame(RawFrame(i, i * 2_000_000, float(i) / 100, rng.bytes(128)))
    agent = subprocess.Popen([sys.executable, "-m", "cardioradar", "agent", "--pty", "--root", str(root),
                              "--pubkey", str(pub), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        first = json.loads(agent.stdout.readline())
        host = first["host_port"]
        assert set(first) == {"host_port"} and host.startswith("/dev/")
        p = _cli("flash", "--port", host, "--no-progress", str(bundle))
        assert p.returncode == 0 and "confirmed" in p.stdout, p.stderr
        s = _cli("board", "status", "--port", host)
        assert s.returncode == 0 and "slot b: version" in s.stdout and "last health check: slot b PASS" in s.stdout
        p = _cli("pull", "--port", host, "night.db", "--out", str(tmp_path / "pulled"), "--no-progress", "--json")
        assert p.returncode == 0, p.stderr
        assert SessionReader(tmp_path / "pulled" / "night.db", verify=True).counts()["frames"] == 300
        got = json.loads(p.stdout.strip().splitlines()[-1])["sessions"]  # pull --json: the last line
        assert [(r["name"], r["path"]) for r in got] == [("night.db", str(tmp_path / "pulled" / "night.db"))]
        assert got[0]["size_bytes"] == (tmp_path / "pulled" / "night.db").stat().st_size
        ls = json.loads(_cli("pull", "--port", host, "--list", "--json").stdout.strip().splitlines()[-1])
        assert [s["name"] for s in ls["sessions"]] == ["night.db"]
    finally:
        agent.send_signal(signal.SIGTERM)
        rc = agent.wait(30)
    assert rc == 0, agent.stderr.read()[-2000:]


def test_agent_pty_plain_prints_the_path_first(tmp_path):
    _, pub = generate_keys(tmp_path / "keys")
    agent = subprocess.Popen([sys.executable, "-m", "cardioradar", "agent", "--pty", "--root", str(tmp_path / "r"),
                              "--pubkey", str(pub)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        host = agent.stdout.readline().strip()
        assert host.startswith("/dev/")
        p = _cli("board", "status", "--port", host, "--json")
        assert p.returncode == 0 and json.loads(p.stdout.splitlines()[-1])["running"] == "a", p.stderr
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0
    p = _cli("agent", "--pty", "--port", "/dev/null", "--root", str(tmp_path / "r"), "--pubkey", str(pub))
    assert p.returncode == 2 and "not allowed with" in p.stderr
