"""EDF+ (continuous, EDF+C) via pyedflib: 12 ECG signals in mV + an annotations signal.

- Data records of 1 s; fs_hz must be a whole number of samples per second.
- Physical range symmetric +-R mV, R = the largest |value| rounded up to 0.5 mV (at least
  1 mV); digital range +-32767, so 0 mV is digital 0 and one step is R / 32767 mV.
- Gaps (see plan.py) hold FILL_MV and get an annotation "ECG gap: <reason>" with its
  duration; the end is padded to a whole record and annotated "ECG gap: padding".
- Beats are annotations "R" (duration 0); events are "<kind>: <detail>" (with duration).
- Start date/time is the session's start_time_utc (UTC; EDF has no time zone field).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from cardioradar.errors import InputDataError
from edge.store import SessionReader
from edge.types import LEADS
from host.export.plan import ExportPlan, metadata_text

log = logging.getLogger(__name__)

FILL_MV = 0.0
DIGITAL_MAX = 32767
MAX_ANNOTATION_CHARS = 40  # edflib's limit per annotation text
BEAT_TEXT = "R"


def _field(text: str, n: int) -> str:
    return text.replace(" ", "_")[:n]


def physical_range_mv(plan: ExportPlan) -> float:
    return max(1.0, math.ceil(plan.max_abs_mv * 2.0) / 2.0)


def annotations(reader: SessionReader, plan: ExportPlan, n_padded: int) -> list[tuple[float, float, str]]:
    """(onset_s from grid start, duration_s, text), in time order."""
    fs = plan.fs_hz
    out = [(b.t_s - plan.origin_s, 0.0, BEAT_TEXT) for b in reader.beats()]
    out += [(e.t_s - plan.origin_s, e.duration_s, f"{e.kind}: {e.detail}" if e.detail else e.kind)
            for e in reader.events()]
    out += [(g.start / fs, g.n / fs, f"ECG gap: {g.reason}") for g in plan.gaps]
    if n_padded > plan.n_samples:
        out.append((plan.n_samples / fs, (n_padded - plan.n_samples) / fs, "ECG gap: padding"))
    out = [(max(0.0, t), d, s[:MAX_ANNOTATION_CHARS]) for t, d, s in out]
    return sorted(out)


def write_edf(reader: SessionReader, plan: ExportPlan, out: Path) -> Path:
    import pyedflib  # host-only dependency, imported when used

    spr = int(round(plan.fs_hz))
    if abs(spr - plan.fs_hz) > 1e-9:
        raise InputDataError(f"{reader.path}: EDF+ export needs a whole number of samples per second "
                             f"(1-s data records), got fs_hz={plan.fs_hz}")
    n_records = max(1, math.ceil(plan.n_samples / spr))
    range_mv = physical_range_mv(plan)
    scale = DIGITAL_MAX / range_mv
    notes = annotations(reader, plan, n_records * spr)
    meta = reader.metadata()

    w = pyedflib.EdfWriter(str(out), len(LEADS), file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        w.setSignalHeaders([{
            "label": f"ECG {lead}", "dimension": "mV", "sample_frequency": spr,
            "physical_max": range_mv, "physical_min": -range_mv,
            "digital_max": DIGITAL_MAX, "digital_min": -DIGITAL_MAX,
            "transducer": "60 GHz radar reconstruction", "prefilter": "",
        } for lead in LEADS])
        w.setStartdatetime(plan.start_utc.replace(tzinfo=None))
        # EDF+ subfields are space-separated: no spaces inside one (edflib would swap them).
        w.setPatientCode(_field(metadata_text(meta, "subject_id", "X"), 20))
        w.setAdmincode(_field(reader.path.stem, 16))
        w.setTechnician(_field(metadata_text(meta, "technician"), 10))
        w.setEquipment(_field(f"CardioRadar_{metadata_text(meta, 'board', 'unknown')}", 20))
        model = f"{metadata_text(meta, 'model')}_{metadata_text(meta, 'model_sha256')[:8]}".strip("_")
        w.setRecordingAdditional(_field(f"sw_{metadata_text(meta, 'software_version')}_{model}", 24))
        # edflib writes one annotation per annotation signal per record: make room for all.
        w.set_number_of_annotation_signals(min(64, math.ceil(len(notes) / n_records) + 1))
        if len(notes) > 64 * n_records:
            log.warning("%s: %d annotations exceed EDF+ room (%d); the last ones are lost",
                        out, len(notes), 64 * n_records)
        written = 0
        for series in plan.chunks(reader):
            x = np.where(np.isnan(series.ecg_mv), FILL_MV, series.ecg_mv).astype(np.float64)
            digital = np.clip(np.round(x * scale), -DIGITAL_MAX, DIGITAL_MAX).astype(np.int16)
            pad = (-len(digital)) % spr
            if pad:
                digital = np.vstack([digital, np.full((pad, len(LEADS)), round(FILL_MV * scale), np.int16)])
            for rec in digital.reshape(-1, spr, len(LEADS)):
                # a data record holds signal 0's samples, then signal 1's, ...
                if w.blockWriteDigitalShortSamples(np.ascontiguousarray(rec.T).ravel()) != 0:
                    raise InputDataError(f"{out}: pyedflib refused data record {written}")
                written += 1
        for onset, duration, text in notes:
            w.writeAnnotation(onset, duration if duration > 0 else -1, text)
    finally:
        w.close()
    log.info("EDF+ %s: %d records, +-%.1f mV, %d annotations", out, written, range_mv, len(notes))
    return out
