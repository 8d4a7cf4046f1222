"""ECG recordings from files (or memory) -> ``EcgRecording``: the readers of the recorded-ECG
drive (``hardware_sim.subject.recorded``) and of session references.

``load_ecg_recording`` reads delimited text (CSV, semicolon, tab or whitespace; optional
time column, rounded times accepted: each stamp within 0.25 sample periods of a uniform
grid; spreadsheet exports: decimal commas, UTF-16/cp1252, units rows, index columns), WFDB
(with its ``.atr`` beat and rhythm annotations when present; PTB-XL and the PhysioNet/CinC
Challenge ``.mat`` records), EDF/EDF+/BDF (ECG channels by label, the rest left out), DICOM
12-lead ECG waveforms (pydicom; the cart's statements and measurements kept) and the
``.npz`` layout (``ecg_mv``, ``fs_hz``, optional ``leads``). A channel that names no lead
('ECG', 'EKG', 'ECG1') is lead II when the file names no standard lead. Errors are one-line
``InputDataError``s naming the file, column and line (or channel, or field), what was
expected and what was found; a unit that is no voltage is refused, never guessed.
"""

from __future__ import annotations

import csv
import logging
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cardioradar.errors import InputDataError
from hardware_sim.subject.types import LEADS

log = logging.getLogger(__name__)

__all__ = ["EcgRecording", "load_ecg_recording", "list_recordings", "is_af_rhythm",
           "GUDB_COLUMNS", "KNOWN_LEADS", "FS_RANGE_HZ"]

KNOWN_LEADS = LEADS + ("V2-V1",)
_CANON = {name.lower(): name for name in KNOWN_LEADS}
# MIT-BIH's modified limb lead II (MLII) is read as lead II (its electrodes sit on the
# torso, not the limbs; the shape is lead II's); the European ST-T database's MLI/MLIII alike.
_CANON.update({"mlii": "II", "ml2": "II", "mli": "I", "mliii": "III",
               "avr": "aVR", "avl": "aVL", "avf": "aVF"})
# Channels that say "ECG" but not which lead (SHHS/PSG 'ECG', 'EKG', 'ECG1', 'ECG2';
# a chest lead 'V' of unstated position; a WFDB signal without a description, as the
# PhysioNet/CinC Challenge 2017 single-lead records have). A file
# with no standard lead reads its first one as lead II (the single-lead contract: it
# drives the timing, the truth is lead II only); with standard leads they are left out.
_GENERIC = re.compile(r"(ecg|ekg)\s*\d*|v")
_LIMB = ("I", "II", "III", "aVR", "aVL", "aVF")
FS_RANGE_HZ = (100.0, 1000.0)

# Headerless 6-column whitespace files from the Glasgow University ECG database
# (GUDB): chest strap (V2-V1), Einthoven II, III, accelerometer x, y, z; volts.
GUDB_COLUMNS = ("V2-V1", "II", "III", None, None, None)
_UNITS_TO_MV = {"mV": 1.0, "V": 1000.0, "uV": 1e-3}
# A lead column with no unit anywhere is taken as mV; one spanning more than this around
# its median is refused as an unlabelled uV/ADC export. A guard of ours, not a
# physiological constant: it is ~6x the Sokolow-Lyon LVH voltage, 3.5 mV summed over two
# leads (Sokolow & Lyon 1949), so no surface ECG in mV comes near it.
_ASSUMED_MV_MAX_SPAN = 20.0
# Time columns a text file may carry (lower-case header -> seconds per unit).
_TIME_COLS = {"time_s": 1.0, "time": 1.0, "t": 1.0, "t_s": 1.0, "seconds": 1.0, "sec": 1.0,
              "elapsed time": 1.0, "elapsed_time": 1.0, "timestamp": 1.0, "time_ms": 1e-3,
              "ms": 1e-3, "t_ms": 1e-3}
