"""The link watcher of `edge run`: notices a silent module or a reconnect and re-sends the .cfg.

`LinkWatcher` is fed what the processing loop sees (each item from the reader, the link's
arrival clock) and answers with `WatchEvent`s for the session; the re-send itself runs on
the `Reconfigure` thread, so the loop never waits on the config UART. Rules: docs/runtime.md
("Module resets", "Watchdog, disconnects, stable port names").
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cardioradar.queues import drain
from edge.link import send_cfg
from edge.link.types import DISCONNECT, RECONNECT, LinkEvent, RadarFrame

if TYPE_CHECKING:  # the run's settings; run.py imports this module
    from edge.runtime.run import RunConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchEvent:
    """A session event the watcher asks for (kind 'watchdog' or 'reconfigure')."""

    kind: str
    detail: str
    duration_s: float = 0.0


class Reconfigure:
    """Re-sends the board's .cfg on its own thread (the processing loop never waits on the
    config UART); each attempt's outcome (ok, detail) goes to ``outcomes``."""

    def __init__(self, open_config: Callable, cfg_path: Path, backoff_first_s: float, backoff_max_s: float):
        self._open_config, self._cfg_path = open_config, cfg_path
        self._backoff = (backoff_first_s, backoff_max_s)
        self.outcomes: queue.SimpleQueue[tuple[bool, str]] = queue.SimpleQueue()
        self._cancel = threading.Event()
        self._t: threading.Thread | None = None
        self._reason = "after reconnect"

    @property
    def busy(self) -> bool:
        return self._t is not None and self._t.is_alive()

    def start(self, reason: str = "after reconnect") -> None:
        self._cancel.clear()
        self._reason = reason
        self._t = threading.Thread(target=self._run, name="edge-reconfigure", daemon=True)
        self._t.start()

    def cancel(self, wait: bool = False) -> None:
        """Stop retrying (frames are back, or the run ends); an attempt under way finishes."""
        self._cancel.set()
        if wait and self._t is not None:
            self._t.join()

    def _run(self) -> None:
        delay_s, max_s = self._backoff
        attempt = 0
        while not self._cancel.is_set():
            attempt += 1
            try:
                port = self._open_config()
                try:
                    res = send_cfg(port, self._cfg_path)
                finally:
                    port.close()
            except Exception as e:  # any failure is an event and a retry, never a crash
                log.warning("cfg re-send attempt %d failed: %s", attempt, e)
                self.outcomes.put((False, f"attempt {attempt} failed: {type(e).__name__}: {e}; "
                                          f"retry in {delay_s:.1f} s"))
                if self._cancel.wait(delay_s):
                    return
                delay_s = min(max_s, delay_s * 2)
                continue
            log.info("module re-configured after a reset (attempt %d)", attempt)
            self.outcomes.put((True, f"cfg re-sent {self._reason} (attempt {attempt}, {len(res.answers)} commands)"))
            return


class LinkHealth:
    """The link's health as the processing loop sees it (monotonic seconds): when the last
    frame came, whether the port is gone, and when the .cfg is due again.

    Re-send rules (`due`): after a 'reconnect' with no frame for ``reconfigure_after_s``
    (a replug reset the module); otherwise, with the port present, no frame for
    ``watchdog_s``, then again after 2x, 4x ... that interval (capped at
    ``watchdog_max_s``) while the silence lasts. A silence counts as one only past
    ``silence_floor_s`` (a gap shorter than that is a frame period or a slow loop)."""

    silence_floor_s = 1.0

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        self.last_frame: float | None = None
        self.disconnected_at: float | None = None
        self.reconnected_at: float | None = None
        self.alerted = False
        self.resends = 0
        self.interval_s = cfg.watchdog_s or 0.0
        self.next_at: float | None = None

    def started(self, now: float) -> None:
        self.last_frame = now
        self._arm(now, first=True)

    def _arm(self, now: float, first: bool = False) -> None:
        w = self.cfg.watchdog_s
        self.interval_s = (max(w, self.cfg.watchdog_first_s) if first else w) if w else 0.0
        self.next_at = now + self.interval_s if w else None

    def frame(self, now: float) -> float | None:
        """A frame came; returns how long frames were missing if the watchdog had fired."""
        back = now - self.last_frame if self.alerted and self.last_frame is not None else None
        self.last_frame, self.disconnected_at, self.reconnected_at = now, None, None
        self.alerted, self.resends = False, 0
        self._arm(now)
        return back

    def disconnect(self, now: float) -> None:
        self.disconnected_at = now

    def reconnect(self, now: float) -> None:
        self.disconnected_at, self.reconnected_at = None, now

    def silent_s(self, now: float, at_least_s: float | None = None) -> float:
        if self.last_frame is None:
            return 0.0
        s = now - self.last_frame
        return s if s >= (self.silence_floor_s if at_least_s is None else at_least_s) else 0.0

    def due(self, now: float, can_resend: bool) -> list[str]:
        if self.last_frame is None or self.disconnected_at is not None:
            return []  # the reader is reopening the port; the .cfg follows its return
        ra = self.cfg.reconfigure_after_s
        if self.reconnected_at is not None and ra is not None and self.cfg.send_cfg:
            if can_resend and now - self.reconnected_at >= ra:
                self.reconnected_at = None  # one re-send sequence per silent reconnect
                self.next_at = now + max(self.interval_s, ra)
                self.alerted = True
                return ["reconnect"]
            return []
        if self.next_at is None or now < self.next_at or not (can_resend or not self.cfg.send_cfg):
            return []
        self.alerted = True
        self.resends += 1
        self.interval_s = min(self.cfg.watchdog_max_s, (self.cfg.watchdog_s or 0.0) * 2 ** self.resends)
        self.next_at = now + self.interval_s
        return ["watchdog"]

    def state(self) -> str:
        return "port gone" if self.disconnected_at is not None else "port open, module silent"

    def alert(self, now: float) -> str:
        """The status line's warning: empty while frames flow."""
        if self.disconnected_at is not None:
            return f"DISCONNECTED {now - self.disconnected_at:.0f} s"
        s = self.silent_s(now)
        if s <= 0:
            return ""
        resent = f", cfg re-sent {self.resends}x" if self.resends else ""
        return f"NO FRAMES {s:.0f} s{resent}"


