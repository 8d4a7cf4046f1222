"""`cardioradar bench edge`, the board half: the whole runtime on one core, replaying a recorded
data-UART stream (the host half, ``host.bench.edge``, records the stream and runs this).

The recording's ``frames.bin`` is fed to the link decoder in 8 KiB reads (as the reader
thread does), then through `EdgeCore` (DSP, model, stitching, post-processing) into a
real session file on the store thread. Run in a child process pinned to one CPU, so the
peak RSS is the runtime's own (not the simulator's that made the recording).

Latency: each frame is given the arrival time it would have at the module's real-time
pace (index / fs); "now" is the arrival time of the newest frame plus the compute time
since it was fed. The p95 is therefore what a board as fast as this machine would see
(the algorithmic part -- waiting for the rest of the window -- dominates).

    python -m edge.runtime.bench RECORDING_DIR --board sim [--model M]   # prints one JSON line
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from cardioradar.errors import InputDataError

READ_BYTES = 8192


def replay(recording: Path, profile, model_path: str | None) -> dict:
    """Replay ``recording/frames.bin`` through the runtime (this process); returns the figures."""
    from edge.dsp import backend
    from edge.dsp.config import DspConfig
    from edge.link import DecoderConfig, FrameDecoder
    from edge.runtime.core import CoreConfig, EdgeCore
    from edge.runtime.replay import frames_bin_chunks, replay_stream
    from edge.runtime.model import load_model
    from edge.runtime.run import _Store
    from edge.store import SessionWriter

    data_path = Path(recording) / "frames.bin"
    if not data_path.is_file():
        raise InputDataError(f"--recording {recording}: no frames.bin (expected a `sim record` folder)")
    dsp_cfg = DspConfig.from_profile(profile)
    model = load_model(profile, model_path, dsp_cfg)
    fs = dsp_cfg.fs_hz
    clock = _ReplayClock()
    core = EdgeCore(dsp_cfg, model, CoreConfig(), clock=clock.now)
    decoder = FrameDecoder(DecoderConfig.from_profile(profile))
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if cpus:
        os.sched_setaffinity(0, {min(cpus)})
    with tempfile.TemporaryDirectory() as tmp:
        writer = SessionWriter(Path(tmp) / "bench.db", {"board": profile.name, "bench": True})
        store = _Store(writer, 512)
        t0, c0 = time.perf_counter(), time.process_time()
        n_frames = replay_stream(frames_bin_chunks(data_path, READ_BYTES), decoder, core, store.put, clock.arrived)
        store.close()
        writer.close()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    session_s = n_frames / fs
    algorithmic_s = (dsp_cfg.lag_samples + 3) / fs  # newest sample of a piece
    return {"frames": n_frames, "session_s": session_s, "wall_s": wall, "rtf": session_s / wall,
            "cpu_s": cpu,  # CPU time of all threads: wall minus waiting for the CPU on a loaded machine
            "peak_rss_mb": _peak_rss_mb(), "latency_ms_p95": 1000 * core.latency.quantile_s(0.95),
            "latency_ms_p50": 1000 * core.latency.quantile_s(0.5), "algorithmic_latency_ms": 1000 * algorithmic_s,
            "windows": core.windows, "backend": backend.name()}


def _peak_rss_mb() -> float:
    """Peak RSS of this process, MiB: VmHWM, the high-water mark of this program's own memory.
    Not ru_maxrss: Linux keeps the parent's high-water mark across fork + exec, so the child
    reported the recording simulator's ~240 MB instead of its own."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    from edge.runtime.run import peak_rss_mb

    return peak_rss_mb()


class _ReplayClock:
    def __init__(self):
        self._arrival = 0.0
        self._fed = time.perf_counter()

    def arrived(self, t_s: float) -> None:
        self._arrival, self._fed = t_s, time.perf_counter()

    def now(self) -> float:
        return self._arrival + (time.perf_counter() - self._fed)


def main(argv: list[str] | None = None) -> int:
    from boards import load_profile

    p = argparse.ArgumentParser(prog="python -m edge.runtime.bench")
    p.add_argument("recording", type=Path)
    p.add_argument("--board", default="sim")
    p.add_argument("--model", default=None)
    a = p.parse_args(argv)
    print(json.dumps(replay(a.recording, load_profile(a.board), a.model)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