_SAMPLE_COLS = {"sample", "sample #", "sample_#", "samples", "index", "n", "nseq"}
_TIME_UNITS = {"s": 1.0, "sec": 1.0, "seconds": 1.0, "ms": 1e-3, "msec": 1e-3}
# Largest distance of a time stamp from its sample's time on the uniform grid, in sample
# periods: times rounded to 1 ms at 360 Hz are off by <= 0.18 periods; a missing or an
# extra sample is off by a whole one.
_TIME_TOL_PERIODS = 0.25
# WFDB / MIT-BIH beat annotation codes -> Beat.kind (N sinus/other supraventricular
# conducted, A premature atrial or junctional, V ventricular). Fusion (F), paced (/, f)
# and unclassified (Q) beats are kept as beats of kind N.
_WFDB_BEAT_KIND = {**{c: "N" for c in "NLRBejnF/fQ?"}, **{c: "A" for c in "AaJS"},
                   **{c: "V" for c in "VEr"}}


@dataclass(frozen=True)
class EcgRecording:
    """A recorded (or generated) ECG, checked on construction.

    ecg_mv: (n, k) float64 mV; fs_hz (the drive takes ``FS_RANGE_HZ``); leads: k names from
    ``KNOWN_LEADS``; source: the file (or a label for in-memory data, used in messages).
    beat_samples / beat_kinds: annotated beats (sample index, 'N'/'A'/'V'/'F'), optional.
    rhythm: the recording's rhythm as its own annotations or statements give it (an AF
    rhythm, see ``is_af_rhythm``, makes the conducted beats kind 'F'), optional.
    measurements: the recording device's own global measurements, e.g. a DICOM cart's
    {'QRS Axis (deg)': 52.0, 'RR Interval (ms)': 982.0}, optional.
    """

    ecg_mv: np.ndarray
    fs_hz: float
    leads: tuple[str, ...]
    source: str = "in-memory recording"
    beat_samples: np.ndarray | None = None
    beat_kinds: tuple[str, ...] | None = None
    rhythm: str | None = None
    measurements: dict | None = None

    def __post_init__(self):
        src = self.source
        ecg = np.asarray(self.ecg_mv, dtype=np.float64)
        if ecg.ndim == 1:
            ecg = ecg[:, None]
        leads = tuple(_canon(src, n) for n in self.leads)
        if ecg.ndim != 2 or ecg.shape[1] != len(leads):
            raise _bad(src, "ecg_mv", f"shape (n, {len(leads)}) for leads {leads}", ecg.shape)
        if not leads:
            raise _bad(src, "leads", f"at least one lead of {KNOWN_LEADS}", "none")
        if len(set(leads)) != len(leads):
            raise _bad(src, "leads", "each lead once", list(leads))
        fs = float(self.fs_hz)
        if not (math.isfinite(fs) and fs > 0):
            raise _bad(src, "fs_hz", "a positive rate", fs)
        if ecg.shape[0] < int(2 * fs):
            raise _bad(src, "samples", f">= 2 s ({int(2 * fs)} samples)", ecg.shape[0])
        bad = np.argwhere(~np.isfinite(ecg))
        if bad.size:
            r, c = bad[0]
            raise _bad(src, f"lead {leads[c]}, sample {r}", "finite numbers", ecg[r, c])
        if self.beat_samples is not None:
            b = np.asarray(self.beat_samples, dtype=np.int64)
            kinds = self.beat_kinds or ("N",) * b.size
            if b.ndim != 1 or len(kinds) != b.size or np.any(np.diff(b) <= 0):
                raise _bad(src, "beat_samples", "increasing sample indices, one kind each",
                           f"{b.size} samples, {len(kinds)} kinds")
            object.__setattr__(self, "beat_samples", b)
            object.__setattr__(self, "beat_kinds", tuple(kinds))
        object.__setattr__(self, "ecg_mv", ecg)
        object.__setattr__(self, "fs_hz", fs)
        object.__setattr__(self, "leads", leads)

    @property
    def duration_s(self) -> float:
        return self.ecg_mv.shape[0] / self.fs_hz


def _bad(path, field_: str, expected: str, got) -> InputDataError:
    return InputDataError(f"{path}: {field_}: expected {expected}, got {got}")


def _lead_key(name: str) -> str:
    """'Lead I (Einthoven)', "'MLII'", 'ECG II', 'EKG ii', 'ECG lead II', 'ECG II-Ref',
    'II [mV]' -> 'i', 'mlii', 'ii', 'ii', 'ii', 'ii', 'ii' (the EDF+ label is
    '<type> <specification>'; PSG exports add '-Ref' for the reference electrode)."""
    key = re.sub(r"[\(\[].*?[\)\]]", "", str(name)).strip().strip("'\"").strip().lower()
    old = None
    while old != key:
        old = key
        for prefix in ("lead ", "ecg ", "ekg "):
            key = key.removeprefix(prefix).strip()
    return key.removesuffix("-ref").strip()