class LinkWatcher:
    """`LinkHealth` plus the `Reconfigure` thread: what the run's loop tells it, and the
    session events that follow (frames back, watchdog, each re-send attempt)."""

    def __init__(self, cfg: RunConfig, open_config: Callable, cfg_path: Path):
        self.cfg, self._cfg_path = cfg, cfg_path
        self.health = LinkHealth(cfg)
        self.reconf = Reconfigure(open_config, cfg_path, cfg.reconfigure_backoff_first_s,
                                  cfg.reconfigure_backoff_max_s)

    def started(self, now: float) -> None:
        self.health.started(now)

    def observe(self, item: RadarFrame | LinkEvent | None, last_frame_s: float | None, now: float) -> list[WatchEvent]:
        """What the reader gave (None: nothing) and its last frame's arrival time."""
        out = []
        h = self.health
        if last_frame_s is not None and last_frame_s > h.last_frame:
            # the link's own arrival clock: a loop behind on its queue is no silent module
            back = h.frame(last_frame_s)
            if back is not None:
                out.append(WatchEvent("watchdog", f"frames back after {back:.1f} s without any", back))
        if isinstance(item, RadarFrame):
            self.reconf.cancel()
        elif isinstance(item, LinkEvent) and item.kind == DISCONNECT:
            h.disconnect(now)
        elif isinstance(item, LinkEvent) and item.kind == RECONNECT:
            h.reconnect(now)
        return out

    def poll(self, now: float) -> list[WatchEvent]:
        """Starts a re-send when one is due; the attempts' outcomes so far."""
        out = []
        cfg = self.cfg
        for why in self.health.due(now, can_resend=cfg.send_cfg and not self.reconf.busy):
            if why == "reconnect":
                log.warning("no frame %.1f s after reconnect: re-sending %s", cfg.reconfigure_after_s, self._cfg_path)
                self.reconf.start("after reconnect")
                continue
            silent = self.health.silent_s(now, at_least_s=0.0)
            action = (f"re-sending the .cfg (re-send {self.health.resends}; next after {self.health.interval_s:.0f} s "
                      "more)") if cfg.send_cfg else "not re-sending the .cfg (--no-cfg)"
            log.warning("watchdog: no frame for %.1f s: %s", silent, action)
            out.append(WatchEvent("watchdog", f"no frame for {silent:.1f} s (sensor stopped, module reset or "
                                              f"cable?): {action}", silent))
            if cfg.send_cfg:
                self.reconf.start("by the watchdog")
        return out + self._outcomes()

    def finish(self) -> list[WatchEvent]:
        """Stops retrying and waits for an attempt under way (the config UART is then free)."""
        self.reconf.cancel(wait=True)
        return self._outcomes()

    def _outcomes(self) -> list[WatchEvent]:
        return [WatchEvent("reconfigure", detail) for _, detail in drain(self.reconf.outcomes)]

    def silent_s(self, now: float) -> float:
        return self.health.silent_s(now)

    def alert(self, now: float) -> str:
        return self.health.alert(now)

    def state(self) -> str:
        return self.health.state()
