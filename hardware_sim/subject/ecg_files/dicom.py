"""DICOM 12-lead ECG waveforms -> (n, k) mV, lead names, rate, and the cart's statements
and global measurements. Needs ``pydicom`` (imported on use)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hardware_sim.subject.ecg_files.common import _CANON, _bad, _lead_key, _no_ecg_lead, _scale


def _load_dicom(path: Path, units: str | None):
    """DICOM ECG waveform (e.g. 12-lead ECG Waveform Storage): the multiplex group
    labelled RHYTHM (else the longest), channels scaled by their sensitivity to mV."""
    import pydicom

    try:
        ds = pydicom.dcmread(str(path))
    except Exception as e:  # pydicom raises InvalidDicomError, EOFError, ...
        raise _bad(path, "DICOM", "a readable DICOM file", f"{type(e).__name__}: {e}") from e
    if "WaveformSequence" not in ds or not len(ds.WaveformSequence):
        sop = ds.get("SOPClassUID")
        what = getattr(sop, "name", None) or str(sop or "an object of no SOP class")
        raise _bad(path, "DICOM", "an ECG waveform object (a WaveformSequence)", f"{what} without waveforms")
    groups = list(ds.WaveformSequence)
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
    if not cols:
        raise _no_ecg_lead(path, "channels", [str(ch.ChannelSourceSequence[0].CodeMeaning)
                                              for ch in grp.ChannelDefinitionSequence])
    data = np.stack(cols, axis=1)
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
