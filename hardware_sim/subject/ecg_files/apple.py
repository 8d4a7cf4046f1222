"""Apple Watch ECG exports (the Health app's export, ``electrocardiograms/ecg_<date>.csv``)
-> (n, 1) mV, the lead, rate, and the watch's classification as the rhythm. The layout, as
the open readers of these exports quote it: 'key,value' lines ('Name', 'Date of Birth',
'Recorded Date', 'Classification', 'Symptoms', 'Software Version', 'Device', 'Sample
Rate,512 hertz' (also '512.844 hertz'), 'Lead,Lead I', 'Unit,µV'), blank lines, then one
voltage per line, its decimal separator the phone's locale's ('-265,868' is -265.868)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from hardware_sim.subject.ecg_files.common import _bad, _canon, _scale

_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?(?:[eE][+-]?\d+)?")
_RATE = re.compile(r"(\d+(?:[.,]\d+)?)\s*(?:hertz|hz)", re.IGNORECASE)


def _preamble(text: str) -> tuple[dict[str, str], int]:
    """The 'key,value' lines before the first number, and the index of that line."""
    meta, lines = {}, text.splitlines()
    for i, line in enumerate(lines):
        s = line.strip().strip('"')
        if not s:
            continue
        if _NUMBER.fullmatch(s):
            return meta, i
        fields = next(csv.reader([line]), [])
        if fields and len(meta) < 40:
            meta[fields[0].strip()] = ",".join(fields[1:]).strip()
        else:
            break
    return meta, len(lines)


def is_apple_ecg(text: str) -> bool:
    """An Apple Watch ECG export: its preamble states 'Sample Rate' and 'Lead'."""
    meta, _ = _preamble(text[:4000])
    return "Sample Rate" in meta and "Lead" in meta


def _load_apple(path: Path, text: str, units: str | None):
    meta, first = _preamble(text)
    m = _RATE.fullmatch(meta["Sample Rate"])
    if not m:
        raise _bad(path, "'Sample Rate'", "a rate in hertz ('512 hertz')", repr(meta["Sample Rate"]))
    fs = float(m.group(1).replace(",", "."))
    lead = _canon(path, meta["Lead"])
    scale = _scale(path, "'Unit'", meta.get("Unit", ""), units)
    values = []
    for i, line in enumerate(text.splitlines()[first:], start=first + 1):
        s = line.strip().strip('"')
        if not s:
            continue
        if not _NUMBER.fullmatch(s):
            raise _bad(path, f"line {i}", "one voltage per line", repr(line.strip()))
        values.append(float(s.replace(",", ".")))
    rhythm = meta.get("Classification") or None
    return np.asarray(values, np.float64)[:, None] * scale, [lead], fs, dict(rhythm=rhythm)
