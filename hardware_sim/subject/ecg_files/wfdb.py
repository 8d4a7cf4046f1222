"""WFDB records (``.hea`` with its ``.dat``, or the ``.mat`` signal file of PTB-XL and the
PhysioNet/CinC Challenges; multi-segment records as one recording, gaps refused) -> (n, k)
mV, lead names, rate, and the beats and rhythm of its ``.atr`` annotations when present;
without them, the rhythm a Challenge header states in its ``# Dx:`` comment (SNOMED CT codes).
Needs the ``wfdb`` package (imported on use)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hardware_sim.subject.ecg_files.common import (
    _CANON, _bad, _generic_as_ii, _lead_key, _no_ecg_lead, _scale, is_af_rhythm,
)

# WFDB / MIT-BIH beat annotation codes -> Beat.kind (N sinus/other supraventricular
# conducted, A premature atrial or junctional, V ventricular). Fusion (F), paced (/, f)
# and unclassified (Q) beats are kept as beats of kind N.
_WFDB_BEAT_KIND = {**{c: "N" for c in "NLRBejnF/fQ?"}, **{c: "A" for c in "AaJS"},
                   **{c: "V" for c in "VEr"}}

# SNOMED CT codes of the PhysioNet/CinC Challenge 2020/2021 headers ('# Dx: 164889003,59118001')
# -> the names the Challenge's own dx_mapping_scored.csv / dx_mapping_unscored.csv give them
# (the rhythm, conduction and ectopy codes; any other code is kept as 'SNOMED CT <code>').
_CHALLENGE_DX = {
    "426783006": "sinus rhythm", "426177001": "sinus bradycardia",
    "427084000": "sinus tachycardia", "427393009": "sinus arrhythmia",
    "426627000": "bradycardia", "164889003": "atrial fibrillation",
    "282825002": "paroxysmal atrial fibrillation", "426749004": "chronic atrial fibrillation",
    "314208002": "rapid atrial fibrillation", "195080001": "atrial fibrillation and flutter",
    "164890007": "atrial flutter", "713422000": "atrial tachycardia",
    "426761007": "supraventricular tachycardia", "10370003": "pacing rhythm",
    "284470004": "premature atrial contraction", "63593006": "supraventricular premature beats",
    "427172004": "premature ventricular contractions", "17338001": "ventricular premature beats",
    "164884008": "ventricular ectopics", "11157007": "ventricular bigeminy",
    "251180001": "ventricular trigeminy", "164895002": "ventricular tachycardia",
    "164896001": "ventricular fibrillation", "270492004": "1st degree av block",
    "195042002": "2nd degree av block", "27885002": "complete heart block",
    "59118001": "right bundle branch block", "713427006": "complete right bundle branch block",
    "713426002": "incomplete right bundle branch block", "164909002": "left bundle branch block",
    "733534002": "complete left bundle branch block", "6374002": "bundle branch block",
    "164865005": "myocardial infarction", "164867002": "old myocardial infarction",
    "429622005": "st depression", "164931005": "st elevation",
}


def _challenge_dx(comments) -> str | None:
    """The rhythm a PhysioNet/CinC Challenge header states: its '# Dx:' SNOMED CT codes by
    the Challenge's names, '; '-joined in the header's order (None without a Dx line)."""
    for c in comments or ():
        key, _, value = str(c).partition(":")
        if key.strip().lower() == "dx" and value.strip():
            codes = [v.strip() for v in value.split(",") if v.strip()]
            return "; ".join(_CHALLENGE_DX.get(v, f"SNOMED CT {v}") for v in codes)
    return None


def _wfdb_beats(record: str, n: int, fs: float):
    """Beat samples (at the leads' rate ``fs``), kinds and rhythm from ``record.atr`` (None
    when absent). Annotation times count ticks of the annotation file's own time resolution
    when it states one, else of the record's frame rate (wfdb.rdann's ``fs``), which is
    below the leads' rate in a multi-frequency record."""
    import wfdb

    if not Path(record + ".atr").is_file():
        return None, None, None
    ann = wfdb.rdann(record, "atr")
    ticks = np.asarray(ann.sample, dtype=np.int64)
    if ann.fs and abs(float(ann.fs) - fs) > 1e-6 * fs:
        ticks = np.round(ticks * (fs / float(ann.fs))).astype(np.int64)
    samples, kinds, rhythms, rhythm = [], [], set(), ""
    for s, sym, aux in zip(ticks, ann.symbol, ann.aux_note):
        if sym == "+":
            rhythm = (aux or "").strip("\x00 ")
            rhythms.add(rhythm)
        elif sym in _WFDB_BEAT_KIND and 0 <= s < n:
            kind = _WFDB_BEAT_KIND[sym]
            samples.append(int(s))
            kinds.append("F" if kind == "N" and is_af_rhythm(rhythm) else kind)
    rhythm_txt = ", ".join(sorted(r.strip("(") for r in rhythms if r)) or None
    return np.array(samples, np.int64), tuple(kinds), rhythm_txt


