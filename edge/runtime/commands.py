"""Helpers of `cardioradar edge run` (its arguments and handler are in ``edge.cli``): the
default session path and the stop signals."""

from __future__ import annotations

import datetime as dt
import signal
import threading
from pathlib import Path


def default_session_path() -> Path:
    return Path("sessions") / (dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + ".db")


def install_stop_handlers(stop: threading.Event) -> None:
    """SIGINT / SIGTERM set ``stop``: the run flushes, closes the session cleanly, exits 0."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
