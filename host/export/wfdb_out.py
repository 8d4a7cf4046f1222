"""WFDB (PhysioNet) record: ``NAME.hea`` + ``NAME.dat`` (format 16) + annotations.

- Format 16: little-endian int16, samples of the 12 leads interleaved frame by frame,
  written in chunks by this module (memory stays flat for a night); the header is
  written by the ``wfdb`` package, with the checksums and initial values computed here.
- Gain GAIN_ADU_PER_MV (1 adu = 1 uV, range +-32.767 mV; larger values are clipped and
  logged). Gaps hold WFDB's invalid-sample value -32768, which wfdb reads back as NaN.
- ``NAME.qrs``: one 'N' annotation per detected beat (machine-detected beats: .qrs, not
  the reference .atr). ``NAME.evt``: '~' (signal quality change) annotations whose
  aux_note is the event "<kind>: <detail>" or "ECG gap: <reason> <duration>s". ('~', not
  the note symbol '"': wfdb.rdann drops a '"' note at sample 0, taking it for its own
  time-resolution note.)
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from edge.store import SessionReader
from edge.types import LEADS
from host.export.plan import ExportPlan, metadata_text

log = logging.getLogger(__name__)

GAIN_ADU_PER_MV = 1000.0
INVALID = -32768  # WFDB's "no sample" value for format 16


def record_name(name: str) -> str:
    """A WFDB record name: letters, digits, '_' and '-' only (wfdb refuses others, and a dot
    would read as an extension); anything else becomes '_'."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name) or "record"


def write_wfdb(reader: SessionReader, plan: ExportPlan, out: Path) -> Path:
    """``out`` is the record path without extension; returns the .hea path (the record name
    made valid by ``record_name``: "night 1.2" -> "night_1_2")."""
    import wfdb  # host-only dependency, imported when used

    out.parent.mkdir(parents=True, exist_ok=True)
    name = record_name(out.name)
    if name != out.name:
        log.warning("WFDB record name %r is not valid for WFDB; written as %r", out.name, name)
    out = out.parent / name
    checksum = np.zeros(len(LEADS), np.int64)
    init = None
    clipped = 0
    with open(out.parent / f"{name}.dat", "wb") as f:
        for series in plan.chunks(reader):
            x = np.round(series.ecg_mv.astype(np.float64) * GAIN_ADU_PER_MV)
            nan = np.isnan(x)
            clipped += int((np.abs(x[~nan]) > 32767).sum())
            d = np.where(nan, INVALID, np.clip(x, -32767, 32767)).astype("<i2")
            if init is None:
                init = d[0].astype(int).tolist()
            checksum += d.astype(np.int64).sum(axis=0)
            f.write(d.tobytes())
    if clipped:
        log.warning("%s: %d samples beyond +-32.767 mV were clipped", out, clipped)
    meta = reader.metadata()
    record = wfdb.Record(
        record_name=name, n_sig=len(LEADS), fs=plan.fs_hz, sig_len=plan.n_samples,
        base_datetime=plan.start_utc.replace(tzinfo=None),
        file_name=[f"{name}.dat"] * len(LEADS), fmt=["16"] * len(LEADS),
        adc_gain=[GAIN_ADU_PER_MV] * len(LEADS), baseline=[0] * len(LEADS), units=["mV"] * len(LEADS),
        adc_res=[16] * len(LEADS), adc_zero=[0] * len(LEADS), init_value=init or [0] * len(LEADS),
        checksum=[int(((c + 32768) % 65536) - 32768) for c in checksum], block_size=[0] * len(LEADS),
        sig_name=list(LEADS),
        comments=[f"CardioRadar session {reader.path.name}",
                  f"board: {metadata_text(meta, 'board')}",
                  f"model: {metadata_text(meta, 'model')} sha256 {metadata_text(meta, 'model_sha256')}",
                  f"software: {metadata_text(meta, 'software_version')}",
                  f"gaps: {INVALID} (NaN), see the .evt annotations"],
    )
    record.wrheader(write_dir=str(out.parent))
    _write_annotations(reader, plan, out)
    log.info("WFDB %s: %d samples x %d leads", out, plan.n_samples, len(LEADS))
    return out.parent / f"{name}.hea"


def _write_annotations(reader: SessionReader, plan: ExportPlan, out: Path) -> None:
    import wfdb

    def inside(s: int) -> bool:
        return 0 <= s < plan.n_samples

    beats = [plan.sample_of(b.t_s) for b in reader.beats()]
    beats = np.array(sorted(s for s in beats if inside(s)), dtype=np.int64)
    if len(beats):
        wfdb.wrann(out.name, "qrs", sample=beats, symbol=["N"] * len(beats), fs=plan.fs_hz,
                   write_dir=str(out.parent))
    notes = [(plan.sample_of(e.t_s), f"{e.kind}: {e.detail}" if e.detail else e.kind) for e in reader.events()]
    notes += [(g.start, f"ECG gap: {g.reason} {g.n / plan.fs_hz:g}s") for g in plan.gaps]
    notes = sorted((s, text) for s, text in notes if inside(s))
    if notes:
        wfdb.wrann(out.name, "evt", sample=np.array([s for s, _ in notes], dtype=np.int64),
                   symbol=["~"] * len(notes), aux_note=[t for _, t in notes], fs=plan.fs_hz,
                   write_dir=str(out.parent))
