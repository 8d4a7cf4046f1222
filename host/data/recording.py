"""One radar recording with its reference ECG, and its model windows.

``RadarRecording`` = decoded frame segments (``stream.FrameSegment``), the time of every
segment frame on the reference's clock, and the ``Reference``. ``recording_windows`` runs
each segment through ``edge.dsp`` (optionally with noise, ``host.noise.apply_noise``) and
attaches the targets. ``load_sim_recording`` reads a ``sim record`` folder (``frames.bin``
+ ``truth.npz``) -- the simulator's own output, decoded by the edge's decoder.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from boards import BoardProfile, load_profile
from cardioradar.errors import InputDataError
from edge.dsp.config import DspConfig
from edge.dsp.pipeline import process_recording
from edge.link.protocol import DecoderConfig
from host.data.format import WindowSet
from host.data.stream import FrameSegment, decode_segments
from host.data.targets import Reference, make_windows

log = logging.getLogger(__name__)

_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class RadarRecording:
    """segments: contiguous frame runs; segment_times_s[i]: float64 (len(segments[i].frames),)
    time of each frame on ``reference``'s clock, s. condition: label for tables."""

    segments: tuple[FrameSegment, ...]
    segment_times_s: tuple[np.ndarray, ...]
    reference: Reference
    condition: str
    name: str

    @property
    def n_frames(self) -> int:
        return sum(len(s.frames) for s in self.segments)


def recording_windows(rec: RadarRecording, dsp_cfg: DspConfig, subject_id: int, noise=None,
                      noise_seed: int = 0) -> WindowSet:
    """Model windows + targets of every segment. ``noise``: ``host.noise.NoiseSpec`` or None."""
    parts = []
    for i, (seg, times) in enumerate(zip(rec.segments, rec.segment_times_s)):
        frames, hook = seg.frames, None
        if noise is not None and noise.active:
            from host.noise import apply_noise  # noisy frames, or a hook on the demodulated signal

            child = int(np.random.SeedSequence([int(noise_seed), i]).generate_state(1)[0])
            frames, hook = apply_noise(frames, noise, dsp_cfg, child)
        feats = process_recording(frames, dsp_cfg, demod_hook=hook)
        parts.append(make_windows(feats, times, rec.reference, subject_id, rec.condition, dsp_cfg.fs_hz))
    ws = WindowSet.concat(parts)
    if not len(ws):
        log.warning("%s: %d frames give no full window (need %d)", rec.name, rec.n_frames,
                    dsp_cfg.window_samples + dsp_cfg.warmup_samples + 3)
    return ws


def read_chunks(path: Path):
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK_BYTES):
            yield chunk


def load_sim_recording(folder: str | Path, board: str | BoardProfile = "sim") -> RadarRecording:
    """A ``sim record`` folder: frames.bin decoded by edge.link, truth.npz as reference."""
    folder = Path(folder)
    for name in ("frames.bin", "truth.npz"):
        if not (folder / name).is_file():
            raise InputDataError(f"{folder}: expected a sim recording with {name}, not found")
    profile = board if isinstance(board, BoardProfile) else load_profile(board)
    segments = decode_segments(read_chunks(folder / "frames.bin"), DecoderConfig.from_profile(profile),
                               source=str(folder / "frames.bin"))
    with np.load(folder / "truth.npz", allow_pickle=False) as z:
        try:
            fnum = z["frame_numbers"].astype(np.int64)
            ftime = z["frame_times_s"].astype(np.float64)
            ref = Reference(z["ecg_mv"].astype(np.float32), float(z["ecg_fs_hz"]), 0.0,
                            np.sort(z["r_peaks_s"].astype(np.float64)))
        except KeyError as e:
            raise InputDataError(f"{folder / 'truth.npz'}: missing field {e}") from e
    condition = "sinus"
    if (folder / "subject.json").is_file():
        from hardware_sim.subject.params import SubjectParams

        condition = SubjectParams.from_json((folder / "subject.json").read_text(),
                                            str(folder / "subject.json")).condition
    # A frame made but not sent has a known time too; interpolate over every frame made.
    times = tuple(np.interp(s.frame_numbers(), fnum, ftime) for s in segments)
    return RadarRecording(tuple(segments), times, ref, condition, folder.name)
