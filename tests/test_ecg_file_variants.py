"""Real-world variants of the ECG formats the recorded-ECG reader claims, each file written
by the format's own writer library (wfdb, pyedflib, pydicom, numpy, csv/pandas): read
right, or refused with one line naming the file, the field and what was expected."""

import csv
from pathlib import Path

import numpy as np
import pytest

from cardioradar.errors import InputDataError
from hardware_sim.subject.ecg_files import load_ecg_recording
from hardware_sim.subject.types import LEADS

DATA = Path(__file__).parent / "data"
# a real 12-lead strip (ecg-plot's example record, tests/data/ecg), 500 Hz, mV: 3 s of it
SRC = load_ecg_recording(DATA / "ecg" / "ecg-plot_12lead_10s_500hz.csv", fs_hz=500.0)
ECG = SRC.ecg_mv[:1500]
UPPER = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def refused(path, *parts, **kw):
    """load_ecg_recording(path) raises one line starting with the file and naming parts."""
    with pytest.raises(InputDataError) as e:
        load_ecg_recording(path, **kw)
    msg = str(e.value)
    assert msg.startswith(str(path)) and "\n" not in msg and "expected" in msg, msg
    for p in parts:
        assert p in msg, msg
    return msg


# ---- WFDB: PTB-XL, PhysioNet/CinC Challenge .mat, PhysioNet lead names and units -----------
def _challenge_record(d: Path, names, ecg_mv=ECG, fs=500):
    """The PhysioNet/CinC Challenge 2020/2021 layout: a MATLAB v4 'val' (leads x samples,
    int16, 1000/mV) read through a .hea that points into it at byte offset 24."""
    sio = pytest.importorskip("scipy.io")
    import wfdb

    dig = np.round(ecg_mv * 1000).astype(np.int16)
    sio.savemat(d / "A0001.mat", {"val": dig.T}, format="4")
    k = len(names)
    wfdb.Record(record_name="A0001", n_sig=k, fs=fs, sig_len=dig.shape[0],
                file_name=["A0001.mat"] * k, fmt=["16"] * k, byte_offset=[24] * k,
                adc_gain=[1000.0] * k, baseline=[0] * k, units=["mV"] * k, adc_res=[16] * k,
                adc_zero=[0] * k, init_value=[int(v) for v in dig[0]], checksum=[0] * k,
                block_size=[0] * k, sig_name=list(names),
                comments=["Age: 74", "Sex: Male", "Dx: 426783006"]).wrheader(write_dir=str(d))
    assert (d / "A0001.hea").read_text().splitlines()[1].startswith("A0001.mat 16+24 1000")
    return d / "A0001.hea"


_WFDB = {  # case: (signal names, units, source columns, scale written, expected leads)
    "ptb-xl 500 Hz upper-case": (UPPER, ["mV"] * 12, list(range(12)), 1, LEADS),
    "MIT-BIH MLII + V5": (["MLII", "V5"], ["mV"] * 2, [1, 10], 1, ("II", "V5")),
    "ML2 + V1": (["ML2", "V1"], ["mV"] * 2, [1, 6], 1, ("II", "V1")),
    "European ST-T MLIII": (["MLIII", "V4"], ["mV"] * 2, [2, 9], 1, ("III", "V4")),
    "one 'ECG' (lead II)": (["ECG"], ["mV"], [1], 1, ("II",)),
    "'ECG1', 'ECG2': first as II": (["ECG1", "ECG2"], ["mV"] * 2, [1, 6], 1, ("II",)),
    "'ECG 1', 'ECG 2' (wfdb's test01_00s): first as II": (["ECG 1", "ECG 2"], ["mV"] * 2, [1, 6],
                                                         1, ("II",)),
    "unstated chest 'V' alone": (["V"], ["mV"], [1], 1, ("II",)),
    "'ECG lead II'": (["ECG lead II"], ["mV"], [1], 1, ("II",)),
    "no description (Challenge 2017)": ([""], ["mV"], [1], 1, ("II",)),
    "generic left out beside II": (["II", "ECG"], ["mV"] * 2, [1, 6], 1, ("II",)),
    "uV": (["II", "V1"], ["uV"] * 2, [1, 6], 1000, ("II", "V1")),
    "µV (micro sign)": (["II", "V1"], ["\u00b5V"] * 2, [1, 6], 1000, ("II", "V1")),
    "µV (Greek mu)": (["II", "V1"], ["\u03bcV"] * 2, [1, 6], 1000, ("II", "V1")),
    "V": (["II"], ["V"], [1], 1e-3, ("II",)),
    "no units (WFDB: mV)": (["II"], [""], [1], 1, ("II",)),
    "RESP in NU left out": (["II", "RESP"], ["mV", "NU"], [1, 6], 1, ("II",)),
}


@pytest.mark.parametrize("case", list(_WFDB))
def test_wfdb_variants(tmp_path, case):
    import wfdb

    names, units, cols, scale, want = _WFDB[case]
    x = ECG[:, cols] * scale
    wfdb.wrsamp("r", fs=500, units=units, sig_name=names, p_signal=x, fmt=["16"] * len(names),
                write_dir=str(tmp_path))
    rec = load_ecg_recording(tmp_path / "r.hea")
    assert rec.leads == want and rec.fs_hz == 500.0
    ref = ECG[:, cols[:len(want)]]  # the kept signals are the first ones written
    np.testing.assert_allclose(rec.ecg_mv, ref, atol=2e-3 + 1e-3 * np.abs(ref).max())


