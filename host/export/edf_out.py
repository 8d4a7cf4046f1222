"""EDF+ (continuous, EDF+C): 12 ECG signals in mV + an "EDF Annotations" signal.

Written here, in the layout of the EDF+ specification (Kemp & Olivan, "European data format
'plus' (EDF+)", Clin Neurophysiol 114:1755-1761, 2003; edfplus.info), because the writer we
used before (pyedflib's edflib) cuts every annotation text at 40 characters: a marker's
note or the model's SHA-256 did not fit. Read back with pyedflib and MNE in the tests.

- Data records of 1 s; fs_hz must be a whole number of samples per second.
- Labels "ECG I" ... "ECG V6": the EDF+ standard label "<signal type> <sensor>", which MNE
  turns into channel type ECG with ``read_raw_edf(..., infer_types=True)`` (by default MNE
  calls every EDF channel EEG, whatever the file says).
- Physical range symmetric +-R mV, R = the largest |value| rounded up to 0.5 mV (at least
  1 mV); digital range +-32767, so 0 mV is digital 0 and one step is R / 32767 mV.
- Gaps (see plan.py) hold FILL_MV and get an annotation "ECG gap: <reason>" with its
  duration; the end is padded to a whole record and annotated "ECG gap: padding".
- Beats are annotations "R" (duration 0); events are "<kind>: <detail>" (with duration),
  in full (UTF-8). At onset 0 an annotation names the model with its full SHA-256 and the
  software version; the header's recording field carries them too, shortened (80 chars).
- Annotations go into the record holding their onset, or a later one when it is full (the
  standard allows any record; onsets are from the file start). Each record starts with its
  time-keeping TAL "+k".
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
BEAT_TEXT = "R"
TRANSDUCER = "60 GHz radar reconstruction"
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def _field(text: str, n: int) -> str:
    """An EDF+ subfield: no spaces inside (they separate subfields), at most n chars."""
    return (text.replace(" ", "_") or "X")[:n]


def _ascii(text: str, width: int) -> bytes:
    b = text.encode("ascii", "replace")[:width]
    return b + b" " * (width - len(b))


def _num(x: float) -> str:
    """A header number in at most 8 characters (EDF fields are 8 wide)."""
    t = str(int(x)) if float(x).is_integer() else repr(float(x))
    for p in range(7, 0, -1):
        if len(t) <= 8:
            return t
        t = f"{x:.{p}g}"
    raise InputDataError(f"EDF header number {x!r} does not fit in 8 characters")


def _time(x: float) -> str:
    return f"{x:.4f}".rstrip("0").rstrip(".") or "0"


def _tal(onset_s: float, duration_s: float, text: str) -> bytes:
    """One time-stamped annotation list: +onset[\x15duration]\x14text\x14\x00."""
    head = "+" + _time(max(0.0, onset_s)) + (("\x15" + _time(duration_s)) if duration_s > 0 else "")
    clean = text.replace("\x14", " ").replace("\x15", " ").replace("\x00", " ")
    return head.encode("ascii") + b"\x14" + clean.encode("utf-8") + b"\x14\x00"


def physical_range_mv(plan: ExportPlan) -> float:
    return max(1.0, math.ceil(plan.max_abs_mv * 2.0) / 2.0)


def model_text(meta: dict) -> str:
    return (f"CardioRadar software {metadata_text(meta, 'software_version', '?')}, model "
            f"{metadata_text(meta, 'model', '?')} sha256 {metadata_text(meta, 'model_sha256', 'unknown')}")


def annotations(reader: SessionReader, plan: ExportPlan, n_padded: int) -> list[tuple[float, float, str]]:
    """(onset_s from grid start, duration_s, text), in time order; texts in full."""
    fs = plan.fs_hz
    out = [(0.0, 0.0, model_text(reader.metadata()))]
    out += [(b.t_s - plan.origin_s, 0.0, BEAT_TEXT) for b in reader.beats()]
    out += [(e.t_s - plan.origin_s, e.duration_s, f"{e.kind}: {e.detail}" if e.detail else e.kind)
            for e in reader.events()]
    out += [(g.start / fs, g.n / fs, f"ECG gap: {g.reason}") for g in plan.gaps]
    if n_padded > plan.n_samples:
        out.append((plan.n_samples / fs, (n_padded - plan.n_samples) / fs, "ECG gap: padding"))
    out = [(max(0.0, t), d, s) for t, d, s in out]
    return sorted(out)


def pack_annotations(notes: list[tuple[float, float, str]], n_records: int, record_s: float = 1.0
                     ) -> tuple[int, list[list[bytes]]]:
    """TALs per data record: each in the record holding its onset, or a later one when that is
    full; returns (bytes per record, even, time-keeping TAL included; TALs per record)."""
    tals = [(min(n_records - 1, int(t // record_s)), _tal(t, d, s)) for t, d, s in notes]
    keep = max(len(_tal(0, 0, "")) + len(str(n_records)), 1)  # "+k\x14\x14\x00"
    need = max([len(b) for _, b in tals] + [0]) + keep
    cap = max(need, math.ceil(sum(len(b) for _, b in tals) / n_records) + keep)
    while True:
        cap += cap % 2
        per: list[list[bytes]] = [[] for _ in range(n_records)]
        k, used = 0, keep
        for rec, b in tals:  # in time order
            if rec > k:
                k, used = rec, keep
            while used + len(b) > cap:
                k, used = k + 1, keep
                if k >= n_records:
                    break
            if k >= n_records:
                break
            per[k].append(b)
            used += len(b)
        else:
            return cap, per
        cap = int(cap * 1.5)


def _header(reader: SessionReader, plan: ExportPlan, spr: int, range_mv: float, n_records: int,
            ann_bytes: int) -> bytes:
    meta = reader.metadata()
    st = plan.start_utc
    ns = len(LEADS) + 1
    patient = f"{_field(metadata_text(meta, 'subject_id', 'X'), 40)} X X X"
    sha = metadata_text(meta, "model_sha256")[:16] or "X"
    recording = (f"Startdate {st.day:02d}-{_MONTHS[st.month - 1]}-{st.year:04d} "
                 f"{_field(reader.path.stem, 16)} {_field(metadata_text(meta, 'technician', 'X'), 10)} "
                 f"{_field('CardioRadar_' + metadata_text(meta, 'board', 'unknown'), 20)} "
                 f"sw_{_field(metadata_text(meta, 'software_version', 'X'), 10)} sha256_{sha}")
    h = b"".join([_ascii("0", 8), _ascii(patient, 80), _ascii(recording, 80),
                  _ascii(f"{st.day:02d}.{st.month:02d}.{st.year % 100:02d}", 8),
                  _ascii(f"{st.hour:02d}.{st.minute:02d}.{st.second:02d}", 8), _ascii(str(256 * (ns + 1)), 8),
                  _ascii("EDF+C", 44), _ascii(str(n_records), 8), _ascii("1", 8), _ascii(str(ns), 4)])
    rows = [(f"ECG {lead}", TRANSDUCER, "mV", -range_mv, range_mv, -DIGITAL_MAX, DIGITAL_MAX, "", spr)
            for lead in LEADS]
    rows.append(("EDF Annotations", "", "", -1, 1, -32768, 32767, "", ann_bytes // 2))
    for col, width in ((0, 16), (1, 80), (2, 8), (3, 8), (4, 8), (5, 8), (6, 8), (7, 80), (8, 8)):
        h += b"".join(_ascii(_num(r[col]) if isinstance(r[col], (int, float)) else r[col], width) for r in rows)
    h += b" " * 32 * ns
    return h


def write_edf(reader: SessionReader, plan: ExportPlan, out: Path) -> Path:
    spr = int(round(plan.fs_hz))
    if abs(spr - plan.fs_hz) > 1e-9:
        raise InputDataError(f"{reader.path}: EDF+ export needs a whole number of samples per second "
                             f"(1-s data records), got fs_hz={plan.fs_hz}")
    n_records = max(1, math.ceil(plan.n_samples / spr))
    range_mv = physical_range_mv(plan)
    scale = DIGITAL_MAX / range_mv
    notes = annotations(reader, plan, n_records * spr)
    ann_bytes, per_record = pack_annotations(notes, n_records)
    written = 0
    with open(out, "wb") as f:
        f.write(_header(reader, plan, spr, range_mv, n_records, ann_bytes))
        for series in plan.chunks(reader):
            x = np.where(np.isnan(series.ecg_mv), FILL_MV, series.ecg_mv).astype(np.float64)
            digital = np.clip(np.round(x * scale), -DIGITAL_MAX, DIGITAL_MAX).astype("<i2")
            pad = (-len(digital)) % spr
            if pad:
                digital = np.vstack([digital, np.full((pad, len(LEADS)), round(FILL_MV * scale), "<i2")])
            for rec in digital.reshape(-1, spr, len(LEADS)):
                # a data record holds signal 0's samples, then signal 1's, ..., then the TALs
                tal = f"+{written}\x14\x14\x00".encode("ascii") + b"".join(per_record[written])
                f.write(np.ascontiguousarray(rec.T).tobytes())
                f.write(tal + b"\x00" * (ann_bytes - len(tal)))
                written += 1
    log.info("EDF+ %s: %d records, +-%.1f mV, %d annotations", out, written, range_mv, len(notes))
    return out
