"""``sim record``: run the simulated module for a while and keep what its data UART carried,
together with the ground truth, keyed to the module's frame clock (DESIGN.md contract 2).

A recording folder holds:

``frames.bin``
    Exactly the bytes of the data UART from sensorStart on (the configDataPort ack ping if
    the .cfg asks for one, then one packet per sent frame; dropped frames leave no bytes).
``subject.json``
    ``SubjectParams.to_json()`` of the subject (schema-versioned).
``truth.npz``
    ``ecg_mv``            (n, 12) float32, mV, 500 Hz, lead order I, II, III, aVR, aVL, aVF,
                          V1-V6; n = round(seconds x 500); sample i is at i / 500 s.
                          Driven by a recording: its leads; NaN for leads it lacks.
    ``ecg_fs_hz``         () float64, 500.
    ``r_peaks_s``         (n_beats,) float64, R-peak times, s.
    ``beat_kinds``        (n_beats,) str, 'N', 'A', 'V' or 'F' (``Beat.kind``).
    ``mech_qrs_onset_s``, ``mech_mc_s``, ``mech_ao_s``, ``mech_ac_s``, ``mech_mo_s``
                          (n_mech,) float64, s: QRS onset, mitral closure, aortic opening,
                          aortic closure, mitral opening of every beat (mechanical events).
    ``frame_numbers``     (n_frames,) uint32, the header's frameNumber of every frame the
                          module made (sent or dropped).
    ``frame_times_s``     (n_frames,) float64, start of each frame's chirps, s.
    ``frame_sent``        (n_frames,) bool, False where the UART budget dropped the frame.
    ``frame_time_cpu_cycles`` (n_frames,) uint32, the header's timeCpuCycles.
    ``frame_first_bin``   (n_frames,) int32, first streamed range bin (range-window TLV).
    ``subject_range_m``   (n_frames,) float64, distance radar -> chest centre at frame times.
    ``chest_centre_m``    (n_frames, 3) float64, chest centre (radar frame) at frame times.
    ``resp_mm``           (n_frames,) float64, breathing excursion at frame times, mm.
    ``rbm_intervals_s``   (k, 2) float64, [start, end) of each random body movement, s.
    ``rbm_kinds``         (k,) str, 'mild' or 'extensive'.
    ``seconds``, ``seed``, ``mode``, ``board``, ``clock_drift_ppm``, ``data_baud``,
    ``range_step_m``      scalars describing the run (mode: 'adc' or 'fast').

Times are seconds on the simulation clock; sensorStart happens at t = 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from boards import BoardProfile, load_profile
from cardioradar.errors import ConfigError, DeviceError, InputDataError
from cardioradar.inputs import read_config_input
from hardware_sim.firmware.module import FrameBlock, ModuleFrame, RadarModule

log = logging.getLogger(__name__)

ECG_FS_HZ = 500.0
_ECG_CHUNK_S = 10.0
# Frames per module block when recording / benchmarking (the bytes do not depend on it):
# fast mode's per-block costs (subject look-back, Python per block) are ~15 % of its time at
# 100 frames and ~4 % at 500 (1000: 1203 -> 1255x CPU, 2000 no better); ADC mode's block
# arrays grow with it (~50 KB per frame) for no gain.
_RECORD_BATCH_FRAMES = {"fast": 1000, "adc": 100}


@dataclass(frozen=True)
class DriveEcg:
    """Drive the subject's heart from a recording (see ``VirtualSubject.from_recording``):
    an ECG file ``path`` (``fs_hz`` for files without a time column), or an
    ``EcgRecording`` in memory (``DriveEcg(recording=rec)``, e.g. a generator's arrays).
    ``params``: the subject's ``SubjectParams`` (placement, breathing, mechanics, ...; its
    ``electrical`` is unused); None: the healthy-rest preset drawn from the seed."""

    path: Path | None = None
    fs_hz: float | None = None
    recording: object | None = None  # hardware_sim.subject.recorded.EcgRecording
    params: object | None = None  # hardware_sim.subject.params.SubjectParams

    def __post_init__(self):
        if (self.path is None) == (self.recording is None):
            raise ConfigError("DriveEcg: expected a file path or an EcgRecording (one of them), "
                              f"got path={self.path!r}, recording={type(self.recording).__name__}")
        if self.path is not None:
            object.__setattr__(self, "path", Path(self.path))

    @property
    def label(self) -> str:
        """The file (or the in-memory recording's source label), for messages and reports."""
        return str(self.path) if self.path is not None else str(self.recording.source)


@dataclass(frozen=True)
class RecordResult:
    out_dir: Path
    seconds: float
    n_frames: int
    n_sent: int
    n_dropped: int
    n_bytes: int


def make_subject(subject, seed: int):
    """A ``VirtualSubject`` from a preset name, ``SubjectParams`` or ``DriveEcg``."""
    from hardware_sim.subject import VirtualSubject
    from hardware_sim.subject.params import PRESETS, SubjectParams

    if isinstance(subject, DriveEcg):
        params = subject.params if subject.params is not None else PRESETS["healthy-rest"].make(seed)
        if subject.recording is not None:
            return VirtualSubject.from_recording(subject.recording, params, seed)
        p = subject.path
        if not p.is_file() and not p.with_suffix(".hea").is_file():  # a WFDB record by name
            raise InputDataError(f"--drive-ecg {p}: no such file")
        return VirtualSubject.from_recording(p, params, seed, fs_hz=subject.fs_hz)
    if isinstance(subject, SubjectParams):
        return VirtualSubject(subject, seed)
    if isinstance(subject, str):
        if subject not in PRESETS:
            raise ConfigError(f"subject: expected one of {', '.join(PRESETS)}, got {subject!r}",
                              hint="`cardioradar sim subjects` lists them")
        return VirtualSubject(PRESETS[subject].make(seed), seed)
    raise ConfigError(f"subject: expected a preset name, SubjectParams or DriveEcg, got {type(subject).__name__}")


def build_module(subject="healthy-rest", *, seed: int = 0, mode: str = "adc",
                 board: str | BoardProfile = "sim", noise=None, batch_frames: int = 100):
    """Subject + scene + front end + firmware, seeded from one ``seed``. Returns (module, subject)."""
    from hardware_sim.scene import Scene

    profile = board if isinstance(board, BoardProfile) else load_profile(board)
    s_subject, s_scene, s_module = (int(c.generate_state(1)[0]) for c in np.random.SeedSequence(seed).spawn(3))
    subj = make_subject(subject, s_subject)
    module = RadarModule(profile, Scene(subj, s_scene), mode=mode, seed=s_module, noise=noise,
                         batch_frames=batch_frames)
    return module, subj


def start_module(module: RadarModule, t_s: float = 0.0) -> bytes:
    """Send the board's .cfg; returns what the data UART carried. Raises if the module refused."""
    path = module.profile.cfg_path
    text_out, data_out = module.run_cfg_text(read_config_input(path, "radar cfg"), t_s)  # as the edge reads it
    if not module.running:
        answer = text_out.decode(errors="replace")
        errors = [ln for ln in answer.splitlines() if ln.startswith("Error")]
        raise DeviceError(f"{path.name}: the module did not start: {' | '.join(errors) or 'no sensorStart'}")
    return data_out


def iter_blocks(module: RadarModule, seconds: float) -> Iterator[FrameBlock]:
    """The first round(seconds x frame rate) frames after sensorStart (nominal rate, so the
    count does not depend on the crystal drift) as ``FrameBlock``s of up to
    ``module.batch_frames`` frames; the module must be running."""
    n = int(round(seconds * module.config.frame.frame_rate_hz))
    while module.running and module.frames_made < n:
        block = module.next_frames(min(module.batch_frames, n - module.frames_made))
        if block is None:
            return
        yield block


def iter_frames(module: RadarModule, seconds: float) -> Iterator[ModuleFrame]:
    """``iter_blocks``' frames one by one (each ``ModuleFrame`` is built as it is asked for)."""
    for block in iter_blocks(module, seconds):
        yield from block


def record_session(out_dir: str | Path, seconds: float, subject="healthy-rest", *, seed: int = 0,
                   mode: str = "adc", board: str | BoardProfile = "sim",
                   progress: Callable[[int], None] | None = None) -> RecordResult:
    """Record ``seconds`` of the module's data UART plus truth into ``out_dir`` (see module doc).

    ``progress(n)`` is called with the number of frames made since the last call.
    """
    if not seconds > 0:
        raise ConfigError(f"--seconds: expected > 0, got {seconds}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    module, subj = build_module(subject, seed=seed, mode=mode, board=board,
                                batch_frames=_RECORD_BATCH_FRAMES.get(mode, 100))
    n_bytes = 0
    blocks = []
    with open(out / "frames.bin", "wb") as fh:
        head = start_module(module)
        fh.write(head)
        n_bytes += len(head)
        for block in iter_blocks(module, seconds):
            data = block.data()
            fh.write(data)
            n_bytes += len(data)
            # Only the per-frame truth columns are kept (not the packets or heatmaps).
            blocks.append((block.frame_numbers, block.t_frame_s, ~block.dropped, block.time_cpu_cycles,
                           np.full(len(block), block.first_bin)))
            if progress is not None:
                progress(len(block))
    cols = [np.concatenate(c) for c in zip(*blocks)] if blocks else [np.zeros(0)] * 5
    truth = _truth(subj, cols, seconds)
    truth.update(seconds=np.float64(seconds), seed=np.int64(seed), mode=np.str_(mode),
                 board=np.str_(module.profile.name), clock_drift_ppm=np.float64(module.clock_drift_ppm),
                 data_baud=np.int64(module.data_baud),
                 range_step_m=np.float64(module.config.profile.range_resolution_m))
    np.savez_compressed(out / "truth.npz", **truth)
    (out / "subject.json").write_text(subj.params.to_json())
    n_frames = len(cols[0])
    n_sent = int(np.count_nonzero(cols[2]))
    log.info("recorded %d frames (%d dropped, %d bytes) to %s", n_frames, n_frames - n_sent, n_bytes, out)
    return RecordResult(out, float(seconds), n_frames, n_sent, n_frames - n_sent, n_bytes)


def _truth(subj, cols: list[np.ndarray], seconds: float) -> dict[str, np.ndarray]:
    """cols: frame numbers, frame times (s), sent flags, timeCpuCycles, first bins, (n_frames,) each."""
    frame_numbers, t_frames, sent, cycles, first_bins = cols
    n_ecg = int(round(seconds * ECG_FS_HZ))
    t_ecg = np.arange(n_ecg) / ECG_FS_HZ
    step = int(_ECG_CHUNK_S * ECG_FS_HZ)
    ecg = np.concatenate([np.asarray(subj.electrical.ecg_mv(t_ecg[i:i + step]), np.float32)
                          for i in range(0, n_ecg, step)] or [np.zeros((0, 12), np.float32)])
    beats = subj.electrical.beats_between(0.0, seconds)
    mech = subj.mechanics.events_between(0.0, seconds)
    moves = subj.movement_intervals(0.0, seconds)
    t_frames = np.asarray(t_frames, np.float64)
    centre = np.asarray(subj.chest_centre_m(t_frames), np.float64).reshape(-1, 3)
    return {
        "ecg_mv": ecg,
        "ecg_fs_hz": np.float64(ECG_FS_HZ),
        "r_peaks_s": np.array([b.r_time_s for b in beats], np.float64),
        "beat_kinds": np.array([b.kind for b in beats], dtype="U1"),
        **{f"mech_{k}": np.array([getattr(e, k) for e in mech], np.float64)
           for k in ("qrs_onset_s", "mc_s", "ao_s", "ac_s", "mo_s")},
        "frame_numbers": np.asarray(frame_numbers).astype(np.uint32),
        "frame_times_s": t_frames,
        "frame_sent": np.asarray(sent, bool),
        "frame_time_cpu_cycles": np.asarray(cycles).astype(np.uint32),
        "frame_first_bin": np.asarray(first_bins).astype(np.int32),
        "subject_range_m": np.linalg.norm(centre, axis=1),
        "chest_centre_m": centre,
        "resp_mm": np.asarray(subj.resp_mm(t_frames), np.float64).reshape(-1),
        "rbm_intervals_s": np.array([[m.start_s, m.end_s] for m in moves], np.float64).reshape(-1, 2),
        "rbm_kinds": np.array([m.kind for m in moves], dtype="U9"),
    }


# --- `sim frames` and `bench sim`: the same module run without serial ports ----------------


def frame_lines(seconds: float, subject="healthy-rest", *, seed: int = 0, mode: str = "adc",
                board: str | BoardProfile = "sim") -> Iterator[str]:
    """One text line per decoded frame: number, device time, strongest bin, |x| and phase.

    Each packet is decoded from its bytes (the reference decoder), so the line shows what a
    reader of the data UART would see. Magnitude and phase are of virtual antenna 0.
    """
    from hardware_sim.firmware.tlv import decode_frame

    module, _ = build_module(subject, seed=seed, mode=mode, board=board)
    start_module(module)
    for f in iter_frames(module, seconds):
        if f.dropped:
            yield f"frame {f.frame_number:6d}  dropped (data UART busy)"
            continue
        d = decode_frame(f.packet)
        t_dev_s = d.header.time_cpu_cycles / 200e6
        if d.heatmap is None:
            yield f"frame {d.header.frame_number:6d}  t_dev {t_dev_s:10.6f} s  no heatmap TLV"
            continue
        x = d.heatmap[..., 0].astype(np.float64) + 1j * d.heatmap[..., 1]
        k = int(np.argmax((np.abs(x) ** 2).sum(axis=1)))
        b = d.range_window.first_bin + k
        yield (f"frame {d.header.frame_number:6d}  t_dev {t_dev_s:10.6f} s  bin {b:3d} "
               f"({b * d.range_window.range_step_m:5.3f} m)  |x| {abs(x[k, 0]):8.1f}  "
               f"phase {np.angle(x[k, 0]):+6.3f} rad  {d.header.total_packet_len} B")


def bench_module(seconds: float, mode: str, *, seed: int = 0, warmup_s: float = 0.2, repeats: int = 5) -> float:
    """Real-time factor (simulated seconds per wall second) of the whole module on one core.

    Subject + scene + front end + firmware, in blocks as ``record_session`` makes them (packets
    encoded, nothing written). The process is
    pinned to one CPU while it runs; the first ``warmup_s`` (JIT compilation) is not timed.
    The median over ``repeats`` consecutive spans of ``seconds`` each: one span of fast mode
    lasts ~0.1 s of wall clock, where one descheduling of the VM moves a single figure by 20 %.
    """
    import os
    import time

    from hardware_sim.firmware.window import warm_kernels

    warm_kernels()  # as the server does at start: the window's first check (0.2-0.4 s) would load them
    module, _ = build_module("healthy-rest", seed=seed, mode=mode, batch_frames=_RECORD_BATCH_FRAMES.get(mode, 100))
    start_module(module)
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if cpus:
        os.sched_setaffinity(0, {min(cpus)})
    try:
        for _ in iter_blocks(module, warmup_s):
            pass
        walls = []
        for r in range(1, repeats + 1):
            t0 = time.perf_counter()
            n = n_bytes = 0
            for block in iter_blocks(module, warmup_s + r * seconds):  # as record_session, minus the file
                n += len(block)
                n_bytes += len(block.data())
            walls.append(time.perf_counter() - t0)
            log.info("bench %s: %d frames (%d bytes) in %.3f s", mode, n, n_bytes, walls[-1])
    finally:
        if cpus:
            os.sched_setaffinity(0, cpus)
    return seconds / float(np.median(walls))