def test_ptbxl_100hz_and_challenge_mat_records(tmp_path):
    import wfdb

    wfdb.wrsamp("00001_lr", fs=100, units=["mV"] * 12, sig_name=UPPER, p_signal=ECG[::5],
                fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12,
                write_dir=str(tmp_path))
    lr = load_ecg_recording(tmp_path / "00001_lr.hea")
    assert lr.leads == LEADS and lr.fs_hz == 100.0 and lr.ecg_mv.shape == (300, 12)
    np.testing.assert_allclose(lr.ecg_mv, ECG[::5], atol=1e-3)
    for names in (list(LEADS), [n.lower() for n in UPPER]):
        hea = _challenge_record(tmp_path, names)
        for p in (hea, hea.with_suffix(".mat")):  # the record by its .hea or its .mat
            rec = load_ecg_recording(p)
            assert rec.leads == LEADS and rec.fs_hz == 500.0
            np.testing.assert_allclose(rec.ecg_mv, ECG, atol=1e-3)
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "A0002.mat").write_bytes((tmp_path / "A0001.mat").read_bytes())
    refused(bare / "A0002.mat", "file type", ".hea")


def test_challenge_header_dx_is_the_rhythm(tmp_path):
    """A Challenge header's '# Dx:' SNOMED CT codes are the record's stated rhythm (by the
    Challenge's own names; an unknown code kept as a code); an AF statement makes the
    conducted beats kind 'F'. Without a Dx line the rhythm stays unstated."""
    from hardware_sim.subject.ecg_files import is_af_rhythm

    hea = _challenge_record(tmp_path, list(LEADS))
    assert load_ecg_recording(hea).rhythm == "sinus rhythm"
    text = hea.read_text()
    hea.write_text(text.replace("Dx: 426783006", "Dx: 164889003,59118001,123456789"))
    rec = load_ecg_recording(hea)
    assert rec.rhythm == "atrial fibrillation; right bundle branch block; SNOMED CT 123456789"
    assert is_af_rhythm(rec.rhythm) and rec.beat_kinds is None  # no .atr: no beats given
    hea.write_text("\n".join(ln for ln in text.splitlines() if "Dx:" not in ln) + "\n")
    assert load_ecg_recording(hea).rhythm is None


def test_wfdb_unit_that_is_no_voltage_is_refused_or_given(tmp_path):
    import wfdb

    wfdb.wrsamp("r", fs=500, units=["NU", "NU"], sig_name=["II", "V1"], p_signal=ECG[:, [1, 6]],
                fmt=["16"] * 2, write_dir=str(tmp_path))
    refused(tmp_path / "r.hea", "signal 'II' units", "'NU'", "units argument")
    rec = load_ecg_recording(tmp_path / "r.hea", units="mV")
    np.testing.assert_allclose(rec.ecg_mv, ECG[:, [1, 6]], atol=1e-3)


def _segments(d: Path, master: str, segs, layout=False):
    """A WFDB multi-segment record: each segment written by wfdb.wrsamp ((name, units of II
    and V1, samples) or ('~', None, n) for a gap), the master .hea listing them, as
    PhysioNet's long records (MIMIC waveforms) have it; a variable layout starts with a
    layout segment of length 0."""
    import wfdb

    lines = []
    if layout:
        (d / f"{master}_layout.hea").write_text(
            f"{master}_layout 2 500 0\n~ 0 200/mV 16 0 0 0 0 II\n~ 0 200/mV 16 0 0 0 0 V1\n")
        lines.append(f"{master}_layout 0")
    for name, units, x in segs:
        if name == "~":
            lines.append(f"~ {x}")
            continue
        k = x.shape[1]
        wfdb.wrsamp(name, fs=500, units=units[:k], sig_name=["II", "V1", "RESP"][:k],
                    p_signal=x * [1000.0 if u == "uV" else 1.0 for u in units[:k]],
                    fmt=["16"] * k, write_dir=str(d))
        lines.append(f"{name} {x.shape[0]}")
    total = sum(x if n == "~" else x.shape[0] for n, _, x in segs)
    (d / f"{master}.hea").write_text(f"{master}/{len(lines)} 2 500 {total}\n" + "\n".join(lines)
                                     + "\n")
    return d / f"{master}.hea"


def test_wfdb_multi_segment_records_are_one_recording(tmp_path):
    """Segments one after the other, each at its own .hea's units (wfdb's merged record
    keeps one unit per signal, and the master .hea states none: a uV segment read as mV
    would be 1000x off); a variable layout's layout segment holds no samples."""
    x = ECG[:, [1, 6]]
    for master, layout in (("fixed", False), ("variable", True)):
        hea = _segments(tmp_path, master, [(f"{master}_1", ["mV", "mV"], x[:700]),
                                           (f"{master}_2", ["uV", "uV"], x[700:])], layout)
        rec = load_ecg_recording(hea)
        assert rec.leads == ("II", "V1") and rec.fs_hz == 500.0 and rec.ecg_mv.shape == (1500, 2)
        np.testing.assert_allclose(rec.ecg_mv, x, atol=3e-3)


def test_wfdb_multi_segment_gap_and_missing_lead_are_refused(tmp_path):
    x = ECG[:, [1, 6]]
    gap = _segments(tmp_path, "gap", [("gap_1", ["mV", "mV"], x[:700]), ("~", None, 250),
                                      ("gap_2", ["mV", "mV"], x[700:])])
    refused(gap, "segment '~' at samples 700-949", "a gap is not bridged",
            "a gap of 250 samples")
    lost = _segments(tmp_path, "lost", [("lost_1", ["mV", "mV"], x[:700]),
                                        ("lost_2", ["mV"], x[700:, :1])], layout=True)
    refused(lost, "segment lost_2: leads", "['II', 'V1']", "['II']")
    nu = _segments(tmp_path, "nu", [("nu_1", ["mV", "mV"], x[:700]),
                                    ("nu_2", ["mV", "NU"], x[700:])])
    refused(nu, "segment nu_2: signal 'V1' units", "'NU'")


