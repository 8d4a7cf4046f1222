"""Delimited text ECG files (CSV, semicolon, tab or whitespace) -> (n, k) mV, lead names,
rate: an optional time column (rounded times accepted: each stamp within 0.25 sample
periods of a uniform grid), sample/index columns skipped; spreadsheet exports (decimal
commas, UTF-16/cp1252, units rows, index columns); the headerless GUDB layout. A unit that
is no voltage is refused, never guessed; a unitless column far beyond any ECG in mV too."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from hardware_sim.subject.ecg_files.common import (
    _CANON, _UNITS_TO_MV, _bad, _canon, _generic_as_ii, _is_generic, _lead_key, _no_ecg_lead,
    _unit, log,
)
from hardware_sim.subject.ecg_files.opensignals import MAGIC, _load_opensignals, is_opensignals

# Headerless 6-column whitespace files from the Glasgow University ECG database
# (GUDB): chest strap (V2-V1), Einthoven II, III, accelerometer x, y, z; volts.
GUDB_COLUMNS = ("V2-V1", "II", "III", None, None, None)
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


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw.decode("utf-16", errors="replace")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _read_rows(path: Path, text: str) -> tuple[list[list[str]], int, str | None]:
    """Rows of a delimited text file (``text``: its ``_decode``; comment lines '#' skipped),
    the 1-based line of the first row, and the delimiter (None: whitespace). Spreadsheet exports are read as
    written: UTF-16 with its BOM (Excel's "Unicode text"), UTF-8 with or without BOM,
    else Windows' 8-bit text (cp1252/latin-1: 'µ' is byte 0xB5 in both); decimal commas
    ('0,125') in ';', tab or space separated files; empty trailing columns dropped."""
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
              clock_cols: set[int], skip: frozenset = frozenset()) -> np.ndarray:
    """rows of strings -> (n, k) float64 (columns in ``skip`` are not read: zeros); the
    first bad row / cell named in the error."""
    k = len(names)
    for i, r in enumerate(rows):
        if len(r) != k:
            raise _bad(path, f"line {first_line + i}", f"{k} columns ({', '.join(names)})",
                       f"{len(r)}")
    cols = []
    for j, name in enumerate(names):
        if j in skip:
            cols.append(np.zeros(len(rows)))
            continue
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


def _first_column(rows) -> np.ndarray:
    """The first cells as integers; empty when any is not one (then it is no sample number)."""
    try:
        return np.array([int(r[0]) for r in rows], np.int64)
    except (ValueError, IndexError):
        return np.zeros(0, np.int64)


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


# A column name that says it is an ECG lead, known or not ('V7', 'V4R', 'aVx', 'Lead 2',
# 'ECG chest', 'MCL1'): refused by name when it is not one of ours, never left out unseen.
_LEAD_LIKE = re.compile(r"(lead|ecg|ekg|mcl|ml)([\s_-].*|\d.*)?|v\d+r?|v[xyz]|i{1,3}|av\w")


def _other_signals(path, header: list[str]) -> frozenset:
    """Columns of a header that are no ECG lead and do not claim to be one, nor a time or
    sample column: other signals (NeuroKit's 'PPG', 'RSP'; Polar Sensor Logger's 'Phone
    timestamp', 'sensor timestamp [ns]'), left out as the EDF and WFDB readers leave them
    out. A header without any ECG column is refused, naming its columns."""
    other, ecg = set(), False
    for j, h in enumerate(header):
        key = _lead_key(h)
        if key in _TIME_COLS or key in _SAMPLE_COLS or h in ("-", ""):
            continue
        if _is_generic(h) or key in _CANON:
            ecg = True
        elif not _LEAD_LIKE.fullmatch(re.sub(r"[\(\[].*?[\)\]]", "", h).strip().lower()):
            other.add(j)
    if not ecg:
        raise _no_ecg_lead(path, "columns", header)
    if other:
        log.info("%s: columns %s are no ECG lead: left out", path, [header[j] for j in other])
    return frozenset(other)


def _load_text(path: Path, fs_hz, leads, units, text: str | None = None):
    """Delimited text: an optional header row (lead names, a time or sample column, units
    in brackets), an optional units row below it, numbers. Without a header: ``leads``
    names the columns, or the 6-column GUDB layout, or a single column read as lead II.
    An OpenSignals file (its first line says so) goes to ``opensignals``. ``text``: the
    file's ``_decode`` when the caller already has it (read once)."""
    text = _decode(path) if text is None else text
    rows, line0, delim = _read_rows(path, text)
    if is_opensignals(text[:len(MAGIC) + 1]):
        if units is not None:
            raise _bad(path, "units", "none for an OpenSignals file (its raw ADC values are "
                       "converted by the device's ECG transfer function)", units)
        data, names, fs = _load_opensignals(path, text, rows, line0)
        if fs_hz is not None and abs(fs - fs_hz) > 1e-3 * fs_hz:
            raise _bad(path, "fs_hz", f"{fs_hz} (argument)", f"{fs:g} in the header")
        return data, names, fs, leads
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
        elif k == 2 and _is_index(_first_column(rows)):
            header = ["", "II"]  # 'sample,value' without a header (a script's or pandas' export)
            log.info("%s: a sample-number column and one unnamed column read as lead II", path)
        else:
            raise _bad(path, "line 1", "a header of lead names, a leads argument naming the "
                       "columns, or the 6-column GUDB layout", f"{k} unnamed columns")
    clock = {j for j, h in enumerate(header) if _lead_key(h) in _TIME_COLS
             and rows and ":" in rows[0][j]} if len(rows[0]) == len(header) else set()
    other = _other_signals(path, header)
    data = _to_array(path, rows, header, line0, clock, other)
    time_col, keep, names, col_units = None, [], [], []
    for j, h in enumerate(header):
        if j in other:
            continue
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
