"""The agent outlives its link: the port goes away (cable, USB adapter, gadget) and comes back.

The agent's port is a symlink (like /dev/serial/by-id/...) to one end of a pty null modem
(``cardioradar.ptys``). The link is torn down (the agent's reads fail: the error that used to end it with exit code 4)
and the symlink removed (reopening fails), then a new link appears under the same name: the
same agent process must answer again, and stop with exit code 0 on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from cardioradar.ptys import NullModem
from host.flash import board_status, open_agent

pytestmark = pytest.mark.timeout(180)


def test_link_removed_and_restored_agent_answers_again(tmp_path, wait_until):
    from host.bundle import generate_keys

    _, pub = generate_keys(tmp_path / "keys")
    port = tmp_path / "ttyBOARD"
    log = tmp_path / "agent.log"
    link = NullModem()
    os.symlink(link.board_port, port)
    agent = subprocess.Popen([sys.executable, "-m", "cardioradar", "agent", "--port", str(port),
                              "--root", str(tmp_path / "root"), "--pubkey", str(pub)],
                             stdout=subprocess.DEVNULL, stderr=open(log, "ab"))
    try:
        with open_agent(link.host_port, timeout_s=3.0) as c:
            assert board_status(c)["running"] == "a"
        link.close()  # the cable is pulled: the agent's reads fail
        port.unlink()  # and the device node is gone: reopening fails
        wait_until(lambda: "link lost" in log.read_text() and "link down" in log.read_text(), "the agent to notice")
        assert agent.poll() is None, log.read_text()
        link = NullModem()  # plugged in again, same name
        os.symlink(link.board_port, port)
        with open_agent(link.host_port, timeout_s=3.0) as c:  # 5 HELLO tries of 1.5 s cover the back-off
            h = board_status(c)
        assert h["running"] == "a" and agent.poll() is None
        assert "link back" in log.read_text()
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0, log.read_text()[-2000:]
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(10)
        link.close()


def test_fatal_start_up_errors_have_their_exit_codes(tmp_path, wait_until):
    """The table in docs/agent.md: 2 = configuration, 3 = unreadable boot state; a missing
    port is not fatal (the agent waits for it)."""
    def run(*args, timeout_s=60.0):
        return subprocess.run([sys.executable, "-m", "cardioradar", "agent", *args], capture_output=True,
                              text=True, timeout=timeout_s)

    root = tmp_path / "root"
    p = run("--port", str(tmp_path / "nope"), "--root", str(root), "--pubkey", str(tmp_path / "missing.pub"))
    assert p.returncode == 2 and "--pubkey" in p.stderr, p.stderr
    (root / "boot").mkdir(parents=True)
    (root / "boot" / "state.json").write_text("{not json")
    key = tmp_path / "k.pub"
    key.write_bytes(b"x")
    p = run("--port", str(tmp_path / "nope"), "--root", str(root), "--pubkey", str(key))
    assert p.returncode == 3 and "boot state" in p.stderr, p.stderr
    (root / "boot" / "state.json").unlink()
    log = tmp_path / "agent.log"
    agent = subprocess.Popen([sys.executable, "-m", "cardioradar", "agent", "--port", str(tmp_path / "nope"),
                              "--root", str(root), "--pubkey", str(key)], stdout=subprocess.DEVNULL,
                             stderr=open(log, "ab"))
    try:
        wait_until(lambda: "link down" in log.read_text(), "the agent to report its missing port")
        assert agent.poll() is None  # it waits for its port instead of exiting
    finally:
        agent.send_signal(signal.SIGTERM)
        rc = agent.wait(30)
    assert rc == 0, log.read_text()
