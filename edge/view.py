"""`cardioradar view`: the live ECG and HR in a terminal, from `edge run --live`'s stream.

Reads JSON lines (``-``: stdin, e.g. ``cardioradar edge run --live - | cardioradar view``)
or UDP datagrams (``udp://127.0.0.1:PORT``, with ``edge run --live udp://127.0.0.1:PORT``),
keeps the last ``span_s`` of one lead (a bounded ring), and redraws a character plot
with the latest HR, BR, quality and events after each ECG block.
"""

from __future__ import annotations

import json
import math
import socket
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO
from urllib.parse import urlparse

import numpy as np

from cardioradar.errors import ConfigError
from edge.types import LEADS


@dataclass(frozen=True)
class ViewConfig:
    lead: str = "II"
    span_s: float = 5.0
    width: int = 100
    height: int = 14
    redraw: bool = True  # clear the screen between frames (off: print once at the end)


def messages(source: str, stdin: TextIO | None = None) -> Iterator[dict]:
    """JSON messages from stdin ('-') or a UDP port; undecodable lines are skipped."""
    if source == "-":
        for line in stdin or sys.stdin:
            try:
                yield json.loads(line)
            except ValueError:  # not JSON, or not UTF-8
                continue
        return
    u = urlparse(source)
    if u.scheme != "udp" or not u.port:
        raise ConfigError(f"view source: expected '-' or udp://HOST:PORT, got {source!r}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((u.hostname or "127.0.0.1", u.port))
    except OSError as e:
        sock.close()
        raise ConfigError(f"view source {source}: cannot listen there: {e.strerror}",
                          hint="another `cardioradar view` may be listening on that port") from e
    try:
        while True:
            try:
                yield json.loads(sock.recv(70000))
            except ValueError:  # not JSON, or not UTF-8
                continue
    finally:
        sock.close()


def render(samples: np.ndarray, width: int, height: int) -> list[str]:
    """A character plot of ``samples`` (mV), min..max over ``height`` rows."""
    x = np.asarray(samples, float)
    grid = [[" "] * width for _ in range(height)]
    if len(x) == 0 or not np.any(np.isfinite(x)):
        return ["".join(r) for r in grid]
    cols = np.array_split(np.arange(len(x)), width) if len(x) >= width else [np.array([i]) for i in range(len(x))]
    lo, hi = np.nanmin(x), np.nanmax(x)
    scale = (height - 1) / (hi - lo) if hi > lo else 0.0
    for c, idx in enumerate(cols[:width]):
        v = x[idx]
        v = v[np.isfinite(v)]
        if len(v) == 0:
            continue
        r0, r1 = (int(round((hi - v.max()) * scale)), int(round((hi - v.min()) * scale)))
        for r in range(r0, r1 + 1):
            grid[r][c] = "*" if r0 == r1 else "|"
    return ["".join(r) for r in grid]


class LiveView:
    """State of the view: a ring of one lead's samples and the latest values."""

    def __init__(self, cfg: ViewConfig):
        if cfg.lead not in LEADS:
            raise ConfigError(f"--lead: expected one of {', '.join(LEADS)}, got {cfg.lead!r}")
        self.cfg = cfg
        self.lead = LEADS.index(cfg.lead)
        self.ring: deque[float] = deque(maxlen=1)
        self.fs_hz = 0.0
        self.vitals: dict = {}
        self.status: dict = {}
        self.events: deque[str] = deque(maxlen=3)
        self.bad = 0  # messages skipped as malformed (the view never dies on one datagram)

    def update(self, m) -> bool:
        """Take one message; True when the plot changed (an ECG block came). A malformed
        message (not an object, a field missing or of the wrong type) is counted and skipped."""
        try:
            return self._update(m)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            self.bad += 1
            return False

    def _update(self, m: dict) -> bool:
        kind = m.get("type")
        if kind == "ecg":
            fs_hz = float(m["fs_hz"])
            if not 0 < fs_hz <= 10000:
                raise ValueError(f"fs_hz {fs_hz}")
            # the whole block is checked before the ring changes: a bad one leaves no trace
            vals = [float("nan") if row[self.lead] is None or m.get("excluded") else float(row[self.lead])
                    for row in m["ecg_mv"]]
            vals = [v if math.isfinite(v) else float("nan") for v in vals]
            if fs_hz != self.fs_hz:
                self.fs_hz = fs_hz
                self.ring = deque(maxlen=max(1, int(self.cfg.span_s * self.fs_hz)))
            self.ring.extend(vals)
            return True
        if kind == "vitals":
            self.vitals = m
        elif kind == "status":
            self.status = m
        elif kind == "event":
            self.events.append(f"{float(m['t_s']):.1f} s {m['kind']}: {m['detail']}")
        return False

    def frame(self) -> str:
        c = self.cfg
        v, s = self.vitals, self.status

        def f(x, fmt):
            return "--" if x is None else format(x, fmt)

        head = (f"lead {c.lead}  last {c.span_s:g} s  |  HR {f(v.get('hr_bpm'), '.1f')} bpm ({v.get('source', '-')})"
                f"  BR {f(v.get('br_bpm'), '.1f')} /min  q {f(v.get('quality'), '.2f')}  |  t {f(s.get('t_s'), '.1f')} s"
                f"  drops {s.get('drops', 0)}" + (f"  |  {s['alert']}" if s.get("alert") else "")
                + (f"  |  {self.bad} bad messages skipped" if self.bad else ""))
        return "\n".join([head, *render(np.array(self.ring), c.width, c.height), *self.events])


def run_view(source: str, cfg: ViewConfig, out: TextIO | None = None, stdin: TextIO | None = None) -> LiveView:
    out = out or sys.stdout
    view = LiveView(cfg)
    try:
        for m in messages(source, stdin):
            if view.update(m) and cfg.redraw:
                out.write("\x1b[H\x1b[2J" + view.frame() + "\n")
                out.flush()
    except KeyboardInterrupt:
        pass
    if not cfg.redraw:
        out.write(view.frame() + "\n")
    return view
