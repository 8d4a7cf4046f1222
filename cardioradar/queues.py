"""Queues between threads: taking what another thread has put, without waiting; a live
stream's queue that drops records, not events, when its reader falls behind."""

from __future__ import annotations

import collections
import queue
import threading


def drain(q: queue.Queue | queue.SimpleQueue) -> list:
    """Every item waiting in ``q`` now, oldest first; [] when it is empty."""
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out


class LossyQueue:
    """A FIFO between threads for a live stream: a record offered while ``maxsize`` items wait
    is refused (the producer counts it and goes on, never blocked); an item offered with
    ``keep=True`` (a session event: few, and someone waits for it) always enters."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._items: collections.deque = collections.deque()
        self._cv = threading.Condition()

    def put(self, item, keep: bool = False) -> bool:
        with self._cv:
            if not keep and len(self._items) >= self.maxsize:
                return False
            self._items.append(item)
            self._cv.notify()
            return True

    def get(self, timeout_s: float | None = None):
        """The oldest item; waits up to ``timeout_s`` (None: for ever), then raises queue.Empty."""
        with self._cv:
            if not self._cv.wait_for(lambda: self._items, timeout_s):
                raise queue.Empty
            return self._items.popleft()

    def drain(self) -> list:
        with self._cv:
            out = list(self._items)
            self._items.clear()
            return out
