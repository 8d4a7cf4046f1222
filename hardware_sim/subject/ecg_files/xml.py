"""12-lead cart XML exports -> (n, k) mV, lead names, rate, and the statements and global
measurements a MUSE or Philips file holds. Read with the standard library's
``xml.etree.ElementTree``; the root element says which format:

- ``AnnotatedECG``: HL7 v3 annotated ECG (aECG, the FDA's format). The rhythm sequenceSet of
  the first series (``component/series/component/sequenceSet``; the representative beats under
  ``derivation/derivedSeries`` are left out): a TIME_ABSOLUTE (GLIST_TS) or TIME_RELATIVE
  (GLIST_PQ) sequence whose ``increment`` (s or ms) is the sample interval, and one SLIST_PQ
  sequence per lead (code ``MDC_ECG_LEAD_<lead>``): value = origin + scale x digit, in the
  units origin and scale state (uV, mV).
- ``RestingECG``: GE MUSE. The ``Waveform`` whose WaveformType is 'Rhythm' (the 'Median' beat
  is no recording); rate SampleBase x 10^SampleExponent; per ``LeadData`` the LeadID, int16
  little-endian samples in base64 (WaveFormData, LeadSampleSize 2) plus FirstSampleBaseline,
  times LeadAmplitudeUnitsPerBit in LeadAmplitudeUnits ('MICROVOLTS'). Its confirmed
  ``Diagnosis`` statements (``DiagnosisStatement/StmtText``; else the cart's
  ``OriginalDiagnosis``) are the recording's rhythm, ``RestingECGMeasurements`` (ms, deg,
  /min) its measurements, as the DICOM reader keeps a cart's.
- ``restingecgdata``: Philips Sierra / PageWriter XML (schema 1.03, 1.04, 1.04.01).
  ``waveforms/parsedwaveforms`` holds each lead after the other: XLI-coded (``xli``; III,
  aVR, aVL, aVF restored from I and II), ``Plain`` text numbers or ``Base64`` int16
  little-endian; (number - signaloffset) x resolution in uV, as Philips' schema states
  (resolution from the waveform, else ``signalcharacteristics``); rate
  ``samplespersecond`` or ``samplingrate``; leads ``leadlabels`` (1.04) or the STD-12 order
  (1.03); the calibration tail that is the same in every lead is cut off. The first
  interpretation's statements (``leftstatement``) are its rhythm, the global measurements
  its measurements.

Leads not among ``KNOWN_LEADS`` (V7, V3R, X/Y/Z, ...) are left out; limb leads a file does not
hold (MUSE's 8-lead records) are completed downstream, not here.
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from hardware_sim.subject.ecg_files import xli
from hardware_sim.subject.ecg_files.common import _CANON, _bad, _lead_key, _scale, log

_TIME_TO_S = {"s": 1.0, "ms": 1e-3}
# MUSE spells its amplitude unit out: 'MICROVOLTS' is the one GE's exports carry; ecghelper
# (MIT-LCP) writes 'MILLIVOLTS' and its reader takes 'VOLTS' too (waveform.py).
_MUSE_UNITS = {"MICROVOLTS": "uV", "MILLIVOLTS": "mV", "VOLTS": "V"}
# RestingECGMeasurements in ms, degrees and /min, as ecg2dcm's MUSE reader takes them, under
# the names the DICOM reader gives (the recorded heart reads 'QRS Axis (deg)').
_MUSE_MEASUREMENTS = {
    "VentricularRate": "Ventricular Heart Rate (/min)", "AtrialRate": "Atrial Heart Rate (/min)",
    "PRInterval": "PR Interval (ms)", "QRSDuration": "QRS Duration (ms)",
    "QTInterval": "QT Interval (ms)", "QTCorrected": "QTc Interval (ms)",
    "PAxis": "P Axis (deg)", "RAxis": "QRS Axis (deg)", "TAxis": "T Axis (deg)"}


def _load_xml(path: Path, units: str | None):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise _bad(path, "XML", "a well-formed XML file", str(e)) from e
    for el in root.iter():  # namespaces (HL7's urn:hl7-org:v3) are no part of the names we read
        el.tag = el.tag.rsplit("}", 1)[-1] if isinstance(el.tag, str) else el.tag
    readers = {"AnnotatedECG": _hl7_aecg, "RestingECG": _muse, "restingecgdata": _philips}
    if root.tag not in readers:
        raise _bad(path, "XML root element", "AnnotatedECG (HL7 aECG), RestingECG (GE MUSE) "
                   "or restingecgdata (Philips)", f"<{root.tag}>")
    return readers[root.tag](path, root, units)


def _number(path, where: str, el, field_: str, attr: str | None = None, default=None) -> float:
    """The number in ``el``'s child ``field_`` (its text, or its attribute ``attr``);
    ``where`` (the lead, sequence or waveform) opens the field's name in messages."""
    child = el.find(field_)
    raw = None if child is None else (child.get(attr) if attr else child.text)
    if raw is None and default is not None:
        return default
    try:
        return float(str(raw).strip())
    except ValueError:
        name = f"{where} {field_}" + (f" {attr}" if attr else "")
        raise _bad(path, name, "a number", "none" if raw is None else repr(raw)) from None