def _is_generic(name: str) -> bool:
    return _GENERIC.fullmatch(_lead_key(name)) is not None


def _generic_as_ii(path, labels, names: list) -> list:
    """``names[i]``: the standard lead of ``labels[i]``, or None. Without any standard
    lead, the first generic ECG label (``_GENERIC``) is read as lead II."""
    if any(n is not None for n in names):
        return names
    first = next((i for i, lab in enumerate(labels) if _is_generic(lab)), None)
    if first is not None:
        log.info("%s: ECG channel %r (no lead named) read as lead II; other generic ECG "
                 "channels left out", path, labels[first])
        names = list(names)
        names[first] = "II"
    return names


def _unit(u) -> str:
    """'µV' (micro sign or Greek mu), ' mV ' -> 'uV', 'mV'."""
    return str(u or "").strip().replace("µ", "u").replace("μ", "u")


def _scale(path, field_: str, unit: str, units: str | None) -> float:
    """mV per unit of a lead channel: ``units`` (the caller's) overrides the file's unit;
    a unit that is not a voltage (e.g. 'NU', empty in EDF, 'AuV') is refused."""
    if units is not None:
        return _UNITS_TO_MV[units]
    if _unit(unit) not in _UNITS_TO_MV:
        raise _bad(path, field_, f"one of {tuple(_UNITS_TO_MV)} (or a units "
                   f"argument)", repr(unit))
    return _UNITS_TO_MV[_unit(unit)]


def _canon(path, name: str) -> str:
    key = _lead_key(name)
    if key not in _CANON:
        raise _bad(path, f"column {name!r}", f"a lead name from {KNOWN_LEADS} or a time column",
                   name)
    return _CANON[key]


def _header_unit(name: str) -> str | None:
    """'II (mV)', 'time [ms]' -> 'mV', 'ms'; None without brackets."""
    m = re.search(r"[\(\[]\s*([^\)\]]+?)\s*[\)\]]", name)
    return m.group(1).replace("µ", "u").replace("μ", "u") if m else None


def _uniform_fs(path, col: str, t: np.ndarray, first_line: int) -> float:
    """Sampling rate of time stamps ``t`` (s), which may be rounded (each within
    ``_TIME_TOL_PERIODS`` of a uniform grid). ``first_line``: file line of t[0]."""
    if t.size < 2:
        raise _bad(path, f"column {col!r}", "at least 2 time stamps", t.size)
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise _bad(path, f"column {col!r}, line {first_line + int(bad[0])}", "a finite time",
                   t[bad[0]])
    dt = np.diff(t)
    down = np.flatnonzero(dt <= 0)
    if down.size:
        i = int(down[0]) + 1
        raise _bad(path, f"column {col!r}, line {first_line + i}", "increasing times",
                   f"{t[i]!r} after {t[i - 1]!r}")
    period = (t[-1] - t[0]) / (t.size - 1)
    fs = 1.0 / period
    if abs(fs - round(fs)) < 1e-3 * fs:  # rounded stamps of an integer rate
        fs = float(round(fs))
    grid = t[0] + np.arange(t.size) / fs
    off = (t - grid) * fs  # distance from the grid, in periods
    # a step of ~2 periods (missing sample) or ~0 (extra one) shows where it goes wrong
    jump = np.flatnonzero(np.abs(dt * fs - 1.0) > 2 * _TIME_TOL_PERIODS + 0.5 / max(t.size, 1))
    worst = int(jump[0]) + 1 if jump.size else int(np.argmax(np.abs(off - off.mean())))
    if np.abs(off - off.mean()).max() > _TIME_TOL_PERIODS or jump.size:
        raise _bad(path, f"column {col!r}, line {first_line + worst}",
                   f"uniform sampling at {fs:.6g} Hz (each time within "
                   f"{_TIME_TOL_PERIODS:g} sample periods of the grid)",
                   f"{t[worst]!r} s after {t[worst - 1]!r} s "
                   f"({(t[worst] - t[worst - 1]) * fs:.2f} periods)" if worst else f"{t[0]!r}")
    return float(fs)