def _multi_frequency(d: Path, name: str, ecg_fmt: str, ecg_spf: list[int]):
    """A MIMIC-style multi-frequency record written by hand as the WFDB header spec lays
    it out ('16x4': 4 samples of the signal per frame; frames interleave the signals):
    ECG leads at 125 Hz x spf (spf 4 or 1), ABP once per 125 Hz frame; 8 s."""
    frames = 1000
    cols, lines = [], [f"{name} {len(ecg_spf) + 1} 125 {frames}"]
    for j, spf in enumerate(ecg_spf):
        x = SRC.ecg_mv[:frames * 4:4 // spf, j]  # 500 Hz source, at 125 Hz x spf
        cols.append(np.round(x * 200).reshape(frames, spf))
        lines.append(f"{name}.dat {ecg_fmt}x{spf} 200/mV 16 0 0 0 0 {LEADS[j]}")
    cols.append(np.full((frames, 1), 900))
    lines.append(f"{name}.dat 16 10/mmHg 16 0 0 0 0 ABP")
    (d / f"{name}.dat").write_bytes(np.hstack(cols).astype("<i2").tobytes())
    (d / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return d / f"{name}.hea"


def test_wfdb_multi_frequency_leads_keep_their_own_rate_and_beats(tmp_path):
    """MIMIC's 500 Hz ECG in 125 Hz frames (wfdb's sample 041s: '212x4') was read at
    the frame rate, each 4 samples averaged to one; its annotations count frames."""
    import wfdb

    hea = _multi_frequency(tmp_path, "mf", "16", [4, 4])
    rec = load_ecg_recording(hea)
    assert rec.fs_hz == 500.0 and rec.leads == ("I", "II") and rec.ecg_mv.shape == (4000, 2)
    np.testing.assert_allclose(rec.ecg_mv, SRC.ecg_mv[:4000, :2], atol=3e-3)
    wfdb.wrann("mf", "atr", np.array([100, 200, 300]), symbol=["N", "V", "N"],
               write_dir=str(tmp_path))  # no time resolution of its own: frame ticks
    rec = load_ecg_recording(hea)
    assert list(rec.beat_samples) == [400, 800, 1200] and rec.beat_kinds == ("N", "V", "N")
    mixed = _multi_frequency(tmp_path, "mixed", "16", [4, 1])
    refused(mixed, "samples per frame", "one rate for all ECG leads", "I: 500 Hz, II: 125 Hz")


@pytest.mark.parametrize("fmt", ["16", "212"])
def test_wfdb_invalid_samples_are_named_as_the_format_marks_them(tmp_path, fmt):
    """MIMIC/VFDB records mark samples with no data by the format's invalid value (-32768 in
    format 16, -2048 in 212; wfdb's sample v102s has 3 in lead II): refused, said so."""
    import wfdb

    x = ECG[:, [1, 6]].copy()
    x[[700, 701, 1200], 0] = np.nan  # wrsamp writes NaN as the format's invalid value
    wfdb.wrsamp("gaps", fs=500, units=["mV"] * 2, sig_name=["II", "V1"], p_signal=x,
                fmt=[fmt] * 2, adc_gain=[200.0] * 2, baseline=[0] * 2, write_dir=str(tmp_path))
    refused(tmp_path / "gaps.hea", "signal 'II', sample 700 (1.400 s)", "invalid-sample value",
            "3 such sample(s)", "not bridged")


def test_wfdb_without_ecg_lead_or_signal_file_says_what_the_record_holds(tmp_path):
    """A MIMIC-style record of 'MCL1', 'ABP', 'RESP' (wfdb's sample 03700181) and a .hea
    whose .dat was not copied (wfdb's sample 1003): the error names the signals, or the file."""
    import wfdb

    x = np.column_stack([ECG[:, 1], ECG[:, 1] * 40 + 80, ECG[:, 2]])
    wfdb.wrsamp("vitals", fs=500, units=["mV", "mmHg", "NU"], sig_name=["MCL1", "ABP", "RESP"],
                p_signal=x, fmt=["16"] * 3, write_dir=str(tmp_path))
    refused(tmp_path / "vitals.hea", "leads", "or as 'ECG'", "signals ['MCL1', 'ABP', 'RESP']")
    wfdb.wrsamp("nodat", fs=500, units=["mV"], sig_name=["II"], p_signal=ECG[:, 1:2],
                fmt=["16"], write_dir=str(tmp_path))
    (tmp_path / "nodat.dat").unlink()
    refused(tmp_path / "nodat.hea", "WFDB signal file", "'nodat.dat' beside the .hea",
            "no such file")


# ---- EDF / EDF+ / BDF as Holter and PSG exports label them -----------------------------------
def _edf(path, chans, file_type=None, annotation=False):
    """chans: (label, dimension, rate Hz, samples); 3 s; written by pyedflib."""
    import pyedflib

    bdf = path.suffix == ".bdf"
    ftype = file_type if file_type is not None else (
        pyedflib.FILETYPE_BDFPLUS if bdf else pyedflib.FILETYPE_EDFPLUS)
    dmax = 2**23 - 1 if bdf else 2**15 - 1
    hdrs = [{"label": lab, "dimension": dim, "sample_frequency": fs,
             "physical_max": float(np.ceil(np.abs(x).max() + 1)),
             "physical_min": -float(np.ceil(np.abs(x).max() + 1)),
             "digital_max": dmax, "digital_min": -dmax - 1} for lab, dim, fs, x in chans]
    with pyedflib.EdfWriter(str(path), len(chans), file_type=ftype) as f:
        f.setSignalHeaders(hdrs)
        if annotation:
            f.writeAnnotation(1.0, -1, "Lights off")
        f.writeSamples([np.ascontiguousarray(x, dtype=np.float64) for *_, x in chans])
    return path


I_, II_ = ECG[:, 0], ECG[:, 1]
_EDF = {  # case: (channels, expected leads, expected mV columns)
    "ECG I + ECG II, EDF+ annotations": ([("ECG I", "mV", 500, I_), ("ECG II", "mV", 500, II_)],
                                         ("I", "II"), [I_, II_]),
    "EKG II": ([("EKG II", "mV", 500, II_)], ("II",), [II_]),
    "ECG II-Ref in uV": ([("ECG II-Ref", "uV", 500, II_ * 1000)], ("II",), [II_]),
    "ECG1 (lead II)": ([("ECG1", "mV", 500, II_)], ("II",), [II_]),
    "ECG (lead II)": ([("ECG", "mV", 500, II_)], ("II",), [II_]),
    "bare I": ([("I", "mV", 500, I_)], ("I",), [I_]),
    "PSG: EEG, SpO2, Pleth at other rates": (
        [("EEG C3-A2", "uV", 250, np.zeros(750)), ("ECG II", "uV", 500, II_ * 1000),
         ("SpO2", "%", 1, np.full(3, 97.0)), ("Pleth", "", 100, np.zeros(300))],
        ("II",), [II_]),
    "BDF+ 24 bit uV": ([("ECG I", "uV", 500, I_ * 1000), ("ECG II", "uV", 500, II_ * 1000)],
                       ("I", "II"), [I_, II_]),
}


@pytest.mark.parametrize("case", list(_EDF))
def test_edf_variants(tmp_path, case):
    chans, want, cols = _EDF[case]
    suffix = ".bdf" if case.startswith("BDF") else ".edf"
    p = _edf(tmp_path / f"x{suffix}", chans, annotation="annotations" in case)
    rec = load_ecg_recording(p)
    assert rec.leads == want and rec.fs_hz == 500.0
    np.testing.assert_allclose(rec.ecg_mv[:1500], np.column_stack(cols), atol=2e-3)


def test_edf_refusals(tmp_path):
    import pyedflib

    plain = _edf(tmp_path / "plain.edf", [("ECG II", "mV", 500, II_)],
                 file_type=pyedflib.FILETYPE_EDF)
    assert load_ecg_recording(plain).leads == ("II",)  # plain EDF (no annotations channel)
    nodim = _edf(tmp_path / "nodim.edf", [("ECG II", "", 500, II_)])
    refused(nodim, "channel 'ECG II' physical dimension", "''", "units argument")
    assert load_ecg_recording(nodim, units="mV").ecg_mv[:1500, 0] == pytest.approx(II_, abs=2e-3)
    # EDF headers are ASCII: pyedflib writes 'µV' as 'AuV', refused rather than guessed
    micro = _edf(tmp_path / "micro.edf", [("ECG II", "\u00b5V", 500, II_ * 1000)])
    refused(micro, "channel 'ECG II' physical dimension", "'AuV'")
    rates = _edf(tmp_path / "rates.edf", [("ECG I", "mV", 250, I_[::2]), ("ECG II", "mV", 500, II_)])
    refused(rates, "sample rates", "250", "500")
    eeg = _edf(tmp_path / "eeg.edf", [("EEG Fpz-Cz", "uV", 500, II_), ("EOG horizontal", "uV", 500, I_)])
    refused(eeg, "leads", "or as 'ECG'", "channels ['EEG Fpz-Cz', 'EOG horizontal'], none an ECG lead")
    # a 64-channel EEG (BCI2000's EDF in biosignalsnotebooks): the first 12 and a count
    many = _edf(tmp_path / "eeg64.edf", [(f"C{i}", "uV", 500, II_) for i in range(20)])
    msg = refused(many, "channels ['C0', 'C1',", "'C11'] and 8 more, none an ECG lead")
    assert "'C12'" not in msg


@pytest.mark.parametrize("suffix", [".edf", ".bdf"])
def test_edf_plus_d_discontinuous_is_refused_in_one_line(tmp_path, suffix):
    """EDF+D: the header's reserved field says the data records may have gaps between them
    (pyedflib writes only EDF+C, so the test marks its file discontinuous, as a Holter's
    export with a pause would be); pyedflib opens no such file, the reader says why."""
    p = _edf(tmp_path / f"holter{suffix}", [("ECG II", "mV", 500, II_)])
    b = bytearray(p.read_bytes())
    assert b[192:197] in (b"EDF+C", b"BDF+C")
    b[196:197] = b"D"
    p.write_bytes(bytes(b))
    refused(p, f"holter{suffix}: EDF+ header reserved field", "a continuous recording",
            f"'{suffix[1:].upper()}+D' (discontinuous)")


def test_single_unnamed_ecg_channel_drives_with_a_lead_ii_truth(tmp_path):
    """docs/simulator.md's single-lead contract, for a PSG's lone 'ECG' channel."""
    pytest.importorskip("neurokit2")
    from hardware_sim.subject.recorded import RecordedHeart

    full = SRC.ecg_mv[:, 1]  # 10 s: enough beats for the R-peak finder
    h = RecordedHeart(load_ecg_recording(_edf(tmp_path / "psg.edf", [("ECG", "uV", 500, full * 1000)])))
    assert h.truth_leads == ("II",) and h.recording.leads == ("II",)


# ---- CSV / TSV / TXT as spreadsheets and cart software export them ---------------------------
X2 = ECG[:, :2]  # leads I, II
T = np.arange(X2.shape[0]) / 500.0


def _dc(v):
    return f"{v:.4f}".replace(".", ",")


def _rows(case):
    """(header rows + data rows, writer options) for one export variant."""
    f4 = [[f"{a:.4f}", f"{b:.4f}"] for a, b in X2]
    uv = [[round(a * 1000), round(b * 1000)] for a, b in X2]
    idx = [[i] + r for i, r in enumerate(f4)]
    return {
        "';' + decimal comma + time (s)": ([["Time (s)", "I", "II"]]
                                           + [[_dc(t), _dc(a), _dc(b)] for t, (a, b) in zip(T, X2)],
                                           dict(delimiter=";")),
        "tab + decimal comma": ([["I", "II"]] + [[_dc(a), _dc(b)] for a, b in X2],
                                dict(delimiter="\t")),
        "units row": ([["time", "I", "II"], ["s", "mV", "mV"]]
                      + [[f"{t:.4f}"] + r for t, r in zip(T, f4)], {}),
        "uV integers, 'I (µV)'": ([["I (\u00b5V)", "II (\u00b5V)"]] + uv, {}),
        "uV integers, units row µ/μ": ([["I", "II"], ["\u00b5V", "\u03bcV"]] + uv, {}),
        "'Lead I', 'Lead II'": ([["Lead I", "Lead II"]] + f4, {}),
        "'I (mV)'": ([["I (mV)", "II (mV)"]] + f4, {}),
        "lower-case 'i', 'ii'": ([["i", "ii"]] + f4, {}),
        "'ECG I', 'EKG II'": ([["ECG I", "EKG II"]] + f4, {}),
        "'time (ms)'": ([["time (ms)", "I", "II"]]
                        + [[f"{t * 1000:.0f}"] + r for t, r in zip(T, f4)], {}),
        "UTF-8 BOM": ([["I", "II"]] + f4, dict(encoding="utf-8-sig")),
        "Windows line ends": ([["I", "II"]] + f4, dict(lineterminator="\r\n")),
        "Excel 'Unicode text' (UTF-16, tab)": ([["I", "II"]] + f4,
                                               dict(encoding="utf-16", delimiter="\t",
                                                    lineterminator="\r\n")),
        "cp1252 'I [µV]'": ([["I [\u00b5V]", "II [\u00b5V]"]] + uv,
                            dict(encoding="cp1252", delimiter=";")),
        "trailing empty columns": ([["I", "II", "", ""]] + [r + ["", ""] for r in f4],
                                   dict(delimiter=";")),
        "trailing delimiter on the header only": ([["I", "II", ""]] + f4, {}),
        "'sample' column": ([["sample", "I", "II"]] + idx, {}),
        "'index' column": ([["index", "I", "II"]] + idx, {}),
    }[case]


_CSV_CASES = ["';' + decimal comma + time (s)", "tab + decimal comma", "units row",
              "uV integers, 'I (µV)'", "uV integers, units row µ/μ", "'Lead I', 'Lead II'",
              "'I (mV)'", "lower-case 'i', 'ii'", "'ECG I', 'EKG II'", "'time (ms)'",
              "UTF-8 BOM", "Windows line ends", "Excel 'Unicode text' (UTF-16, tab)",
              "cp1252 'I [µV]'", "trailing empty columns", "trailing delimiter on the header only",
              "'sample' column", "'index' column"]


def _write(path, rows, encoding="utf-8", lineterminator="\n", delimiter=","):
    with open(path, "w", newline="", encoding=encoding) as f:
        csv.writer(f, delimiter=delimiter, lineterminator=lineterminator).writerows(rows)
    return path


@pytest.mark.parametrize("case", _CSV_CASES)
def test_text_variants(tmp_path, case):
    rows, opts = _rows(case)
    p = _write(tmp_path / "export.csv", rows, **opts)
    rec = load_ecg_recording(p, fs_hz=500.0)
    assert rec.leads == ("I", "II") and rec.fs_hz == 500.0
    np.testing.assert_allclose(rec.ecg_mv, X2, atol=1e-3)


def test_pandas_to_csv_with_its_unnamed_index(tmp_path):
    pd = pytest.importorskip("pandas")
    p = tmp_path / "df.csv"
    pd.DataFrame(X2, columns=["I", "II"]).to_csv(p)  # header ',I,II', index 0, 1, 2, ...
    assert p.read_text().startswith(",I,II\n0,")
    rec = load_ecg_recording(p, fs_hz=500.0)
    assert rec.leads == ("I", "II")
    np.testing.assert_allclose(rec.ecg_mv, X2, atol=1e-9)


@pytest.mark.parametrize("first", [0, 1])
def test_headerless_sample_number_and_value(tmp_path, first):
    """'sample,value' lines without a header (a script's export): the sample numbers are left
    out, the values are lead II; two unnamed leads are still refused (which is which?)."""
    p = _write(tmp_path / "idx.csv", [[str(first + i), f"{b:.4f}"] for i, b in enumerate(X2[:, 1])])
    rec = load_ecg_recording(p, fs_hz=500.0)
    assert rec.leads == ("II",)
    np.testing.assert_allclose(rec.ecg_mv[:, 0], X2[:, 1], atol=1e-4)
    refused(_write(tmp_path / "two.csv", [[f"{a:.4f}", f"{b:.4f}"] for a, b in X2]), "2 unnamed columns")


@pytest.mark.parametrize("cell, got", [("", "expected a number, got ''"),
                                       ("NaN", "expected a finite number, got 'NaN'")])
def test_text_gap_in_a_lead_is_refused_naming_row_and_column(tmp_path, cell, got):
    rows = [["time_s", "I", "II"]] + [[f"{t:.3f}", f"{a:.4f}", f"{b:.4f}"]
                                      for t, (a, b) in zip(T, X2)]
    rows[101][2] = cell  # file line 102
    refused(_write(tmp_path / "gap.csv", rows), f"column 'II', line 102: {got}")


def test_quoted_decimal_commas_in_a_comma_file_are_refused_at_their_line(tmp_path):
    rows = [["I", "II"]] + [[_dc(a), _dc(b)] for a, b in X2]  # csv quotes them: "0,0244"
    p = _write(tmp_path / "quoted.csv", rows)
    assert p.read_text().splitlines()[1].startswith('"')
    refused(p, f"column 'I', line 2: expected a number, got '{_dc(X2[0, 0])}'", fs_hz=500.0)


def test_text_without_unit_beyond_any_mv_ecg_is_refused(tmp_path):
    """uV integers under a bare 'I' header would be read as mV, 1000x off: refused."""
    rows = [["I", "II"]] + [[round(a * 1000), round(b * 1000)] for a, b in X2]
    p = _write(tmp_path / "uv.csv", rows)
    refused(p, "column 'I'", "expected mV", "units argument", fs_hz=500.0)
    np.testing.assert_allclose(load_ecg_recording(p, fs_hz=500.0, units="uV").ecg_mv, X2, atol=1e-3)


# ---- DICOM 12-lead ECG waveforms (pydicom) -----------------------------------------------------
def test_dicom_variants(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    src = DATA / "ecg-suite" / "dicom_mortara-el250_12lead_10s_1000hz.dcm"
    ref = load_ecg_recording(src)

    def variant(name, edit):
        ds = pydicom.dcmread(str(src))
        edit(ds)
        ds.save_as(str(tmp_path / name))
        return tmp_path / name

    def in_mv(ds):  # the same samples, their sensitivity stated in mV
        for ch in ds.WaveformSequence[0].ChannelDefinitionSequence:
            ch.ChannelSensitivity = float(ch.ChannelSensitivity) / 1000.0
            ch.ChannelSensitivityUnitsSequence[0].CodeValue = "mV"
            ch.ChannelSensitivityUnitsSequence[0].CodeMeaning = "millivolt"

    def unlabelled(ds):  # no group labels: the longest group is the rhythm
        for g in ds.WaveformSequence:
            del g.MultiplexGroupLabel

    def no_units(ds):  # sensitivity units missing: raw counts, no unit
        del ds.WaveformSequence[0].ChannelDefinitionSequence[0].ChannelSensitivityUnitsSequence

    for name, edit in (("mv.dcm", in_mv), ("unlabelled.dcm", unlabelled)):
        rec = load_ecg_recording(variant(name, edit))
        assert rec.leads == LEADS and rec.fs_hz == 1000.0, name
        np.testing.assert_allclose(rec.ecg_mv, ref.ecg_mv, atol=1e-9, err_msg=name)
    bad = variant("nounits.dcm", no_units)
    refused(bad, "channel 'Lead I (Einthoven)' sensitivity units", "''", "units argument")
    assert load_ecg_recording(bad, units="uV").leads == LEADS


def test_dicom_without_waveforms_or_not_dicom_refused(tmp_path):
    """A DICOM object of another kind (an image, a plan) is named by its SOP class; bytes that
    are no DICOM say so; neither shows a Python exception's repr."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.uid import UID

    ds = pydicom.dcmread(str(DATA / "ecg-suite" / "dicom_mortara-el250_12lead_10s_1000hz.dcm"))
    del ds.WaveformSequence
    ds.SOPClassUID = UID("1.2.840.10008.5.1.4.1.1.2")  # CT Image Storage
    ds.save_as(str(tmp_path / "ct.dcm"))
    msg = refused(tmp_path / "ct.dcm", "DICOM", "WaveformSequence", "CT Image Storage without waveforms")
    assert "Error(" not in msg
    (tmp_path / "text.dcm").write_text("not a DICOM file at all\n")
    msg = refused(tmp_path / "text.dcm", "DICOM", "a readable DICOM file")
    assert "Error(" not in msg


# ---- NPZ ---------------------------------------------------------------------------------------
def test_npz_variants(tmp_path):
    names = list(LEADS[:3])
    np.savez(tmp_path / "bytes.npz", ecg_mv=ECG[:, :3], fs_hz=np.array([500.0]),
             leads=np.array([n.encode() for n in names]))  # 'S' array, 1-element rate
    np.savez(tmp_path / "rows.npz", ecg_mv=ECG[:, :3].T, fs_hz=500, leads=names)  # leads x n
    np.savez(tmp_path / "uv.npz", ecg_mv=ECG[:, :3] * 1000, fs_hz=500.0, leads=names)
    for name, kw in (("bytes.npz", {}), ("rows.npz", {}), ("uv.npz", {"units": "uV"})):
        rec = load_ecg_recording(tmp_path / name, **kw)
        assert rec.leads == ("I", "II", "III") and rec.fs_hz == 500.0, name
        np.testing.assert_allclose(rec.ecg_mv, ECG[:, :3], atol=1e-9, err_msg=name)
    np.savez(tmp_path / "obj.npz", ecg_mv=ECG[:, :1], fs_hz=500.0,
             leads=np.array(["II"], dtype=object))  # needs pickle to read: refused
    refused(tmp_path / "obj.npz", "npz", "plain arrays")
    (tmp_path / "junk.npz").write_text("not a zip")
    refused(tmp_path / "junk.npz", "npz")
    (tmp_path / "cut.npz").write_bytes((tmp_path / "uv.npz").read_bytes()[:300])  # cut short
    refused(tmp_path / "cut.npz", "npz")


# ---- as a user runs it -------------------------------------------------------------------------
def test_sim_record_drives_from_a_challenge_record_and_refuses_a_unitless_edf(tmp_path, capsys):
    """`cardioradar sim record --drive-ecg A0001.hea` (docs/simulator.md), then a bad file."""
    pytest.importorskip("neurokit2")
    from cardioradar.cli import main

    d = tmp_path / "cinc"
    d.mkdir()
    hea = _challenge_record(d, [n.lower() for n in UPPER], SRC.ecg_mv)  # 10 s: beats to find
    out = tmp_path / "rec"
    assert main(["sim", "record", "--seconds", "2", "--out", str(out), "--mode", "fast",
                 "--drive-ecg", str(hea)]) == 0
    truth = np.load(out / "truth.npz")
    assert np.isfinite(truth["ecg_mv"]).all() and truth["ecg_mv"].shape[1] == 12
    bad = _edf(tmp_path / "nodim.edf", [("ECG II", "", 500, SRC.ecg_mv[:, 1])])
    assert main(["sim", "record", "--seconds", "1", "--out", str(tmp_path / "x"), "--mode",
                 "fast", "--drive-ecg", str(bad)]) == 3
    err = capsys.readouterr().err
    assert "nodim.edf: channel 'ECG II' physical dimension: expected one of" in err


@pytest.mark.parametrize("statement, af", [
    ("(AFIB", True), ("Atrial fibrillation with rapid ventricular response", True), ("A-Fib", True),
    ("FIBRILLAZIONE ATRIALE", True), ("Vorhofflimmern", True), ("Fibrillation auriculaire", True),
    ("Fibrilación auricular", True), ("心房颤动", True), ("心房細動", True),
    ("Vorhofflattern", False), ("Atrial flutter", False), ("窦性心律", False), ("sinus rhythm", False), (None, False),
])
def test_af_statements_in_the_carts_languages(statement, af):
    from hardware_sim.subject.ecg_files import is_af_rhythm

    assert is_af_rhythm(statement) is af


# ---- OpenSignals text (PLUX biosignalsplux, BITalino): raw ADC + a JSON header -------------
PLUX_TXT = DATA / "ecg-formats" / "plux-opensignals_supine_10s_1000hz.txt"
PLUX_EDF = DATA / "ecg-formats" / "plux-opensignals_supine_60s_1000hz.edf"


def test_opensignals_text_matches_the_same_recording_as_opensignals_exports_it_to_edf():
    """A real biosignalsplux recording as OpenSignals wrote it twice: raw ADC text (cut to
    10 s) and EDF in mV. The transfer function (PLUX's: 16 bits, 3 V, gain 1019) gives the
    EDF's values within its 16-bit steps; this text was refused as '3 unnamed columns'."""
    txt, edf = load_ecg_recording(PLUX_TXT), load_ecg_recording(PLUX_EDF)
    assert txt.leads == edf.leads == ("II",) and txt.fs_hz == edf.fs_hz == 1000.0
    assert txt.ecg_mv.shape == (10000, 1)
    # the EDF keeps 15 of the ADC's 16 bits (2 counts: 0.09 uV) and writes its range as
    # +-1.47 mV for 1.472 (0.15 % gain): 0.11 uV covers both
    np.testing.assert_allclose(txt.ecg_mv, edf.ecg_mv[:10000], atol=1.1e-4)
    assert 0.5 < np.ptp(txt.ecg_mv[:2000]) < 3.0  # an R wave in mV, not ADC counts
    refused(PLUX_TXT, "fs_hz", "500.0 (argument)", "1000 in the header", fs_hz=500.0)


def _opensignals(path, device, sensor="ECG", resolution=(4, 1, 1, 1, 1, 10), rows=None, **extra):
    """The BITalino layout of pyhrv's SampleECG.txt: nSeq, I1, I2, O1, O2, A2 (the ECG)."""
    import json

    head = {"sensor": [sensor], "column": ["nSeq", "I1", "I2", "O1", "O2", "A2"],
            "channels": [2], "device": device, "sampling rate": 500, "label": ["A2"],
            "resolution": list(resolution), **extra}
    adc = np.round((ECG[:, 1] * 1.1 / 3.3 + 0.5) * 2**10).astype(int) if rows is None else rows
    body = "".join(f"{i % 16}\t1\t1\t0\t0\t{a}\t\n" for i, a in enumerate(adc))
    path.write_text("# OpenSignals Text File Format\n# " + json.dumps({"20:16:02:26:60:88": head})
                    + "\n# EndOfHeader\n" + body)
    return path


def test_opensignals_bitalino_layout_and_refusals(tmp_path):
    rec = load_ecg_recording(_opensignals(tmp_path / "bit.txt", "bitalino"))
    assert rec.leads == ("II",) and rec.fs_hz == 500.0
    np.testing.assert_allclose(rec.ecg_mv[:, 0], ECG[:, 1], atol=3.3 / 1.1 / 2**10)
    refused(tmp_path / "bit.txt", "units", "none for an OpenSignals file", units="uV")
    refused(_opensignals(tmp_path / "dev.txt", "cyton"), "device 20:16:02:26:60:88 'device'",
            "'cyton'")
    refused(_opensignals(tmp_path / "eda.txt", "bitalino", sensor="EDA"), "leads",
            "sensors ['EDA'], none an ECG lead")
    refused(_opensignals(tmp_path / "conv.txt", "bitalino", convertedValues=1), "convertedValues",
            "raw ADC values")
    refused(_opensignals(tmp_path / "res.txt", "bitalino", resolution=(10, 10)), "'resolution'",
            "[10, 10]")
    bad = _opensignals(tmp_path / "row.txt", "bitalino", rows=["512"] * 1400 + ["x"] + ["512"] * 99)
    refused(bad, "line 1404", "a number", "'x'")


def test_text_columns_of_other_signals_are_left_out_as_edf_and_wfdb_leave_them(tmp_path):
    """NeuroKit's own example data (bio_resting_5min_100hz.csv: 'ECG,PPG,RSP') and Polar
    Sensor Logger's ECG export ('Phone timestamp;sensor timestamp [ns];timestamp [ms];ecg
    [uV]', 130 Hz, the header as its writers and readers quote it) were refused at their first
    column that is no lead; a file with no ECG column at all is refused naming its columns."""
    x = ECG[:, 1]
    nk = _write(tmp_path / "bio_resting.csv", [["ECG", "PPG", "RSP"]]
                + [[f"{v:.5f}", f"{-v / 3:.5f}", "0.5"] for v in x])
    rec = load_ecg_recording(nk, fs_hz=500.0)
    assert rec.leads == ("II",)
    np.testing.assert_allclose(rec.ecg_mv[:, 0], x, atol=1e-5)
    t_ms = np.arange(x.size) * 1000 / 130
    psl = _write(tmp_path / "Polar_H10_ECG.txt",
                 [["Phone timestamp", "sensor timestamp [ns]", "timestamp [ms]", "ecg [uV]"]]
                 + [[f"2024-05-01T10:00:{t / 1000:06.3f}", str(599630059061536896 + round(t * 1e6)),
                     f"{t:.6f}".rstrip("0").rstrip(".") if i else "0.0", str(round(v * 1000))]
                    for i, (t, v) in enumerate(zip(t_ms, x))], delimiter=";")
    rec = load_ecg_recording(psl)
    assert rec.leads == ("II",) and rec.fs_hz == pytest.approx(130.0)
    np.testing.assert_allclose(rec.ecg_mv[:, 0], x, atol=1e-3)
    none = _write(tmp_path / "ppg.csv", [["PPG", "RSP"]] + [["0.1", "0.5"]] * 1000)
    refused(none, "leads", "columns ['PPG', 'RSP'], none an ECG lead", fs_hz=500.0)
    # a column that claims to be a lead we do not model is named, not left out unseen
    v4r = _write(tmp_path / "v4r.csv", [["II", "V4R", "PPG"]] + [["0.1", "0.2", "0.5"]] * 1000)
    refused(v4r, "column 'V4R'", "a lead name", fs_hz=500.0)


# ---- Apple Watch ECG exports (Health app: electrocardiograms/ecg_<date>.csv) -------------------
def _apple(path, values, rate="512 hertz", classification="Sinus Rhythm", comma=False):
    """The layout the open readers of Health exports quote: key,value lines, blank lines,
    'Lead,Lead I', 'Unit,µV', one voltage per line (decimal comma in some locales)."""
    head = ["Name,Test Person", 'Date of Birth,"Jan 8, 2002"', "Recorded Date,2026-05-30 16:32:18 -0700",
            f"Classification,{classification}", "Symptoms,", "Software Version,1.90",
            'Device,"Watch7,12"', f"Sample Rate,{rate}", "", "", "Lead,Lead I", "Unit,\u00b5V", "", ""]
    body = [f"{v:.3f}".replace(".", ",") if comma else f"{v:.3f}" for v in values]
    path.write_text("\n".join(head + body) + "\n", encoding="utf-8")
    return path


def test_apple_watch_ecg_export(tmp_path):
    """Refused before as "column 'Name': expected a lead name"."""
    uv = SRC.ecg_mv[:, 0] * 1000
    rec = load_ecg_recording(_apple(tmp_path / "ecg_2026-05-30.csv", uv, rate="512.844 hertz"))
    assert rec.leads == ("I",) and rec.fs_hz == pytest.approx(512.844) and rec.rhythm == "Sinus Rhythm"
    np.testing.assert_allclose(rec.ecg_mv[:, 0], SRC.ecg_mv[:, 0], atol=1e-6)
    af = load_ecg_recording(_apple(tmp_path / "af.csv", uv, classification="Atrial Fibrillation",
                                   comma=True))
    np.testing.assert_allclose(af.ecg_mv[:, 0], SRC.ecg_mv[:, 0], atol=1e-6)
    from hardware_sim.subject.ecg_files import is_af_rhythm

    assert is_af_rhythm(af.rhythm) and af.fs_hz == 512.0
    bad = _apple(tmp_path / "bad.csv", uv)
    bad.write_text(bad.read_text().replace("\n-", "\n--", 1))
    refused(bad, "line", "one voltage per line", "'--")
    refused(_apple(tmp_path / "rate.csv", uv, rate="fast"), "'Sample Rate'", "'fast'")


@pytest.mark.parametrize("suffix, name", [(".scp", "SCP-ECG"), (".acq", "BIOPAC AcqKnowledge"),
                                          (".h5", "HDF5, e.g. OpenSignals' .h5"),
                                          (".pdf", "a PDF: a printed strip holds no samples")])
def test_ecg_containers_not_read_are_named(tmp_path, suffix, name):
    p = tmp_path / f"holter{suffix}"
    p.write_bytes(b"\x00\x01")
    refused(p, "file type", "export the ECG to one of these", f"{suffix} ({name}", "not read here")