def _snap_rate(fs: float) -> float:
    """1 / 0.00277778 s -> 360.0: a rate within 0.1 % of whole Hz is that whole Hz."""
    return float(round(fs)) if round(fs) > 0 and abs(fs - round(fs)) <= 1e-3 * fs else fs


def _stack(path, names, cols):
    lengths = [c.size for c in cols]
    if len(set(lengths)) > 1:
        raise _bad(path, "lead lengths", "one length for all leads",
                   ", ".join(f"{n} {k}" for n, k in zip(names, lengths)))
    return np.stack(cols, axis=1) if cols else np.zeros((0, 0))


# ---- HL7 aECG ------------------------------------------------------------------------------
def _hl7_aecg(path, root, units):
    seqset = root.find("component/series/component/sequenceSet")
    if seqset is None:
        raise _bad(path, "component/series/component/sequenceSet", "the rhythm waveforms of "
                   "an HL7 aECG", "none")
    fs, names, cols = None, [], []
    for seq in seqset.findall("component/sequence"):
        code = seq.find("code").get("code", "") if seq.find("code") is not None else ""
        value = seq.find("value")
        if code.startswith("TIME_"):
            fs = _hl7_rate(path, code, value)
        elif code.startswith("MDC_ECG_LEAD_"):
            _add_lead(path, f"sequence {code}", code.removeprefix("MDC_ECG_LEAD_"), names, cols,
                      lambda: _hl7_lead(path, code, value, units))
    if fs is None:
        raise _bad(path, "sequenceSet increment", "a TIME_ABSOLUTE or TIME_RELATIVE sequence "
                   "with the sample interval (increment)", "none")
    return _stack(path, names, cols), names, fs, {}


def _hl7_rate(path, code: str, value) -> float:
    """1 / the time sequence's increment (GLIST_TS or GLIST_PQ; s or ms)."""
    step = None if value is None else value.find("increment")
    where = f"sequence {code}"
    inc = 0.0 if step is None else _number(path, where, value, "increment", "value", 0.0)
    unit = None if step is None else step.get("unit")
    if not inc > 0 or unit not in _TIME_TO_S:
        got = "none" if step is None else f"{step.get('value')} {unit}"
        raise _bad(path, f"{where} increment", "the sample interval, a positive value in "
                   f"{tuple(_TIME_TO_S)}", got)
    return _snap_rate(1.0 / (inc * _TIME_TO_S[unit]))


def _hl7_lead(path, code: str, value, units):
    """One SLIST_PQ: origin + scale x digits, in mV."""
    if value is None or value.find("scale") is None or value.find("digits") is None:
        raise _bad(path, f"sequence {code}", "an SLIST_PQ value with scale and digits", "none")
    where = f"sequence {code}"
    scale = _number(path, where, value, "scale", "value") * _scale(
        path, f"{where} scale unit", value.find("scale").get("unit", ""), units)
    origin = value.find("origin")
    offset = 0.0 if origin is None else _number(path, where, value, "origin", "value") * _scale(
        path, f"{where} origin unit", origin.get("unit", ""), units)
    tokens = (value.find("digits").text or "").split()
    try:
        digits = np.array(tokens, dtype=np.float64)
    except ValueError:
        bad = next(t for t in tokens if not _is_number(t))
        raise _bad(path, f"sequence {code} digits", "numbers", repr(bad)) from None
    return offset + scale * digits


