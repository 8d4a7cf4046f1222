"""`cardioradar bench edge`, the host half: record a simulator stream (unless one is given),
build the AOT DSP kernels when stale, and run the board-side replay
(``python -m edge.runtime.bench REC``) in a child process, so its peak RSS is the runtime's
own and not the simulator's that made the recording."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from cardioradar.errors import ConfigError


def bench_edge(profile, model_path: str | None = None, recording: Path | None = None, *,
               seconds: float = 120.0, seed: int = 7108) -> dict:
    """Record (when no recording is given) and replay in a child process; returns its figures.
    The DSP kernels are built ahead of time first unless they are current or
    ``$CARDIORADAR_DSP_BACKEND`` is ``jit`` (``edge.dsp.backend``)."""
    _ensure_aot_kernels()
    with tempfile.TemporaryDirectory() as tmp:
        if recording is None:
            from hardware_sim.record import record_session

            recording = Path(tmp) / "rec"
            record_session(recording, seconds, "healthy-rest", seed=seed, mode="fast", board=profile)
        cmd = [sys.executable, "-m", "edge.runtime.bench", str(recording), "--board", str(profile.path)]
        if model_path:
            cmd += ["--model", str(model_path)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        raise ConfigError(f"bench edge: the replay failed (exit {proc.returncode}): {' | '.join(tail)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _ensure_aot_kernels() -> None:
    from edge.dsp import backend

    if os.environ.get(backend.ENV, "auto") == "jit":
        return
    # the same rule the service's ExecStartPre runs, decided in the child (this process never
    # needs the compiled module)
    proc = subprocess.run([sys.executable, "-m", "edge.dsp.aot", "--if-stale"], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        raise ConfigError(f"bench edge: building the AOT DSP kernels failed (exit {proc.returncode}): {' | '.join(tail)}")
