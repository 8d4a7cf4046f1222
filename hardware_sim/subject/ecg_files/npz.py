"""The project's ``.npz`` layout (``ecg_mv``, ``fs_hz``, optional ``leads``) -> (n, k) mV,
lead names, rate."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from hardware_sim.subject.ecg_files.common import _UNITS_TO_MV, _bad, _canon


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
