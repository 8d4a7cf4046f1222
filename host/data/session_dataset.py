"""Datasets from recorded sessions: a radar stream plus a reference ECG, aligned in time.

Radar stream: a session store (``.db`` written by ``edge.store``; its archived packets are
decoded again by ``edge.link``), a raw ``frames.bin``, or a ``sim record`` folder.
Frame k of the stream is at ``(frame_number_k - first frame_number) / fs_hz`` s on the
session clock (the edge's frame clock, 0 at the first frame).

Reference ECG: EDF, WFDB, CSV (header row; optional ``time_s`` column) or ``.npz``, read by
``hardware_sim.subject.recorded.load_ecg_recording``. Leads it names are placed in the
12-lead order; leads it lacks are NaN (a trainer must mask them). Its sample 0 is at
``offset_s`` on the session clock; with no offset given, an EDF's start time is compared
with the session's ``start_time_utc``, else 0 is assumed (and logged).
R peaks of the reference: NeuroKit2 on lead II (or the first lead present).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from boards import load_profile
from cardioradar import __version__
from cardioradar.errors import ConfigError, InputDataError
from edge.dsp.config import DspConfig
from edge.link.protocol import DecoderConfig
from host import metrics
from host.data.format import FORMAT_VERSION, LEADS_ORDER, SPLITS, WindowSet, save_windows, write_manifest
from host.data.recording import RadarRecording, load_sim_recording, read_chunks, recording_windows
from host.data.stream import decode_segments
from host.data.targets import Reference

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionSource:
    """One recording for a dataset: ``radar`` (.db, frames.bin or sim folder), ``ref_ecg``
    (None only for a sim folder, whose truth is used), ``subject`` (split key), offset."""

    radar: Path
    ref_ecg: Path | None
    subject: str
    offset_s: float | None = None
    condition: str = "recorded"


def load_reference(path: str | Path, offset_s: float = 0.0) -> Reference:
    """A reference ECG file -> ``Reference`` (12-lead order, NaN for absent leads)."""
    from hardware_sim.subject.recorded import load_ecg_recording

    rec = load_ecg_recording(Path(path))
    ecg = np.full((rec.ecg_mv.shape[0], 12), np.nan, np.float32)
    used = []
    for k, name in enumerate(rec.leads):
        if name in LEADS_ORDER:
            ecg[:, LEADS_ORDER.index(name)] = rec.ecg_mv[:, k]
            used.append(name)
    if not used:
        raise InputDataError(f"{path}: leads: expected at least one of {LEADS_ORDER}, got {list(rec.leads)}")
    lead = "II" if "II" in used else used[0]
    if lead != "II":
        log.warning("%s: no lead II; R peaks taken from lead %s", path, lead)
    peaks = metrics.detect_r_peaks_s(ecg[:, LEADS_ORDER.index(lead)], rec.fs_hz) + offset_s
    return Reference(ecg, float(rec.fs_hz), float(offset_s), peaks)


def _edf_offset_s(ref_path: Path, session_start_utc: str | None) -> float | None:
    if ref_path.suffix.lower() != ".edf" or not session_start_utc:
        return None
    import pyedflib

    with pyedflib.EdfReader(str(ref_path)) as f:
        edf_start = f.getStartdatetime()
    start = dt.datetime.fromisoformat(session_start_utc.replace("Z", "+00:00"))
    if edf_start.tzinfo is None:  # EDF start times are local clock times; sessions store UTC
        start = start.replace(tzinfo=None)
    return (edf_start - start).total_seconds()


def load_session_recording(radar: str | Path, ref_ecg: str | Path | None = None, offset_s: float | None = None,
                           board: str = "sim", condition: str = "recorded") -> RadarRecording:
    """Radar stream + reference ECG as a ``RadarRecording`` (see module doc)."""
    radar = Path(radar)
    profile = load_profile(board)
    if radar.is_dir():
        rec = load_sim_recording(radar, profile)
        if ref_ecg is None:
            return rec
        chunks, meta = read_chunks(radar / "frames.bin"), {}
    elif radar.suffix == ".db":
        from edge.store import SessionReader

        reader = SessionReader(radar)
        meta = reader.metadata()
        chunks = (f.packet for f in reader.frames())
    elif radar.is_file():
        chunks, meta = read_chunks(radar), {}
    else:
        raise InputDataError(f"{radar}: no such session, frames.bin or recording folder")
    if ref_ecg is None:
        raise ConfigError(f"{radar}: a reference ECG is needed (--ref-ecg FILE: EDF, WFDB, CSV)")
    ref_ecg = Path(ref_ecg)
    if offset_s is None:
        offset_s = _edf_offset_s(ref_ecg, meta.get("start_time_utc"))
        if offset_s is None:
            log.warning("%s: no offset given and no start times to compare: reference assumed to start "
                        "with the first frame", ref_ecg)
            offset_s = 0.0
    segments = decode_segments(chunks, DecoderConfig.from_profile(profile), source=str(radar))
    if radar.suffix == ".db":
        reader.close()
    first = segments[0].first_frame_number
    fs = profile.dsp.frame_rate_hz
    times = tuple((s.frame_numbers() - first) / fs for s in segments)
    return RadarRecording(tuple(segments), times, load_reference(ref_ecg, offset_s), condition, radar.name)


def build_session_dataset(sources: list[SessionSource], out_dir: str | Path, seed: int = 0, val_frac: float = 0.15,
                          test_frac: float = 0.15, board: str = "sim") -> Path:
    """Dataset folder from recorded sessions, split by ``SessionSource.subject``."""
    from host.data.sim_dataset import dsp_settings, split_subjects

    if not sources:
        raise ConfigError("build_session_dataset: expected at least one session")
    names = sorted({s.subject for s in sources})
    splits = split_subjects(len(names), seed, val_frac, test_frac)
    cfg = DspConfig.from_profile(load_profile(board)).for_dataset()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"format_version": FORMAT_VERSION, "source": "sessions", "seed": int(seed),
                "software_version": __version__, "dsp": dsp_settings(board), "splits": {}}
    for split in SPLITS:
        parts, subjects = [], []
        for idx in splits[split]:
            for s in (s for s in sources if s.subject == names[idx]):
                rec = load_session_recording(s.radar, s.ref_ecg, s.offset_s, board, s.condition)
                parts.append(recording_windows(rec, cfg, idx))
                subjects.append({"index": idx, "id": names[idx], "radar": s.radar.name,
                                 "ref_ecg": s.ref_ecg.name if s.ref_ecg else None,
                                 "seconds": rec.n_frames / cfg.fs_hz, "condition": s.condition})
        ws = WindowSet.concat(parts)
        save_windows(out / f"{split}.npz", ws)
        manifest["splits"][split] = {"n_windows": len(ws), "subjects": subjects}
    write_manifest(out, manifest)
    return out
