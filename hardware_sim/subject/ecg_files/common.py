"""What every ECG file reader of ``hardware_sim.subject.ecg_files`` shares: the lead names
a file may use and their canonical spelling, channels that say "ECG" but no lead, voltage
units, the rhythm statement of AF, and the one-line ``InputDataError`` of a bad field."""

from __future__ import annotations

import logging
import re

from cardioradar.errors import InputDataError
from hardware_sim.subject.types import LEADS

# One logger for the package, named as it was when the readers were one module.
log = logging.getLogger(__package__)

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
_UNITS_TO_MV = {"mV": 1.0, "V": 1000.0, "uV": 1e-3}


def _bad(path, field_: str, expected: str, got) -> InputDataError:
    return InputDataError(f"{path}: {field_}: expected {expected}, got {got}")


def _no_ecg_lead(path, kind: str, labels) -> InputDataError:
    """A file whose channels (``kind``: 'signals', 'channels') hold no ECG lead: the error
    lists what it holds (the first 12 of more: a 64-channel EEG stays one readable line), so
    that a misnamed lead can be told from a file of other signals."""
    labels = list(labels)
    held = f"{labels[:12]} and {len(labels) - 12} more" if len(labels) > 12 else labels
    return _bad(path, "leads", f"at least one channel named as an ECG lead "
                f"({', '.join(KNOWN_LEADS)}) or as 'ECG'", f"{kind} {held}, none an ECG lead")


def _lead_key(name: str) -> str:
    """'Lead I (Einthoven)', "'MLII'", 'ECG II', 'EKG ii', 'ECG lead II', 'ECG II-Ref',
    'II [mV]', 'ECG 1' -> 'i', 'mlii', 'ii', 'ii', 'ii', 'ii', 'ii', 'ecg 1' (the EDF+ label
    is '<type> <specification>'; PSG exports add '-Ref' for the reference electrode; a
    channel number after 'ECG' is no lead: 'ECG 1' stays a generic ECG, as 'ECG1' is)."""
    key = re.sub(r"[\(\[].*?[\)\]]", "", str(name)).strip().strip("'\"").strip().lower()
    old = None
    while old != key:
        old = key
        for prefix in ("lead ", "ecg ", "ekg "):
            rest = key.removeprefix(prefix).strip()
            if not (prefix != "lead " and rest.isdigit()):
                key = rest
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


# Atrial fibrillation as carts state it in the languages of their reports (flutter, e.g.
# 'Vorhofflattern', is another rhythm and does not match).
_AF_PHRASES = ("ATRIAL FIB", "A-FIB", "FIBRILLAZIONE ATRIALE", "VORHOFFLIMMERN", "FIBRILLATION AURICULAIRE",
               "FIBRILLATION ATRIALE", "FIBRILACIÓN AURICULAR", "FIBRILACION AURICULAR", "FIBRILAÇÃO ATRIAL",
               "心房颤动", "心房顫動", "房颤", "心房細動")


def is_af_rhythm(rhythm: str | None) -> bool:
    """True for a rhythm statement of atrial fibrillation ('AF', 'AFIB', '(AFIB',
    'atrial fibrillation', or the phrase in a cart's language: ``_AF_PHRASES``)."""
    r = (rhythm or "").upper().strip("( ")
    return r in ("AF", "AFIB") or r.startswith("AFIB") or any(p in r for p in _AF_PHRASES)