def _parse_clock(s: str) -> float:
    """'1:02:03.5', '2:03.5', '3.5' (optionally single-quoted) -> seconds."""
    parts = s.strip().strip("'\"").split(":")
    return sum(float(p) * 60.0 ** i for i, p in enumerate(reversed(parts)))


_DECIMAL_COMMA = re.compile(r"^([+-]?\d*),(\d+(?:[eE][+-]?\d+)?)$")


def _read_rows(path: Path) -> tuple[list[list[str]], int, str | None]:
    """Rows of a delimited text file (comment lines '#' skipped), the 1-based line of
    the first row, and the delimiter (None: whitespace). Spreadsheet exports are read as
    written: UTF-16 with its BOM (Excel's "Unicode text"), UTF-8 with or without BOM,
    else Windows' 8-bit text (cp1252/latin-1: 'µ' is byte 0xB5 in both); decimal commas
    ('0,125') in ';', tab or space separated files; empty trailing columns dropped."""
    raw = path.read_bytes()
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = raw.decode("utf-16", errors="replace")
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    lines = text.splitlines()
    skip = 0
    while skip < len(lines) and (not lines[skip].strip() or lines[skip].lstrip().startswith("#")):
        skip += 1
    if skip == len(lines):
        raise _bad(path, "contents", "a header row of lead names or rows of numbers",
                   "an empty file")
    first = lines[skip]
    # tab or ';' first: with them, a comma is a decimal comma
    delim = next((d for d in ("\t", ";", ",") if d in first), None)
    body = [ln for ln in lines[skip:] if ln.strip() and not ln.lstrip().startswith("#")]
    if delim is None:
        rows = [ln.split() for ln in body]
    else:
        rows = [[c.strip() for c in r] for r in csv.reader(body, delimiter=delim)]
        # columns empty on every row (header included) at the right: trailing delimiters
        width = max((max((j + 1 for j, c in enumerate(r) if c), default=0) for r in rows),
                    default=0)
        rows = [r[:width] for r in rows]
    if delim != ",":
        rows = [[_DECIMAL_COMMA.sub(r"\1.\2", c) for c in r] for r in rows]
    return rows, skip + 1, delim


def _is_number(s: str) -> bool:
    try:
        float(s.strip().strip("'\""))
        return True
    except ValueError:
        return False


def _to_array(path, rows: list[list[str]], names: list[str], first_line: int,
              clock_cols: set[int]) -> np.ndarray:
    """rows of strings -> (n, k) float64; the first bad row / cell named in the error."""
    k = len(names)
    for i, r in enumerate(rows):
        if len(r) != k:
            raise _bad(path, f"line {first_line + i}", f"{k} columns ({', '.join(names)})",
                       f"{len(r)}")
    cols = []
    for j, name in enumerate(names):
        cells = [r[j] for r in rows]
        try:
            if j in clock_cols:
                col = np.array([_parse_clock(c) for c in cells])
            else:
                col = np.array(cells, dtype=np.float64)
        except ValueError:
            conv = _parse_clock if j in clock_cols else float
            for i, c in enumerate(cells):
                try:
                    conv(c)
                except ValueError:
                    raise _bad(path, f"column {name!r}, line {first_line + i}", "a number",
                               repr(c)) from None
            raise
        bad = np.flatnonzero(~np.isfinite(col))
        if bad.size:  # 'NaN', 'inf': a gap in the export, refused rather than bridged
            i = int(bad[0])
            raise _bad(path, f"column {name!r}, line {first_line + i}", "a finite number",
                       repr(cells[i]))
        cols.append(col)
    return np.column_stack(cols) if cols else np.zeros((len(rows), 0))


def _is_index(col: np.ndarray) -> bool:
    return col.size > 1 and bool(np.all(np.diff(col) == 1)) and float(col[0]).is_integer()


def _check_assumed_mv(path, name: str, col: np.ndarray) -> None:
    """A lead column without a unit is read as mV; refuse one far beyond any ECG in mV."""
    span = float(np.max(np.abs(col - np.median(col)))) if col.size else 0.0
    if span > _ASSUMED_MV_MAX_SPAN:
        raise _bad(path, f"column {name!r}", f"mV (no unit given: at most "
                   f"{_ASSUMED_MV_MAX_SPAN:g} mV from its median; for uV or V name the unit "
                   f"in the header, a units row or the units argument)",
                   f"{span:.6g} from its median")


