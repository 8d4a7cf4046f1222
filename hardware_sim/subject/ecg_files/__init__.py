"""ECG recordings from files (or memory) -> ``EcgRecording``: the readers of the recorded-ECG
drive (``hardware_sim.subject.recorded``) and of session references.

``load_ecg_recording`` reads delimited text (CSV, semicolon, tab or whitespace; optional
time column, rounded times accepted: each stamp within 0.25 sample periods of a uniform
grid; spreadsheet exports: decimal commas, UTF-16/cp1252, units rows, index columns;
OpenSignals text of PLUX biosignalsplux and BITalino, raw ADC by the device's transfer
function; Apple Watch ECG exports, the watch's classification as the rhythm), WFDB
(with its ``.atr`` beat and rhythm annotations when present, else the rhythm a
Challenge header's ``# Dx:`` codes state; PTB-XL and the PhysioNet/CinC Challenge ``.mat``
records), EDF/EDF+/BDF (ECG channels by label, the rest left out), DICOM
12-lead ECG waveforms (pydicom; the cart's statements and measurements kept), cart XML
exports (HL7 aECG, GE MUSE, Philips Sierra/PageWriter incl. XLI-coded; MUSE's and Philips'
statements and measurements kept) and the ``.npz``
layout (``ecg_mv``, ``fs_hz``, optional ``leads``). A channel that names no lead ('ECG',
'EKG', 'ECG1') is lead II when the file names no standard lead. Errors are one-line
``InputDataError``s naming the file, column and line (or channel, or field), what was
expected and what was found; a unit that is no voltage is refused, never guessed.

One module per format family, each returning (n, k) mV, lead names and rate to
``load_ecg_recording`` here: ``text`` (CSV/TSV/TXT; ``opensignals`` for OpenSignals,
``apple`` for Apple Watch exports), ``wfdb``, ``edf``, ``dicom``, ``npz``,
``xml`` (standard-library parser only; ``xli`` decodes Philips' XLI waveforms); ``common``
holds the lead names, units and the error they share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cardioradar.errors import InputDataError
from hardware_sim.subject.ecg_files.apple import _load_apple, is_apple_ecg
from hardware_sim.subject.ecg_files.common import (  # noqa: F401 (_LIMB, _bad: re-exported)
    FS_RANGE_HZ, KNOWN_LEADS, _LIMB, _UNITS_TO_MV, _bad, _canon, is_af_rhythm,
)
from hardware_sim.subject.ecg_files.dicom import _load_dicom
from hardware_sim.subject.ecg_files.edf import _load_edf
from hardware_sim.subject.ecg_files.npz import _load_npz
from hardware_sim.subject.ecg_files.text import GUDB_COLUMNS, _decode, _load_text
from hardware_sim.subject.ecg_files.wfdb import _load_wfdb
from hardware_sim.subject.ecg_files.xml import _load_xml

__all__ = ["EcgRecording", "load_ecg_recording", "list_recordings", "LOADABLE_SUFFIXES", "is_af_rhythm",
           "GUDB_COLUMNS", "KNOWN_LEADS", "FS_RANGE_HZ"]


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


LOADABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".hea", ".edf", ".bdf", ".dcm", ".npz", ".xml")
# ECG containers users bring that this reader does not read, named in the refusal.
_NOT_READ = {".scp": "SCP-ECG", ".ecg": "an ISHNE Holter or vendor .ecg file",
             ".acq": "BIOPAC AcqKnowledge", ".h5": "HDF5, e.g. OpenSignals' .h5",
             ".hdf5": "HDF5", ".xdf": "XDF, Lab Streaming Layer",
             ".pdf": "a PDF: a printed strip holds no samples"}


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
        if not p.is_file() or suf not in LOADABLE_SUFFIXES or any(
                w in low for w in ("licen", "readme", "attribution", "notes")):
            continue
        out.append(p)
    return out


def load_ecg_recording(path, fs_hz: float | None = None, leads: list[str] | None = None,
                       *, units: str | None = None) -> EcgRecording:
    """Read an ECG file. ``leads`` selects a subset (for a headerless text file with as
    many columns as ``leads``: names the columns in order). ``units`` ('mV', 'V', 'uV')
    overrides the file's unit of the lead channels (text files: default mV, or the
    header's; the GUDB layout is in V; WFDB/EDF/DICOM/XML: the unit each lead states)."""
    path = Path(path)
    if not path.exists() and not path.with_suffix(".hea").exists():
        raise InputDataError(f"{path}: file not found")
    if units is not None and units not in _UNITS_TO_MV:
        raise _bad(path, "units", tuple(_UNITS_TO_MV), units)
    suffix = path.suffix.lower()
    extra = {}
    text = _decode(path) if suffix in (".csv", ".txt") else ""
    if is_apple_ecg(text):
        data, names, fs, extra = _load_apple(path, text, units)
    elif suffix in (".csv", ".tsv", ".txt") or (
            suffix == ".dat" and not path.with_suffix(".hea").exists()):
        data, names, fs, leads = _load_text(path, fs_hz, leads, units, text or None)
    elif suffix in (".hea", ".dat", "") or (
            suffix == ".mat" and path.with_suffix(".hea").exists()):
        data, names, fs, extra = _load_wfdb(path, units)
    elif suffix in (".edf", ".bdf"):
        data, names, fs = _load_edf(path, units)
    elif suffix == ".dcm":
        data, names, fs, extra = _load_dicom(path, units)
    elif suffix == ".npz":
        data, names, fs = _load_npz(path, units)
    elif suffix == ".xml":
        data, names, fs, extra = _load_xml(path, units)
    elif suffix == ".mat":
        raise _bad(path, "file type", "a WFDB .hea beside a .mat signal file (the "
                   "PhysioNet/CinC Challenge layout); a bare MATLAB file has no rate or leads",
                   "no .hea")
    else:
        what = _NOT_READ.get(suffix)
        raise _bad(path, "file type", ", ".join(LOADABLE_SUFFIXES) + (
            " (export the ECG to one of these)" if what else ""),
            f"{suffix} ({what}, not read here)" if what else suffix or "none")
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
