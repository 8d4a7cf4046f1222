"""`cardioradar bench pull`: pull a realistic session over serial (pty at 921600 baud) and TCP.

The sessions are real: the simulator's frames (fast mode, seeded) written by the edge's
`SessionWriter`, raw packets only (they are what fills a night). The agent runs in a thread
on a temporary root; the serial link is a `PtyLine` (a pty null modem whose host end is a
``cable://`` line) paced at ``baud``, the network one a TCP connection on loopback. Each rate
is session bytes / (PULL_BEGIN .. SHA-256 checked): the snapshot, the transfer and the check.
The 8-hour figure scales the TCP rate to a night of the same session bytes per second.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

NIGHT_S = 8 * 3600


def make_session(path: Path, seconds: float, seed: int) -> int:
    """A session of ``seconds`` of simulated module frames; returns its size in bytes."""
    from edge.store import SessionWriter
    from edge.types import RawFrame
    from hardware_sim.record import build_module, iter_frames, start_module

    module, _ = build_module("healthy-rest", seed=seed, mode="fast", batch_frames=500)
    start_module(module)
    with SessionWriter(path, {"board": "sim", "source": f"bench pull, simulator seed {seed}"}) as w:
        for fr in iter_frames(module, seconds):
            if not fr.dropped:
                w.add_frame(RawFrame(fr.frame_number, fr.time_cpu_cycles, fr.t_frame_s, fr.packet))
    return path.stat().st_size


def _timed_pull(agent, opener, connect, name: str, out: Path) -> tuple[float, object]:
    from edge.agent.server import serve
    from host.flash import AgentClient, pull

    stop = threading.Event()
    t = threading.Thread(target=serve, args=(agent,), kwargs={"stop": stop, "opener": opener,
                                                             "backoff_s": (0.01, 0.01)}, daemon=True)
    t.start()
    port = connect()
    try:
        client = AgentClient(port, timeout_s=10.0)
        t0 = time.monotonic()
        res = pull(client, name, out)
        dt = time.monotonic() - t0
    finally:
        port.close()
        stop.set()
        t.join(10)
    return dt, res


def bench_pull(baud: int = 921600, serial_s: float = 20.0, tcp_s: float = 300.0, seed: int = 4111) -> dict:
    from edge.agent import health, tcp
    from edge.agent.port import open_link
    from host.cable.line import PtyLine
    from edge.agent.server import Agent, AgentConfig

    with tempfile.TemporaryDirectory(prefix="cr-bench-pull-") as d:
        d = Path(d)
        (d / "root" / "sessions").mkdir(parents=True)
        serial_bytes = make_session(d / "root" / "sessions" / "serial.db", serial_s, seed)
        tcp_bytes = make_session(d / "root" / "sessions" / "tcp.db", tcp_s, seed + 1)
        agent = Agent(AgentConfig(d / "root", "sim", (), health.HealthSpec(("{python}", "-c", "pass"), 30.0)))
        with PtyLine(baud, seed=seed) as line:
            serial_dt, _ = _timed_pull(agent, lambda: open_link(line.board_port, baud),
                                       lambda: open_link(line.host_port, baud), "serial.db", d / "out")
        listener = tcp.Listener("tcp://127.0.0.1:0")
        try:
            tcp_dt, _ = _timed_pull(agent, listener.accept, lambda: tcp.connect(listener.name), "tcp.db", d / "out")
        finally:
            listener.close()
    tcp_rate = tcp_bytes / tcp_dt
    return {"serial_effective_kbps": round(serial_bytes * 8 / 1000 / serial_dt, 1), "link_kbps": baud / 1000,
            "tcp_mb_per_s": round(tcp_rate / 1e6, 2),
            "night_8h_minutes_tcp": round(tcp_bytes / tcp_s * NIGHT_S / tcp_rate / 60, 2),
            "session_kb_per_s": round(tcp_bytes / tcp_s / 1000, 1), "serial_session_bytes": serial_bytes,
            "tcp_session_bytes": tcp_bytes, "serial_s": round(serial_dt, 2), "tcp_s": round(tcp_dt, 2)}

