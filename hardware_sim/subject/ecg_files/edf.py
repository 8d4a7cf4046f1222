"""EDF/EDF+/BDF files -> (n, k) mV, lead names, rate: the ECG channels by label, the rest
left out; EDF+D/BDF+D (discontinuous) refused. Needs ``pyedflib`` (imported on use)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hardware_sim.subject.ecg_files.common import (
    _CANON, _bad, _generic_as_ii, _lead_key, _no_ecg_lead, _scale,
)


def _load_edf(path: Path, units: str | None):
    """EDF/EDF+/BDF: the channels labelled as ECG leads (EDF+ 'ECG II', 'EKG II',
    'ECG II-Ref', 'I', or one generic 'ECG'/'ECG1'); EEG, SpO2, respiration, ... at
    their own rates and the annotation channel are left out."""
    import pyedflib

    _refuse_discontinuous(path)
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
    if not cols:
        raise _no_ecg_lead(path, "channels", [x for x in labels if x != "EDF Annotations"])
    if len(set(rates)) > 1:
        raise _bad(path, "sample rates", f"one rate for all ECG channels {names}",
                   sorted(set(rates)))
    n = min((c.size for c in cols), default=0)
    return (np.stack([c[:n] for c in cols], axis=1) if cols else np.zeros((0, 0)), names,
            float(rates[0]) if rates else 0.0)


def _refuse_discontinuous(path: Path) -> None:
    """EDF+D / BDF+D (the header's reserved field, bytes 192-236, starts 'EDF+D' or
    'BDF+D'): data records may be separated by gaps that only their time-keeping
    annotations state, and pyedflib opens no such file, so it is refused in one line."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(236)
    except OSError as e:
        raise _bad(path, "EDF", "a readable EDF/EDF+ file", repr(e)) from e
    reserved = head[192:236].decode("ascii", "replace").strip()
    if reserved[:5] in ("EDF+D", "BDF+D"):
        raise _bad(path, "EDF+ header reserved field", "a continuous recording (plain EDF or "
                   "EDF+C; an EDF+D file may hold gaps between its data records, which are "
                   "not bridged: export it continuous, or each block as a file of its own)",
                   f"{reserved[:5]!r} (discontinuous)")