def _load_text(path: Path, fs_hz, leads, units):
    """Delimited text: an optional header row (lead names, a time or sample column, units
    in brackets), an optional units row below it, numbers. Without a header: ``leads``
    names the columns, or the 6-column GUDB layout, or a single column read as lead II."""
    rows, line0, delim = _read_rows(path)
    header = None
    if not all(_is_number(c) for c in rows[0]):
        header, rows, line0 = [c.strip().strip("'\"") for c in rows[0]], rows[1:], line0 + 1
    unit_row = None
    if header is not None and rows and not all(_is_number(c) or ":" in c for c in rows[0]) \
            and not any(_DECIMAL_COMMA.match(c) for c in rows[0]):  # '0,125' in a ',' file
        unit_row, rows, line0 = [c.strip().strip("'\"") for c in rows[0]], rows[1:], line0 + 1
    if not rows:
        raise _bad(path, "rows", "rows of numbers below the header", "none")
    scale = _UNITS_TO_MV[units] if units else 1.0  # default unit of lead columns
    if header is None:
        k = len(rows[0])
        if leads is not None and len(leads) == k:
            header, leads = list(leads), None  # leads name the columns in order
        elif k == len(GUDB_COLUMNS) and delim is None:
            header = [c or "-" for c in GUDB_COLUMNS]
            scale = _UNITS_TO_MV[units or "V"]
            units = units or "V"
            fs_hz = 250.0 if fs_hz is None else fs_hz
            log.info("%s: headerless 6 columns read as the GUDB layout "
                     "(V2-V1, II, III, accel; V)", path)
        elif k == 1:
            header = ["II"]  # a single unnamed lead is taken as lead II (documented)
            log.info("%s: one unnamed column read as lead II", path)
        else:
            raise _bad(path, "line 1", "a header of lead names, a leads argument naming the "
                       "columns, or the 6-column GUDB layout", f"{k} unnamed columns")
    clock = {j for j, h in enumerate(header) if _lead_key(h) in _TIME_COLS
             and rows and ":" in rows[0][j]} if len(rows[0]) == len(header) else set()
    data = _to_array(path, rows, header, line0, clock)
    time_col, keep, names, col_units = None, [], [], []
    for j, h in enumerate(header):
        key = _lead_key(h)
        unit = (unit_row[j] if unit_row and j < len(unit_row) else None) or _header_unit(h)
        if key in _TIME_COLS and time_col is None:
            per = _TIME_UNITS.get((unit or "").lower(), _TIME_COLS[key]) if j not in clock else 1.0
            time_col = (h, data[:, j] * per)
        elif key in _SAMPLE_COLS or h == "-" or (h == "" and _is_index(data[:, j])):
            continue  # a sample number ('' + 0, 1, 2, ...: pandas' unnamed index)
        else:
            names.append(None if _is_generic(h) else _canon(path, h))
            keep.append(j)
            u = _unit(unit)
            if units is None and u and u not in _UNITS_TO_MV:  # e.g. adu: needs a gain
                raise _bad(path, f"column {h!r} units",
                           f"one of {tuple(_UNITS_TO_MV)} (or a units argument)", u)
            col_units.append(_UNITS_TO_MV.get(u, 1.0) if units is None else scale)
            if units is None and not u:
                _check_assumed_mv(path, h, data[:, j])
    names = _generic_as_ii(path, [header[j] for j in keep], names)
    keep, col_units = ([x for x, n in zip(v, names) if n is not None] for v in (keep, col_units))
    names = [n for n in names if n is not None]
    if time_col is not None:
        fs_file = _uniform_fs(path, time_col[0], time_col[1], line0)
        if fs_hz is not None and abs(fs_file - fs_hz) > 1e-3 * fs_hz:
            raise _bad(path, "fs_hz", f"{fs_hz} (argument)", f"{fs_file:.6g} from {time_col[0]}")
        fs_hz = fs_file
    if fs_hz is None:
        raise _bad(path, "time_s", "a time_s column or an fs_hz argument", "neither")
    ecg = data[:, keep] * np.asarray(col_units if units is None else [scale] * len(keep))
    return ecg, names, fs_hz, leads


