"""Taking what another thread has put on a `queue.Queue`, without waiting."""

from __future__ import annotations

import queue


def drain(q: queue.Queue | queue.SimpleQueue) -> list:
    """Every item waiting in ``q`` now, oldest first; [] when it is empty."""
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out