def _is_number(t: str) -> bool:
    try:
        float(t)
        return True
    except ValueError:
        return False


# ---- GE MUSE -------------------------------------------------------------------------------
def _muse(path, root, units):
    waves = root.findall("Waveform")
    kinds = [(w.findtext("WaveformType") or "").strip() for w in waves]
    if "Rhythm" not in kinds:
        raise _bad(path, "Waveform/WaveformType", "a 'Rhythm' waveform (a 'Median' beat is no "
                   "recording)", kinds or "no Waveform")
    wave = waves[kinds.index("Rhythm")]
    fs = _number(path, "Rhythm waveform", wave, "SampleBase") * 10 ** _number(
        path, "Rhythm waveform", wave, "SampleExponent", default=0.0)
    names, cols = [], []
    for lead in wave.findall("LeadData"):
        lead_id = (lead.findtext("LeadID") or "").strip()
        _add_lead(path, f"LeadID {lead_id!r}", lead_id, names, cols,
                  lambda: _muse_lead(path, lead, lead_id, units))
    extra = dict(rhythm=_muse_statements(root), measurements=_measurements(
        [root.find("RestingECGMeasurements"), root.find("OriginalRestingECGMeasurements")],
        _MUSE_MEASUREMENTS))
    return _stack(path, names, cols), names, _snap_rate(fs), extra


def _muse_statements(root) -> str | None:
    """The confirmed ``Diagnosis`` statements (else the cart's ``OriginalDiagnosis``), each
    ``DiagnosisStatement/StmtText``, joined by '; '."""
    for group in ("Diagnosis", "OriginalDiagnosis"):
        texts = [(t.text or "").strip()
                 for t in root.findall(f"{group}/DiagnosisStatement/StmtText")]
        if any(texts):
            return "; ".join(t for t in texts if t)
    return None


def _measurements(groups, names: dict) -> dict | None:
    """{DICOM-style name: value} of the numeric children ``names`` of the first of
    ``groups`` (elements or None) that states each."""
    out = {}
    for el in groups:
        for tag, name in names.items():
            text = None if el is None else (el.findtext(tag) or "").strip()
            if name not in out and text and _is_number(text):
                out[name] = float(text)
    return out or None


def _add_lead(path, what: str, lead_id: str, names: list, cols: list, read) -> None:
    """Append the lead ``lead_id`` (read by ``read()``) unless it is no lead of the drive
    (left out, logged); a lead twice is refused."""
    name = _CANON.get(_lead_key(lead_id))
    if name is None:
        log.info("%s: %s is no lead of the drive; left out", path, what)
        return
    if name in names:
        raise _bad(path, what, "each lead once", "a second one")
    cols.append(read())
    names.append(name)


def _muse_lead(path, lead, lead_id: str, units):
    where = f"lead {lead_id}"
    size = _number(path, where, lead, "LeadSampleSize", default=2.0)
    if size != 2:
        raise _bad(path, f"{where} LeadSampleSize", "2 (int16 samples)", size)
    offset = _number(path, where, lead, "LeadOffsetFirstSample", default=0.0)
    if offset != 0:  # its meaning when non-zero is nowhere documented
        raise _bad(path, f"{where} LeadOffsetFirstSample", "0", offset)
    unit = (lead.findtext("LeadAmplitudeUnits") or "").strip()
    gain = _number(path, where, lead, "LeadAmplitudeUnitsPerBit") * _scale(
        path, f"{where} LeadAmplitudeUnits", _MUSE_UNITS.get(unit.upper(), unit), units)
    text = "".join((lead.findtext("WaveFormData") or "").split())
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise _bad(path, f"{where} WaveFormData", "base64 of int16 samples", repr(e)) from None
    want = _number(path, where, lead, "LeadSampleCountTotal", default=len(raw) / 2)
    if len(raw) % 2 or len(raw) // 2 != want:
        raise _bad(path, f"{where} WaveFormData", f"{want:.0f} int16 samples "
                   "(LeadSampleCountTotal)", f"{len(raw)} bytes")
    baseline = _number(path, where, lead, "FirstSampleBaseline", default=0.0)
    return (np.frombuffer(raw, dtype="<i2").astype(np.float64) + baseline) * gain


