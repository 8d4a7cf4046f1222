"""The live stream's queue (`cardioradar.queues.LossyQueue`) and the sink behind `edge run --live`:
a viewer that falls behind loses ECG records, never an event, and never blocks the runtime."""

import io
import json
import queue
import threading

import pytest

from cardioradar.queues import LossyQueue
from edge.runtime.live import LiveSink


def test_lossy_queue_refuses_records_when_full_keeps_events_in_order():
    q = LossyQueue(2)
    assert q.put("a") and q.put("b")
    assert not q.put("c")  # full: refused, the producer counts it
    assert q.put("event", keep=True)  # kept whatever the size
    assert q.get(0) == "a"
    assert q.drain() == ["b", "event"]
    with pytest.raises(queue.Empty):
        q.get(0.01)


class _StalledOut(io.StringIO):
    """stdout of a viewer that stops reading until ``gate`` opens."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Event()

    def write(self, s):
        self.gate.wait()
        return super().write(s)


def test_live_sink_behind_a_stalled_viewer_drops_ecg_not_events():
    out = _StalledOut()
    sink = LiveSink("-", queue_size=4, stdout=out)
    try:
        for i in range(20):
            sink.send({"type": "ecg", "t0_s": float(i)})
            if i % 5 == 0:
                sink.send({"type": "event", "t_s": float(i), "kind": "marker", "detail": f"m{i}"})
        assert sink.dropped >= 20 - 4 - 1  # the writer took at most one before it stalled
    finally:
        out.gate.set()
        sink.close()
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [m["detail"] for m in lines if m["type"] == "event"] == ["m0", "m5", "m10", "m15"]
    assert sum(m["type"] == "ecg" for m in lines) + sink.dropped == 20