def is_af_rhythm(rhythm: str | None) -> bool:
    """True for a rhythm statement of atrial fibrillation ('AF', 'AFIB', '(AFIB',
    'atrial fibrillation', 'fibrillazione atriale')."""
    r = (rhythm or "").upper().strip("( ")
    return r in ("AF", "AFIB") or r.startswith("AFIB") or "ATRIAL FIB" in r \
        or "FIBRILLAZIONE ATRIALE" in r


def _wfdb_beats(record: str, n: int):
    """Beat samples, kinds and rhythm from ``record.atr`` (None when absent)."""
    import wfdb

    if not Path(record + ".atr").is_file():
        return None, None, None
    ann = wfdb.rdann(record, "atr")
    samples, kinds, rhythms, rhythm = [], [], set(), ""
    for s, sym, aux in zip(ann.sample, ann.symbol, ann.aux_note):
        if sym == "+":
            rhythm = (aux or "").strip("\x00 ")
            rhythms.add(rhythm)
        elif sym in _WFDB_BEAT_KIND and 0 <= s < n:
            kind = _WFDB_BEAT_KIND[sym]
            samples.append(int(s))
            kinds.append("F" if kind == "N" and is_af_rhythm(rhythm) else kind)
    rhythm_txt = ", ".join(sorted(r.strip("(") for r in rhythms if r)) or None
    return np.array(samples, np.int64), tuple(kinds), rhythm_txt