# ---- Philips -------------------------------------------------------------------------------
# Philips' SierraECG schema 1.04.01 (in sierra-ecg-tools): "all amplitudes are in microvolts
# (uV)", the resolution is "of least significant bit, in uV (eg., 5)"; the 1.03 schema's
# signalresolution takes the same values (1.25, 2.5, 5, 10, 20).
_PHILIPS_STD12 = ("STD-12", "10-WIRE")  # 1.03: leads I..aVF, V1..V6 in this order
_PHILIPS_MEASUREMENTS = {
    "meanventrate": "Ventricular Heart Rate (/min)", "meanprint": "PR Interval (ms)",
    "meanqrsdur": "QRS Duration (ms)", "meanqtint": "QT Interval (ms)",
    "meanqtc": "QTc Interval (ms)", "pfrontaxis": "P Axis (deg)",
    "qrsfrontaxis": "QRS Axis (deg)", "tfrontaxis": "T Axis (deg)"}


def _philips(path, root, units):
    """Philips Sierra/PageWriter XML (1.03, 1.04, 1.04.01): ``waveforms/parsedwaveforms``
    holds every lead, one after the other, as ``Plain`` text numbers, ``Base64`` of int16
    little-endian, or XLI-coded (``xli``); value = (number - signaloffset) x resolution uV."""
    wf = root.find("waveforms/parsedwaveforms")
    sig = root.find("dataacquisition/signalcharacteristics")
    if wf is None or sig is None:
        raise _bad(path, "waveforms/parsedwaveforms", "the waveforms and "
                   "dataacquisition/signalcharacteristics of a Philips ECG", "none")
    a = wf.attrib
    fs = _philips_attr(path, wf, "samplespersecond") if "samplespersecond" in a else _number(
        path, "signalcharacteristics", sig, "samplingrate")
    uv = _philips_resolution(path, wf, sig)
    bits = a.get("bitspersample", a.get("nbitspersample", "16"))
    if bits != "16" or a.get("signalsigned", "True") != "True":
        raise _bad(path, "parsedwaveforms bitspersample", "16-bit signed samples",
                   f"{bits} bits, signed {a.get('signalsigned')}")
    labels = _philips_labels(path, wf, sig)
    n = round(_philips_attr(path, wf, "durationperchannel") * fs / 1000.0)
    counts = _philips_counts(path, wf, labels, n)
    offset = _philips_attr(path, wf, "signaloffset") if "signaloffset" in a else 0.0
    mv = uv * _scale(path, "parsedwaveforms resolution", "uV", units)
    names, cols = [], []
    for label, count in zip(labels, counts):
        _add_lead(path, f"lead {label!r}", label, names, cols,
                  lambda c=count: (c.astype(np.float64) - offset) * mv)
    extra = dict(rhythm=_philips_statements(root), measurements=_measurements(
        [root.find("measurements/globalmeasurements"),
         root.find("measurements/crossleadmeasurements")], _PHILIPS_MEASUREMENTS))
    return _without_calibration(path, _stack(path, names, cols)), names, _snap_rate(fs), extra


def _without_calibration(path, data: np.ndarray) -> np.ndarray:
    """The samples before the tail that is the same in every lead: Philips ends each
    channel's 11 s with 0, a 1 mV 200 ms calibration pulse and 0 in all leads at once
    (seen in every public Philips file), which is no ECG."""
    if data.shape[1] < 2:
        return data
    differs = np.flatnonzero(~(data == data[:, :1]).all(axis=1))
    end = differs[-1] + 1 if differs.size else 0
    if end < data.shape[0]:
        log.info("%s: the last %d samples are the same in every lead (the calibration "
                 "pulse); left out", path, data.shape[0] - end)
    return data[:end]


def _philips_attr(path, wf, name: str) -> float:
    try:
        return float(wf.attrib[name])
    except (KeyError, ValueError):
        raise _bad(path, f"parsedwaveforms {name}", "a number",
                   repr(wf.attrib.get(name, "none"))) from None


def _philips_resolution(path, wf, sig) -> float:
    """uV per step: the waveform's own ``resolution`` (1.04), else the acquisition's
    ``resolution`` (1.04) or ``signalresolution`` (1.03)."""
    if "resolution" in wf.attrib:
        return _philips_attr(path, wf, "resolution")
    field_ = "resolution" if sig.find("resolution") is not None else "signalresolution"
    return _number(path, "signalcharacteristics", sig, field_)


