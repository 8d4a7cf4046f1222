"""Shared pieces of the agent and flash tests (a helper module, not a test module).

`DefaultAgent` is `cardioradar agent` with the documented defaults on one end of a pty null
modem (`cardioradar.ptys`); `AgentRig`'s line is a `host.cable.line.PtyLine` (its host end a
``cable://`` URL);
`AgentRig` is an agent with a scripted health check (a security counter of
`BAD_HEALTH_COUNTER` fails it) that a test can kill and restart; `write_live_session` keeps
a session file growing the way a recording in progress does.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from cardioradar.ptys import NullModem
from edge.agent.port import DEFAULT_BAUD
from edge.agent.slots import SlotStore
from edge.link.transport import SerialTransport
from edge.store import SessionWriter
from edge.types import RawFrame
from host.cable.line import PtyLine
from host.flash import AgentClient, open_agent

BAD_HEALTH_COUNTER = 13
CHECK_SCRIPT = f"""
import json, pathlib, sys, time
time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)  # a real check runs the runtime for seconds
p = pathlib.Path(sys.argv[1]) / "slot.json"
info = json.loads(p.read_text()) if p.exists() else {{}}
sys.exit(1 if info.get("security_counter") == {BAD_HEALTH_COUNTER} else 0)
"""
MODEL_BYTES = 16 * 1024


def cli(*args: str, timeout_s: float = 240.0) -> subprocess.CompletedProcess:
    """`cardioradar ARGS` in a child process, its output captured as text."""
    return subprocess.run([sys.executable, "-m", "cardioradar", *args], capture_output=True, text=True,
                          timeout=timeout_s)


class DefaultAgent:
    """`cardioradar agent --port B --root R --pubkey K [extra]` on one end of a null modem;
    a context manager that kills it and closes the link."""

    def __init__(self, tmp: Path, pub: Path, *extra: str):
        self.link = NullModem()
        self.root = tmp / "root"
        self.log = tmp / "agent.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cardioradar", "-v", "agent", "--port", self.link.board_port,
             "--root", str(self.root), "--pubkey", str(pub), *extra],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"))

    def client(self, timeout_s: float = 3.0):
        return open_agent(self.link.host_port, timeout_s=timeout_s)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self.link.close()

    def __enter__(self) -> DefaultAgent:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AgentRig:
    """A pty line (``baud``: paced, else not; faults by ``seed``), an agent process on ``root``,
    and helpers to run the host side: ``link.host_port`` is a ``cable://`` URL for host commands."""

    def __init__(self, tmp: Path, keys: Path, *, baud: int | None = None, seed: int = 0, attempts: int = 2,
                 agent_args: tuple[str, ...] = (), health_s: float = 0.0):
        self.tmp = tmp
        self.root = tmp / "root"
        self.pub = next(keys.glob("*.pub"))
        self.check = tmp / "check.py"
        self.check.write_text(CHECK_SCRIPT)
        self.link = PtyLine(baud, seed=seed)
        self.attempts = attempts
        self.agent_args = agent_args
        self.health_s = health_s
        self.agent: subprocess.Popen | None = None
        self.agent_log = tmp / "agent.log"

    def start_agent(self) -> None:
        # -vv: the agent logs every upload chunk it writes (test_flash_interrupt counts them)
        cmd = [sys.executable, "-m", "cardioradar", "-vv", "agent", "--port", self.link.board_port,
               "--root", str(self.root), "--pubkey", str(self.pub), "--attempts", str(self.attempts),
               "--health-cmd", f"{{python}} {self.check} {{slot}} {self.health_s}", "--health-timeout", "30",
               *self.agent_args]
        self.agent = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(self.agent_log, "ab"))

    def kill_agent(self) -> None:
        if self.agent is not None and self.agent.poll() is None:
            self.agent.send_signal(signal.SIGKILL)
            self.agent.wait(timeout=10)
        self.agent = None

    @contextmanager
    def client(self, **kw):
        """An `AgentClient` on the line's host end, opened here so ``link.set_faults`` reaches it."""
        kw.setdefault("timeout_s", 3.0)
        port = SerialTransport(self.link.open(baudrate=DEFAULT_BAUD, timeout=0.05, write_timeout=5.0),
                               name=self.link.host_port)
        try:
            yield AgentClient(port, **kw)
        finally:
            port.close()

    def cli(self, *args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess:
        return cli(*args, timeout_s=timeout_s)

    def state(self):
        return SlotStore(self.root, "sim").load()

    def assert_bootable(self) -> None:
        st = self.state()
        info = st.slots[st.confirmed]
        assert info is not None, f"confirmed slot {st.confirmed} is empty: {st}"
        assert SlotStore(self.root, "sim").slot_dir(st.confirmed).is_dir()

    def close(self) -> None:
        self.kill_agent()
        self.link.close()


def write_live_session(path: Path, stop: threading.Event, *, seed: int, frame_bytes: int, period_s: float,
                       written: list | None = None) -> None:
    """Adds a random frame every ``period_s`` to a session at ``path`` until ``stop``;
    ``written[0]`` counts them."""
    rng = np.random.default_rng(seed)
    with SessionWriter(path, {"board": "sim"}, commit_interval_s=0.05) as w:
        i = 0
        while not stop.is_set():
            w.add_frame(RawFrame(i, i * 2_000_000, time.monotonic(), rng.bytes(frame_bytes)))
            i += 1
            if written is not None:
                written[0] = i
            time.sleep(period_s)
