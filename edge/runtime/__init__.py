"""The edge runtime: link -> DSP -> int8 model -> stitching -> post-processing -> store + live.

- ``core``: `EdgeCore` (single-threaded processing, session clock, gaps, latency histogram).
- ``run``: `Runtime` (start / step / stop: threads, bounded queues, status line, clean stop), `run_edge`
  (its thin form), `RunConfig`, `RunSummary`. ``watcher``: `LinkWatcher` (watchdog, reconnect, .cfg re-send).
- ``live``: `LiveSink` (JSON lines on stdout or UDP), `Status`.
- ``model``: `load_model` (interpreter choice and metadata check via ``edge.infer``).
- ``packet``: canonical packets for the raw archive. Stitching is ``edge.infer.CrossFadeStitcher``.

See docs/runtime.md.
"""

from edge.runtime.core import CoreConfig, EdgeCore, LatencyStats, Output
from edge.runtime.live import LiveSink, Status
from edge.runtime.run import RunConfig, RunSummary, Runtime, run_edge, with_ports

__all__ = ["CoreConfig", "EdgeCore", "LatencyStats", "LiveSink", "Output", "RunConfig", "RunSummary", "Runtime",
           "Status", "run_edge", "with_ports"]
