"""Shared pieces of the edge-runtime tests (a helper module, not a test module).

`BeatModel` stands in for `edge.infer.EcgModel` (input spec, ``predict_int8``) and draws a
fixed 75-bpm ECG, so the runtime's plumbing is what a test checks; `serve` is the simulator
on ptys; `Unplug` pulls the data cable out from under a run.
"""

import os
import select
import threading
import time
from pathlib import Path

import numpy as np

from boards import load_profile
from cardioradar.ptys import open_pty
from edge.dsp.config import DspConfig
from edge.dsp.tensor import FeatureLayout, ModelInputSpec
from edge.link import ReaderConfig, open_port
from edge.runtime import RunConfig, run_edge, with_ports
from hardware_sim.record import build_module
from hardware_sim.serial_io import ModuleServer

RR_S = 0.8


class BeatModel:
    """ECG with an R wave every 0.8 s of stream time (window k starts at k * hop)."""

    def __init__(self, cfg: DspConfig):
        self.input_spec = ModelInputSpec(2.0 / 255, 0, FeatureLayout(cfg.window_samples, cfg.n_voxels, cfg.fs_hz))
        self.fs_hz, self.hop, self.window = cfg.fs_hz, cfg.hop_samples, cfg.window_samples
        self.calls = 0

    def predict_int8(self, x):
        assert x.dtype == np.int8 and x.shape == self.input_spec.layout.shape
        t = (np.arange(self.window) + self.hop * self.calls) / self.fs_hz
        self.calls += 1
        ph = t % RR_S - RR_S / 2
        ecg = np.exp(-(ph / 0.02) ** 2)[:, None] * np.linspace(0.5, 1.5, 12)[None]
        return ecg.astype(np.float32), np.exp(-(ph / 0.03) ** 2).astype(np.float32), RR_S


def sim_profile():
    return load_profile("sim")


def serve(speed=0.0, seed=3):
    """The simulator (healthy-rest, fast front end) on ptys; ``speed`` 0 waits for the reader."""
    module, _ = build_module("healthy-rest", seed=seed, mode="fast", batch_frames=5)
    return ModuleServer(module, transport="pty", speed=speed)


class Unplug:
    """Forwards the simulator's data pty to a pty behind ``link``; ``unplug(s)`` removes it for s seconds."""

    def __init__(self, upstream: str, link: Path):
        self.link = link
        self._up = os.open(upstream, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self._plug()
        self._off_until = None
        self._lock = threading.Lock()  # unplug() runs on another thread than the forwarder
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _plug(self):
        pair = open_pty(blocking_master=True)
        self._m, self._s = pair.master, pair.slave
        tmp = Path(f"{self.link}.new")
        os.symlink(pair.path, tmp)
        os.replace(tmp, self.link)

    def unplug(self, seconds: float):
        with self._lock:
            os.unlink(self.link)
            os.close(self._m)
            os.close(self._s)
            self._off_until = time.monotonic() + seconds

    def _run(self):
        while not self._stop.is_set():
            with self._lock:
                if self._off_until is not None and time.monotonic() >= self._off_until:
                    self._plug()
                    self._off_until = None
            if select.select([self._up], [], [], 0.01)[0]:
                try:
                    data = os.read(self._up, 65536)
                except BlockingIOError:
                    continue
                with self._lock:
                    if self._off_until is None:
                        os.write(self._m, data)

    def close(self):
        self._stop.set()
        self._t.join(2)
        os.close(self._up)
        if self._off_until is None:
            self.unplug(0)


def run_with_unplug(tmp_path, server, at_fourth_status, **run_cfg):
    """30 s of `run_edge` with the data port behind an `Unplug` proxy at ``tmp_path/ttyRADAR``;
    ``at_fourth_status(proxy)`` runs at the 4th status line (~8 s of stream at speed 4).
    ``run_cfg`` adds to the `RunConfig`. -> the run's summary."""
    profile = sim_profile()
    link = tmp_path / "ttyRADAR"
    proxy = Unplug(server.ports.data, link)
    prof = with_ports(profile, server.ports.config, str(link))
    statuses = []

    def on_status(st):
        statuses.append(st)
        if len(statuses) == 4:
            at_fourth_status(proxy)

    cfg = RunConfig(tmp_path / "s.db", seconds=30.0, status_interval_s=0.5,
                    reader=ReaderConfig(backoff_first_s=0.05, backoff_max_s=0.2), **run_cfg)
    try:
        return run_edge(prof, BeatModel(DspConfig.from_profile(profile)), cfg,
                        open_data=lambda: open_port(str(link), 921600), status_out=False, on_status=on_status)
    finally:
        proxy.close()
