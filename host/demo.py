"""`cardioradar demo`: the whole system on one machine, over real serial I/O.

1. The simulator (a default virtual subject, ``healthy-rest``) serves the module's two
   UARTs on a pair of pseudo-terminals, at ``speed=0``: frames go out as fast as the
   reader takes them (no frame lost to pacing; the run is faster than real time; the
   reader's queue holds the whole run, so a busy machine delays the run, never loses frames).
2. The edge runtime (`edge.runtime.run_edge`) configures the module over the config pty,
   reads frames from the data pty and runs DSP -> int8 model -> post-processing into a
   session file, for ``seconds`` of session time.
3. The session is exported to EDF+, the truth (ECG and R peaks from the subject, mapped to
   session time through the module's frame clock) is saved, and the report PNG is written
   with the metrics against the truth (``host.report.truth_metrics``: the one scorer,
   ``host.scoring``, that `eval` and `quantize model` use).

Files in ``out_dir``: session.db, session.edf, truth.npz, report.png.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cardioradar.errors import ConfigError
from cardioradar.jsonvalues import json_clean

log = logging.getLogger(__name__)

TRUTH_FS_HZ = 500.0


@dataclass(frozen=True)
class DemoResult:
    session: Path
    edf: Path
    report: Path
    truth: Path
    frames_received: int
    frames_lost: int
    latency_p95_s: float
    metrics: dict

    def as_dict(self) -> dict:
        d = {"session": str(self.session), "edf": str(self.edf), "report": str(self.report),
             "truth": str(self.truth), "frames_received": self.frames_received, "frames_lost": self.frames_lost,
             "latency_p95_s": json_clean(self.latency_p95_s)}
        d.update({k: json_clean(v) for k, v in self.metrics.items()})
        return d


def run_demo(out_dir: str | Path = "cardioradar-demo", seconds: float = 60.0, *, seed: int = 1,
             subject: str = "healthy-rest", model: str | Path | None = None, mode: str = "adc",
             status: bool = True) -> DemoResult:
    from boards import load_profile
    from edge.link import ReaderConfig
    from edge.runtime import RunConfig, run_edge, with_ports
    from edge.runtime.model import load_model
    from hardware_sim.record import build_module
    from hardware_sim.serial_io import ModuleServer
    from host.export import export_session
    from host.report import make_report

    if not seconds >= 15:
        raise ConfigError(f"--seconds: expected >= 15 (the DSP needs 2 s of warm-up and whole 5.12-s windows), "
                          f"got {seconds}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    session = out / "session.db"
    for p in (session, Path(f"{session}-wal"), Path(f"{session}-shm")):
        p.unlink(missing_ok=True)  # a demo folder is rewritten each run
    profile = load_profile("sim")
    ecg_model = load_model(profile, model)
    module, subj = build_module(subject, seed=seed, mode=mode, board=profile, batch_frames=5)
    with ModuleServer(module, transport="pty", speed=0.0) as server:
        prof = with_ports(profile, server.ports.config, server.ports.data)
        log.info("simulator on %s (config) and %s (data)", server.ports.config, server.ports.data)
        # At speed 0 the simulator is paced by the reader, which can outrun the processing
        # (the fast front end makes 1000x real time): a queue for the whole run (up to
        # 5 min, ~1.2 kB a frame) keeps the demo lossless. A board at 100 Hz needs 512.
        queue = int(min(seconds, 300.0) * profile.dsp.frame_rate_hz) + 512
        cfg = RunConfig(session, seconds=seconds, status_interval_s=1.0 if status else 0.0,
                        reader=ReaderConfig(queue_size=queue),
                        metadata={"model": Path(ecg_model.path).name, "subject": subject, "seed": seed,
                                  "source": "cardioradar demo (simulator over pseudo-terminals)"})
        summary = run_edge(prof, ecg_model, cfg)
    truth = write_truth(out / "truth.npz", session, module, subj)
    edf = export_session(session, "edf", out / "session.edf")
    report, metrics = make_report(session, out / "report.png", truth)
    return DemoResult(session, edf, report, truth, summary.frames_received, summary.frames_lost,
                      summary.latency_p95_s, metrics.as_dict())


def write_truth(path: Path, session: Path, module, subj) -> Path:
    """The subject's 12-lead ECG (500 Hz) and R peaks in session time.

    Session time t is (frame number - first frame number) / frame rate; the module made
    frame number n at t_start + (n - 1) * period on the simulation clock (period with the
    crystal's drift), so sim time = a + b * t with b = period * frame rate.
    """
    from edge.store import SessionReader

    with SessionReader(session) as r:
        first = next(iter(r.frames()), None)
        fs = r.metadata()["frame_rate_hz"]
        span = r.ecg_time_range()
    if first is None or span is None:
        raise ConfigError(f"{session}: no frames or no ECG recorded: nothing to compare with the truth")
    period = module.frame_period_s
    t_start = module.next_frame_time_s() - module.frames_made * period
    a, b = t_start + (first.frame_number - 1) * period, period * fs
    n = int(math.ceil(span[1] * TRUTH_FS_HZ)) + 1
    t_sess = np.arange(n) / TRUTH_FS_HZ
    step = int(10 * TRUTH_FS_HZ)
    ecg = np.concatenate([np.asarray(subj.electrical.ecg_mv(a + b * t_sess[i:i + step]), np.float32)
                          for i in range(0, n, step)])
    beats = subj.electrical.beats_between(a, a + b * t_sess[-1])
    r_s = (np.array([x.r_time_s for x in beats], float) - a) / b
    np.savez_compressed(path, ecg_mv=ecg, ecg_fs_hz=np.float64(TRUTH_FS_HZ), r_peaks_s=r_s,
                        session_time=np.bool_(True))
    return path


DEMO_OUTPUTS = ("session.db", "session.edf", "report.png", "truth.npz")  # what a demo writes into out_dir