def _wfdb_header_units(hea: Path, n_sig: int) -> list[str | None]:
    """Each signal's units as the .hea writes them (None: no units field, which WFDB
    reads as mV). wfdb's own parser keeps only ASCII, so 'µV' (which wfdb.wrsamp writes)
    would come back as 'V', 1000x off."""
    lines = [ln for ln in hea.read_text(encoding="utf-8", errors="replace").splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")][1:1 + n_sig]
    out = []
    for ln in lines:
        f = ln.split()
        out.append(f[2].split("/", 1)[1] if len(f) > 2 and "/" in f[2] else None)
    return out + [None] * (n_sig - len(out))


def _load_wfdb(path: Path, units: str | None):
    import wfdb

    record = str(path.with_suffix(""))
    try:
        rec = wfdb.rdrecord(record)
    except Exception as e:  # wfdb raises bare ValueError/FileNotFoundError
        raise _bad(path, "WFDB record", "a readable .hea with its signal file (.dat, or "
                   "the .mat of the PhysioNet/CinC Challenges)", repr(e)) from e
    labels = [str(n) if n else "ECG" for n in rec.sig_name]  # no description: an ECG
    hea_units = _wfdb_header_units(Path(record + ".hea"), len(labels))
    names = _generic_as_ii(path, labels, [_CANON.get(_lead_key(n)) for n in labels])
    cols, kept = [], []
    for i, name in enumerate(names):
        if name is not None:
            scale = _scale(path, f"signal {labels[i]!r} units", hea_units[i] or "mV", units)
            cols.append(rec.p_signal[:, i] * scale)
            kept.append(name)
    names = kept
    data = np.stack(cols, axis=1) if cols else np.zeros((0, 0))
    beats, kinds, rhythm = _wfdb_beats(record, data.shape[0])
    return data, names, float(rec.fs), dict(beat_samples=beats, beat_kinds=kinds, rhythm=rhythm)


def _load_edf(path: Path, units: str | None):
    """EDF/EDF+/BDF: the channels labelled as ECG leads (EDF+ 'ECG II', 'EKG II',
    'ECG II-Ref', 'I', or one generic 'ECG'/'ECG1'); EEG, SpO2, respiration, ... at
    their own rates and the annotation channel are left out."""
    import pyedflib

    try:
        with pyedflib.EdfReader(str(path)) as f:
            labels = [str(x).strip() for x in f.getSignalLabels()]
            names = _generic_as_ii(path, labels, [_CANON.get(_lead_key(x)) for x in labels])
            cols, kept, rates = [], [], []
            for i, name in enumerate(names):
                if name is not None:
                    scale = _scale(path, f"channel {labels[i]!r} physical dimension",
                                   f.getPhysicalDimension(i), units)
                    cols.append(f.readSignal(i) * scale)
                    kept.append(name)
                    rates.append(f.getSampleFrequency(i))
            names = kept
    except OSError as e:
        raise _bad(path, "EDF", "a readable EDF/EDF+ file", repr(e)) from e
    if len(set(rates)) > 1:
        raise _bad(path, "sample rates", f"one rate for all ECG channels {names}",
                   sorted(set(rates)))
    n = min((c.size for c in cols), default=0)
    return (np.stack([c[:n] for c in cols], axis=1) if cols else np.zeros((0, 0)), names,
            float(rates[0]) if rates else 0.0)


def _load_dicom(path: Path, units: str | None):
    """DICOM ECG waveform (e.g. 12-lead ECG Waveform Storage): the multiplex group
    labelled RHYTHM (else the longest), channels scaled by their sensitivity to mV."""
    import pydicom

    try:
        ds = pydicom.dcmread(str(path))
        groups = list(ds.WaveformSequence)
    except Exception as e:  # pydicom raises InvalidDicomError, AttributeError, ...
        raise _bad(path, "DICOM", "a readable DICOM file with a WaveformSequence",
                   repr(e)) from e
    labels = [str(g.get("MultiplexGroupLabel", "")).upper() for g in groups]
    idx = labels.index("RHYTHM") if "RHYTHM" in labels else int(
        np.argmax([int(g.NumberOfWaveformSamples) for g in groups]))
    grp = groups[idx]
    arr = ds.waveform_array(idx)  # (n, channels), sensitivity and baseline applied
    cols, names = [], []
    for j, ch in enumerate(grp.ChannelDefinitionSequence):
        label = str(ch.ChannelSourceSequence[0].CodeMeaning)
        if _lead_key(label) in _CANON:
            # no ChannelSensitivityUnitsSequence (type 1C): raw ADC counts, no unit
            unit_seq = ch.get("ChannelSensitivityUnitsSequence")
            unit = str(unit_seq[0].CodeValue) if unit_seq else ""
            scale = _scale(path, f"channel {label!r} sensitivity units", unit, units)
            cols.append(arr[:, j] * scale)
            names.append(_CANON[_lead_key(label)])
    data = np.stack(cols, axis=1) if cols else np.zeros((0, 0))
    statements, measurements = _dicom_annotations(ds)
    extra = dict(rhythm="; ".join(statements) or None, measurements=measurements or None)
    return data, names, float(grp.SamplingFrequency), extra


def _dicom_annotations(ds) -> tuple[list[str], dict[str, float]]:
    """The cart's text statements and its global numeric measurements ('<name> (<unit>)')
    from the WaveformAnnotationSequence (per-beat fiducials, which carry sample positions,
    are left out)."""
    statements, measurements = [], {}
    for a in ds.get("WaveformAnnotationSequence", []):
        if "UnformattedTextValue" in a:
            statements.append(str(a.UnformattedTextValue).strip())
        elif "NumericValue" in a and "ConceptNameCodeSequence" in a \
                and "ReferencedSamplePositions" not in a:
            name = str(a.ConceptNameCodeSequence[0].CodeMeaning)
            units = a.get("MeasurementUnitsCodeSequence")
            unit = str(units[0].CodeValue) if units else ""
            try:
                measurements[f"{name} ({unit})" if unit else name] = float(a.NumericValue)
            except (TypeError, ValueError):
                continue
    return statements, measurements


def _load_npz(path: Path, units: str | None):
    """``ecg_mv`` (n, k) (or (k, n), leads by row as MATLAB and wfdb's d_signal.T lay
    them out, when ``leads`` says k), ``fs_hz`` (scalar or 1 element), ``leads`` (str or
    bytes); ``units`` overrides the mV that ``ecg_mv`` promises."""
    try:
        with np.load(path) as z:
            for key in ("ecg_mv", "fs_hz"):
                if key not in z.files:
                    raise _bad(path, f"field {key!r}", "arrays 'ecg_mv' and 'fs_hz'",
                               sorted(z.files))
            ecg = np.asarray(z["ecg_mv"], dtype=np.float64)
            fs_arr = np.asarray(z["fs_hz"], dtype=np.float64).reshape(-1)
            names = ([n.decode() if isinstance(n, bytes) else str(n)
                      for n in np.asarray(z["leads"]).reshape(-1)]
                     if "leads" in z.files else None)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:  # pickle, not a zip
        raise _bad(path, "npz", "a numpy .npz of plain arrays ecg_mv, fs_hz, leads",
                   repr(e)) from e
    if fs_arr.size != 1:
        raise _bad(path, "field 'fs_hz'", "one rate", f"{fs_arr.size} values")
    if ecg.ndim == 1:
        ecg = ecg[:, None]
    if names is None:
        if ecg.shape[1] != 1:
            raise _bad(path, "field 'leads'", "lead names for a multi-channel ecg_mv", "none")
        names = ["II"]  # single unnamed lead: treated as lead II (documented)
    if ecg.ndim == 2 and ecg.shape[0] == len(names) != ecg.shape[1]:
        ecg = ecg.T  # leads by row
    scale = _UNITS_TO_MV[units] if units else 1.0
    return ecg * scale, [_canon(path, n) for n in names], float(fs_arr[0])


_LOADABLE = (".csv", ".tsv", ".txt", ".hea", ".edf", ".bdf", ".dcm", ".npz")


def list_recordings(folder) -> list[Path]:
    """The ECG recordings in ``folder`` (one entry per record: a WFDB record by its .hea),
    sorted by name; other files (licences, notes, annotations, .dat of WFDB) are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputDataError(f"{folder}: expected a folder of ECG recordings, got no such folder")
    out = []
    for p in sorted(folder.iterdir()):
        suf = p.suffix.lower()
        low = p.name.lower()
        if not p.is_file() or suf not in _LOADABLE or any(
                w in low for w in ("licen", "readme", "attribution", "notes")):
            continue
        out.append(p)
    return out


def load_ecg_recording(path, fs_hz: float | None = None, leads: list[str] | None = None,
                       *, units: str | None = None) -> EcgRecording:
    """Read an ECG file. ``leads`` selects a subset (for a headerless text file with as
    many columns as ``leads``: names the columns in order). ``units`` ('mV', 'V', 'uV')
    overrides the file's unit of the lead channels (text files: default mV, or the
    header's; the GUDB layout is in V; WFDB/EDF/DICOM: the unit each channel states)."""
    path = Path(path)
    if not path.exists() and not path.with_suffix(".hea").exists():
        raise InputDataError(f"{path}: file not found")
    if units is not None and units not in _UNITS_TO_MV:
        raise _bad(path, "units", tuple(_UNITS_TO_MV), units)
    suffix = path.suffix.lower()
    extra = {}
    if suffix in (".csv", ".tsv", ".txt") or (
            suffix == ".dat" and not path.with_suffix(".hea").exists()):
        data, names, fs, leads = _load_text(path, fs_hz, leads, units)
    elif suffix in (".hea", ".dat", "") or (
            suffix == ".mat" and path.with_suffix(".hea").exists()):
        data, names, fs, extra = _load_wfdb(path, units)
    elif suffix in (".edf", ".bdf"):
        data, names, fs = _load_edf(path, units)
    elif suffix == ".dcm":
        data, names, fs, extra = _load_dicom(path, units)
    elif suffix == ".npz":
        data, names, fs = _load_npz(path, units)
    elif suffix == ".mat":
        raise _bad(path, "file type", "a WFDB .hea beside a .mat signal file (the "
                   "PhysioNet/CinC Challenge layout); a bare MATLAB file has no rate or leads",
                   "no .hea")
    else:
        raise _bad(path, "file type", ", ".join(_LOADABLE), suffix or "none")
    if fs_hz is not None and abs(fs - fs_hz) > 1e-3 * fs_hz:
        raise _bad(path, "fs_hz", f"{fs_hz} (argument)", f"{fs} in the file")
    if not names or data.shape[0] < 2:
        raise _bad(path, "leads", f"at least one lead of {KNOWN_LEADS} with samples", names)
    if len(set(names)) != len(names):
        raise _bad(path, "leads", "each lead once", names)
    if leads is not None:
        want = [_canon(path, n) for n in leads]
        missing = [n for n in want if n not in names]
        if missing:
            raise _bad(path, "leads", f"{want} present", f"{names} (missing {missing})")
        data, names = data[:, [names.index(n) for n in want]], want
    return EcgRecording(np.asarray(data, dtype=np.float64), float(fs), tuple(names), str(path),
                        **extra)
