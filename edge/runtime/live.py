"""Live output for a field tester: a status line and a machine-readable stream.

Stream: one JSON object per line (``type`` = ``ecg`` | ``beat`` | ``vitals`` | ``event`` |
``status``), written to stdout (``-``) or sent as UDP datagrams (``udp://127.0.0.1:PORT``,
one line per datagram) to a viewer (`cardioradar view`). The sink runs on its own thread
behind a bounded queue: a slow or absent viewer costs dropped records (counted in the
status), never a stalled runtime or growing memory; events are never dropped there.

    {"type": "ecg", "t0_s": 12.8, "fs_hz": 100.0, "excluded": false, "leads": [...],
     "ecg_mv": [[...12 values...], ...]}
    {"type": "beat", "t_s": 13.1, "rr_s": 0.82, "hr_bpm": 73.2, "quality": 0.9}
    {"type": "vitals", "t_s": 15.4, "hr_bpm": 72.8, "br_bpm": 14.1, "quality": 0.8, "source": "model"}
    {"type": "event", "t_s": 20.0, "kind": "disconnect", "detail": "...", "count": 1, "duration_s": 0}
    {"type": "status", ...the status line's values...}
"""

from __future__ import annotations

import json
import logging
import math
import socket
import sys
import threading
from dataclasses import dataclass
from typing import TextIO
from urllib.parse import urlparse

from cardioradar.errors import ConfigError
from cardioradar.queues import LossyQueue
from edge.post import PostResult
from edge.types import LEADS, SessionEvent

log = logging.getLogger(__name__)

UDP_MAX_BYTES = 65000


def _num(x: float, nd: int = 3):
    x = float(x)
    return None if not math.isfinite(x) else round(x, nd)


def result_messages(res: PostResult) -> list[dict]:
    b = res.block
    ecg = [[_num(v) for v in row] for row in b.ecg_mv.tolist()]
    out = [{"type": "ecg", "t0_s": round(b.t0_s, 4), "fs_hz": b.fs_hz, "excluded": b.excluded,
            "amplitude_mv": _num(res.amplitude_mv), "leads": list(LEADS), "ecg_mv": ecg}]
    out += [{"type": "beat", "t_s": round(x.t_s, 4), "rr_s": _num(x.rr_s), "hr_bpm": _num(x.hr_bpm, 1),
             "quality": _num(x.quality, 2)} for x in res.beats]
    v = res.vitals
    out.append({"type": "vitals", "t_s": round(v.t_s, 3), "hr_bpm": _num(v.hr_bpm, 1), "br_bpm": _num(v.br_bpm, 1),
                "quality": _num(v.quality, 2), "source": v.source})
    return out


def event_message(ev: SessionEvent) -> dict:
    return {"type": "event", "t_s": round(ev.t_s, 3), "kind": ev.kind, "detail": ev.detail,
            "count": ev.count, "duration_s": round(ev.duration_s, 3)}


@dataclass(frozen=True)
class Status:
    """What the once-a-second line shows."""

    t_s: float
    hr_bpm: float
    br_bpm: float
    quality: float
    source: str
    frames: int
    drops: int
    events: int
    excluded_s: float
    session_mb: float
    latency_p95_s: float
    live_dropped: int
    alert: str = ""  # "NO FRAMES 7 s, cfg re-sent 1x" / "DISCONNECTED 3 s"; empty while frames flow

    def line(self) -> str:
        def f(x, fmt):
            return format(x, fmt) if math.isfinite(x) else "--"

        return (f"t {self.t_s:7.1f} s | HR {f(self.hr_bpm, '5.1f')} bpm ({self.source}) | "
                f"BR {f(self.br_bpm, '4.1f')} /min | q {f(self.quality, '.2f')} | frames {self.frames} | "
                f"drops {self.drops} | excl {self.excluded_s:.0f} s | session {self.session_mb:.1f} MB | "
                f"lat p95 {f(self.latency_p95_s, '.2f')} s" + (f" | {self.alert}" if self.alert else ""))

    def message(self) -> dict:
        d = {k: (_num(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}
        d["type"] = "status"
        return d


class LiveSink:
    """Sends messages to ``target`` ('-' = stdout, 'udp://host:port', None = nowhere) from a thread."""

    def __init__(self, target: str | None, *, queue_size: int = 256, stdout: TextIO | None = None):
        self.target = target
        self.dropped = 0
        self.sent = 0
        self._q = LossyQueue(queue_size)
        self._out = stdout or sys.stdout
        self._sock = None
        self._addr = None
        if target not in (None, "-"):
            u = urlparse(target)
            if u.scheme != "udp" or not u.port:
                raise ConfigError(f"--live: expected '-' (stdout) or udp://HOST:PORT, got {target!r}")
            self._addr = (u.hostname or "127.0.0.1", u.port)
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._thread = None
        if target is not None:
            self._thread = threading.Thread(target=self._run, name="edge-live", daemon=True)
            self._thread.start()

    def send(self, msg: dict) -> None:
        if self._thread is None:
            return
        if not self._q.put(msg, keep=msg.get("type") == "event"):
            self.dropped += 1  # the viewer is slow: drop a record (never an event), never block the runtime

    def close(self, timeout_s: float = 2.0) -> None:
        if self._thread is None:
            return
        self._q.put(None, keep=True)
        self._thread.join(timeout_s)
        self._thread = None
        if self._sock is not None:
            self._sock.close()

    def _run(self) -> None:
        while True:
            msg = self._q.get()
            if msg is None:
                return
            line = json.dumps(msg, separators=(",", ":"), allow_nan=False)
            try:
                if self._sock is not None:
                    data = line.encode()
                    if len(data) > UDP_MAX_BYTES:
                        self.dropped += 1
                        continue
                    self._sock.sendto(data, self._addr)
                else:
                    self._out.write(line + "\n")
                    self._out.flush()
                self.sent += 1
            except (OSError, ValueError) as e:  # no listener (ECONNREFUSED), closed stdout
                self.dropped += 1
                log.debug("live output: %s", e)
