"""Shared pieces of the simulator and link tests (a helper module, not a test module).

Core install only (numpy, pyserial): these tests also run in `.ci/run`'s light venv.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPT = b"mmwDemo:/>"


def tlv_entries(pkt: bytes) -> list[tuple[int, int, int]]:
    """(type, length, payload offset) of each TLV, walking by length as TI's header says."""
    n = struct.unpack_from("<I", pkt, 32)[0]
    out, off = [], 40
    for _ in range(n):
        t, ln = struct.unpack_from("<2I", pkt, off)
        out.append((t, ln, off + 8))
        off += 8 + ln
    return out


def send_cfg_lines(port, lines) -> list[bytes]:
    """Each line to the config CLI (a pyserial port), waiting for its prompt -> the answers."""
    answers = []
    for line in lines:
        port.write(line.encode() + b"\n")
        answers.append(port.read_until(PROMPT))
    return answers


@contextmanager
def sim_serve(*args: str):
    """`cardioradar sim serve ARGS --json` as a user runs it, in a child process: yields its
    ports (the JSON of its first stdout line); then SIGTERM, which must end it with exit 0."""
    proc = subprocess.Popen([sys.executable, "-m", "cardioradar", "sim", "serve", *args, "--json"], cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield json.loads(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
    assert rc == 0


class LoopThread:
    """A rig whose ``_run`` loops on a daemon thread from ``with`` until ``self._stop``;
    ``_release()`` then frees what it holds (its fds)."""

    def __init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        raise NotImplementedError

    def _release(self):
        raise NotImplementedError

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(2)
        self._release()
