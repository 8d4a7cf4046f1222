"""The edge runtime: link -> DSP -> int8 model -> stitching -> post-processing -> store + live.

- ``core``: `EdgeCore` (single-threaded processing, session clock, gaps, latency histogram).
- ``run``: `run_edge` (threads, bounded queues, status line, clean stop), `RunConfig`, `RunSummary`.
- ``live``: `LiveSink` (JSON lines on stdout or UDP), `Status`.
- ``model``: `load_model` (interpreter choice and metadata check via ``edge.infer``).
- ``packet``: canonical packets for the raw archive. Stitching is ``edge.infer.CrossFadeStitcher``.

See docs/runtime.md.
"""

from edge.runtime.core import CoreConfig, EdgeCore, LatencyStats, Output
from edge.runtime.live import LiveSink, Status
from edge.runtime.run import RunConfig, RunSummary, run_edge, with_ports

__all__ = ["CoreConfig", "EdgeCore", "LatencyStats", "LiveSink", "Output", "RunConfig", "RunSummary", "Status",
           "run_edge", "with_ports"]