def _wfdb_header_units(hea: Path, n_sig: int) -> list[str | None]:
    """Each signal's units as the .hea writes them (None: no units field, which WFDB
    reads as mV). wfdb's own parser keeps only ASCII, so 'µV' (which wfdb.wrsamp writes)
    would come back as 'V', 1000x off."""
    lines = [ln for ln in hea.read_text(encoding="utf-8", errors="replace").splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")][1:1 + n_sig]
    out = []
    for ln in lines:
        f = ln.split()
        out.append(f[2].split("/", 1)[1] if len(f) > 2 and "/" in f[2] else None)
    return out + [None] * (n_sig - len(out))


def _load_wfdb(path: Path, units: str | None):
    import wfdb

    record = str(path.with_suffix(""))
    try:
        head = wfdb.rdheader(record)
    except Exception as e:  # wfdb raises bare ValueError/FileNotFoundError
        raise _bad(path, "WFDB record", "a readable .hea with its signal file (.dat, or "
                   "the .mat of the PhysioNet/CinC Challenges)", repr(e)) from e
    if isinstance(head, wfdb.MultiRecord):
        data, names, fs = _multi_segment(path, head, units)
    else:
        data, names, fs, _ = _one_record(path, path, record, units)
    beats, kinds, rhythm = _wfdb_beats(record, data.shape[0], fs)
    if rhythm is None:  # no .atr rhythm: the statement of a Challenge header, if any
        rhythm = _challenge_dx(getattr(head, "comments", None))
    return data, names, fs, dict(beat_samples=beats, beat_kinds=kinds, rhythm=rhythm)


def _one_record(path, where, record: str, units: str | None):
    """One single-segment record (``where`` names it in messages) -> (n, k) mV, leads, their
    rate, the record's frame rate. In a multi-frequency record (a '16x4' format field: 4
    samples of the signal per frame) the leads keep their own samples at frame rate x
    samples per frame, as the file holds them (wfdb's default averages each frame's samples
    to one, which would drive a 500 Hz ECG at its 125 Hz frame rate)."""
    import wfdb

    try:
        rec = wfdb.rdrecord(record, smooth_frames=False)
    except Exception as e:  # wfdb raises bare ValueError/FileNotFoundError
        missing = _missing_signal_files(record)
        if missing:  # wfdb's FileNotFoundError names no file
            raise _bad(where, "WFDB signal file", f"{missing[0]!r} beside the .hea (the file its "
                       "signal lines name)", "no such file") from e
        raise _bad(where, "WFDB record", "a readable .hea with its signal file (.dat, or "
                   "the .mat of the PhysioNet/CinC Challenges)", repr(e)) from e
    labels = [str(n) if n else "ECG" for n in rec.sig_name]  # no description: an ECG
    hea_units = _wfdb_header_units(Path(record + ".hea"), len(labels))
    names = _generic_as_ii(path, labels, [_CANON.get(_lead_key(n)) for n in labels])
    spf = [int(s or 1) for s in (rec.samps_per_frame or [1] * len(labels))]
    cols, kept, per_frame = [], [], {}
    for i, name in enumerate(names):
        if name is not None:
            scale = _scale(where, f"signal {labels[i]!r} units", hea_units[i] or "mV", units)
            cols.append(np.asarray(rec.e_p_signal[i], dtype=np.float64) * scale)
            kept.append(name)
            per_frame[labels[i]] = spf[i]
    if not cols:
        raise _no_ecg_lead(where, "signals", labels)
    if len(set(per_frame.values())) > 1:
        raise _bad(where, "samples per frame", f"one rate for all ECG leads {kept}",
                   ", ".join(f"{lab}: {rec.fs * s:g} Hz" for lab, s in per_frame.items()))
    fs = float(rec.fs) * next(iter(per_frame.values()))
    for col, label in zip(cols, per_frame):
        invalid = np.flatnonzero(np.isnan(col))  # wfdb's NaN: the format's no-data value
        if invalid.size:
            i = int(invalid[0])
            raise _bad(where, f"signal {label!r}, sample {i} ({i / fs:.3f} s)", "a recorded "
                       "value at every sample (a gap is not bridged: cut the record to a span "
                       "without one)", f"the format's invalid-sample value (no data), "
                       f"{invalid.size} such sample(s) in this signal")
    return np.stack(cols, axis=1), kept, fs, float(rec.fs)


def _missing_signal_files(record: str) -> list[str]:
    """The signal files the record's .hea names that are not beside it."""
    import wfdb

    try:
        names = wfdb.rdheader(record).file_name or []
    except Exception:  # an unreadable header: the caller reports wfdb's own error
        return []
    folder = Path(record).parent
    return [f for f in dict.fromkeys(names) if not (folder / f).is_file()]


def _multi_segment(path: Path, head, units: str | None):
    """A multi-segment record (a master .hea listing segments): the segments one after the
    other, each read as a record of its own with the units its own .hea states (wfdb's
    merged record keeps one unit per signal, and the master .hea has none). The layout
    segment of a variable-layout record (length 0) holds no samples and is skipped. A gap
    segment ('~') is refused, as a blank cell of a text file is: a gap is not bridged."""
    parts, names, start = [], None, 0
    for seg, n in zip(head.seg_name, head.seg_len):
        if seg == "~":
            raise _bad(path, f"segment '~' at samples {start}-{start + n - 1}", "recorded "
                       "samples in every segment (a gap is not bridged: read the segments "
                       "either side as records of their own)", f"a gap of {n} samples")
        if n == 0:
            continue
        where = f"{path}, segment {seg}"
        data, seg_names, fs, frame_fs = _one_record(path, where, str(path.parent / seg), units)
        if abs(frame_fs - head.fs) > 1e-6 * head.fs:
            raise _bad(where, "sampling frequency", f"{head.fs:g} Hz (the master .hea)",
                       f"{frame_fs:g} Hz")
        if names is None:
            names, lead_fs = seg_names, fs
        elif sorted(seg_names) != sorted(names):
            raise _bad(where, "leads", f"the leads of the first segment {names}", seg_names)
        elif abs(fs - lead_fs) > 1e-6 * lead_fs:
            raise _bad(where, "samples per frame", f"the leads' rate of the first segment "
                       f"({lead_fs:g} Hz)", f"{fs:g} Hz")
        parts.append(data[:, [seg_names.index(x) for x in names]])
        start += n
    if not parts:
        return np.zeros((0, 0)), [], float(head.fs)
    return np.concatenate(parts, axis=0), names, lead_fs