def _philips_labels(path, wf, sig) -> list[str]:
    """The lead names, in the order of the data: ``leadlabels`` (1.04), else the 1.03
    acquisition type's standard order for its ``numberchannelsvalid`` channels."""
    if wf.get("leadlabels"):
        labels = wf.get("leadlabels").split()
        k = int(_philips_attr(path, wf, "numberofleads")) if "numberofleads" in wf.attrib \
            else len(labels)
        return labels[:k]
    kind = (sig.findtext("acquisitiontype") or "").strip()
    if kind not in _PHILIPS_STD12:
        raise _bad(path, "signalcharacteristics acquisitiontype", f"one of {_PHILIPS_STD12} "
                   "(leads in the standard order) or parsedwaveforms leadlabels", repr(kind))
    k = int(_number(path, "signalcharacteristics", sig, "numberchannelsvalid", default=12))
    return list(xli.LIMB_ORDER + ("V1", "V2", "V3", "V4", "V5", "V6"))[:k]


def _philips_counts(path, wf, labels: list[str], n: int) -> list[np.ndarray]:
    """Each lead's n numbers as stored (XLI's limb leads restored)."""
    a, where = wf.attrib, "waveforms/parsedwaveforms"
    method = a.get("compression") or (a.get("compressmethod")
                                      if a.get("compressflag") == "True" else None)
    encoding = a.get("dataencoding", "")
    if method not in (None, "", "XLI") or (method and encoding != "Base64"):
        raise _bad(path, f"{where} compression", "none (Plain or Base64 data) or 'XLI' "
                   "(Base64 data)", f"{method!r} ({encoding} data)")
    if method == "XLI":
        return _philips_xli(path, _philips_base64(path, wf), labels, n)
    if encoding == "Plain":
        tokens = (wf.text or "").split()
        bad = next((t for t in tokens if not _is_number(t)), None)
        if bad is not None:
            raise _bad(path, where, "Plain data: numbers separated by spaces", repr(bad))
        flat = np.array(tokens, dtype=np.float64)
    elif encoding == "Base64":
        raw = _philips_base64(path, wf)
        flat = np.frombuffer(raw[:len(raw) // 2 * 2], dtype="<i2")
    else:
        raise _bad(path, f"{where} dataencoding", "'Base64' or 'Plain'", repr(encoding))
    if flat.size != n * len(labels):
        raise _bad(path, where, f"{len(labels)} leads x {n} samples (durationperchannel x "
                   "rate)", f"{flat.size} numbers")
    return [flat[i * n:(i + 1) * n] for i in range(len(labels))]


def _philips_base64(path, wf) -> bytes:
    try:
        return base64.b64decode("".join((wf.text or "").split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise _bad(path, "waveforms/parsedwaveforms", "base64 data", repr(e)) from None


def _philips_xli(path, raw: bytes, labels: list[str], n: int) -> list[np.ndarray]:
    """The XLI chunks of the first len(labels) leads, cut to n samples each (the coder
    writes chunks for channels beyond the valid ones: 16 where 12 are valid)."""
    where = "waveforms/parsedwaveforms"
    if tuple(labels[:6]) != xli.LIMB_ORDER:
        raise _bad(path, f"{where} leadlabels", "I II III aVR aVL aVF first (XLI codes III, "
                   "aVR, aVL and aVF from I and II)", " ".join(labels[:6]))
    try:
        leads = xli.decode_chunks(raw)
    except xli.XliError as e:
        raise _bad(path, where, "XLI-coded leads", str(e)) from None
    sizes = [x.size for x in leads[:len(labels)]]
    if len(sizes) < len(labels) or min(sizes) < n:
        raise _bad(path, where, f"{len(labels)} XLI-coded leads of at least {n} samples "
                   "(durationperchannel x rate)", f"{len(leads)} leads of {sizes}")
    return [x[:n] for x in xli.restore_limb_leads(leads[:len(labels)])]


def _philips_statements(root) -> str | None:
    """The first interpretation's statements (their left parts; the right part is the
    reason, e.g. 'rate< 50'), joined by '; '."""
    interp = root.find("interpretations/interpretation")
    texts = [] if interp is None else [
        (s.findtext("leftstatement") or "").strip() for s in interp.findall("statement")]
    return "; ".join(t for t in texts if t) or None
