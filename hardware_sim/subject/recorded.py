"""Drive the virtual subject with a real ECG recording.

``load_ecg_recording`` reads CSV, whitespace TSV, WFDB, EDF and the ``.npz`` layout
(``ecg_mv``, ``fs_hz``) into an ``EcgRecording``. ``RecordedHeart`` turns it into a
heart vector and re-projects it with the Dower matrix, so its 12 leads satisfy
Einthoven / Goldberger exactly; its beats come from the recording's own R peaks.

How leads are derived (``RecordedHeart.derivation`` says it per lead):
- 8+ independent leads (a 12-lead file): VCG = inverse Dower (V1..V6, I, II); all
  12 leads re-projected from it (close to, not equal to, the recorded ones).
- Standard leads that pin down the VCG exactly (e.g. I, II, V2): VCG solved from them;
  the given leads are reproduced exactly. The Glasgow chest strap (V2-V1) is not used
  for this: its electrodes sit elsewhere and at another gain (it would give 5-9 mV
  precordial leads); it is kept in the recording and used only when it is alone.
- Two limb leads: all six limb leads exactly; X, Y solved from I and II with Z taken
  from the normal Gaussian VCG template aligned beat by beat to the R peaks (scaled
  to the recording's frontal amplitude); precordial leads projected from that VCG.
- One lead (assumed lead II when unnamed): the template VCG plus the minimal-norm
  correction that reproduces the lead exactly; every other lead is template-shaped.
Electrode offsets and baseline wander are removed first (0.5 Hz zero-phase high-pass).
Beyond the recording's end it loops (``t mod duration_s``); the seam is not smoothed.
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cardioradar.errors import InputDataError
from hardware_sim.subject.ecg import (
    DOWER, DOWER_LEADS, INVERSE_DOWER, NORMAL_VCG, vcg_to_leads,
)
from hardware_sim.subject.types import LEADS, Beat

log = logging.getLogger(__name__)

__all__ = ["EcgRecording", "load_ecg_recording", "RecordedHeart", "GUDB_COLUMNS"]

# Lead vectors (3,) in VCG space: lead = row . (X, Y, Z).
_ROW = {name: DOWER[i] for i, name in enumerate(DOWER_LEADS)}
_ROW.update({"III": _ROW["II"] - _ROW["I"], "aVR": -(_ROW["I"] + _ROW["II"]) / 2,
             "aVL": _ROW["I"] - _ROW["II"] / 2, "aVF": _ROW["II"] - _ROW["I"] / 2,
             "V2-V1": _ROW["V2"] - _ROW["V1"]})  # bipolar chest strap (Glasgow database)
KNOWN_LEADS = LEADS + ("V2-V1",)
_CANON = {name.lower(): name for name in KNOWN_LEADS}
_LIMB = ("I", "II", "III", "aVR", "aVL", "aVF")

# Headerless 6-column whitespace files from the Glasgow University ECG database
# (GUDB): chest strap (V2-V1), Einthoven II, III, accelerometer x, y, z; volts.
GUDB_COLUMNS = ("V2-V1", "II", "III", None, None, None)
_UNITS_TO_MV = {"mV": 1.0, "V": 1000.0, "uV": 1e-3}


@dataclass(frozen=True)
class EcgRecording:
    """ecg_mv: (n, k) float64 mV; fs_hz; leads: k names from ``KNOWN_LEADS``; source: file."""

    ecg_mv: np.ndarray
    fs_hz: float
    leads: tuple[str, ...]
    source: str

    @property
    def duration_s(self) -> float:
        return self.ecg_mv.shape[0] / self.fs_hz


def _bad(path, field: str, expected: str, got) -> InputDataError:
    return InputDataError(f"{path}: {field}: expected {expected}, got {got}")


def _canon(path, name: str) -> str:
    key = name.strip().lower()
    if key not in _CANON:
        raise _bad(path, f"column {name!r}", f"a lead name from {KNOWN_LEADS} or 'time_s'", name)
    return _CANON[key]


def _uniform_fs(path, t: np.ndarray) -> float:
    dt = np.diff(t)
    if t.size < 2 or np.any(dt <= 0) or np.ptp(dt) > 1e-3 * np.median(dt) + 1e-9:
        raise _bad(path, "column time_s", "uniformly increasing times", "irregular times")
    return 1.0 / float(np.median(dt))


def _load_csv(path: Path, fs_hz):
    with path.open(newline="") as f:
        header = next(csv.reader(f), None)
    if not header:
        raise _bad(path, "header", "a header row of lead names", "an empty file")
    try:
        data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except ValueError as e:
        raise _bad(path, "values", "numbers in every column", str(e)) from e
    if data.shape[1] != len(header):
        raise _bad(path, "columns", f"{len(header)} per row (header)", data.shape[1])
    names = [h.strip() for h in header]
    if "time_s" in names:
        i = names.index("time_s")
        fs_file = _uniform_fs(path, data[:, i])
        if fs_hz is not None and abs(fs_file - fs_hz) > 1e-3 * fs_hz:
            raise _bad(path, "fs_hz", f"{fs_hz} (argument)", f"{fs_file:.4f} from time_s")
        fs_hz = fs_file
        data, names = np.delete(data, i, axis=1), names[:i] + names[i + 1:]
    if fs_hz is None:
        raise _bad(path, "time_s", "a time_s column or an fs_hz argument", "neither")
    return data, [_canon(path, n) for n in names], fs_hz, 1.0


def _load_whitespace(path: Path, fs_hz, leads):
    with path.open() as f:
        first = f.readline().split()
    try:
        [float(v) for v in first]
        has_header = False
    except ValueError:
        has_header = True
    try:
        data = np.loadtxt(path, skiprows=1 if has_header else 0, ndmin=2)
    except ValueError as e:
        raise _bad(path, "values", "whitespace-separated numbers", str(e)) from e
    units = 1.0
    if has_header:
        names = first
    elif leads is not None and len(leads) == data.shape[1]:
        names, leads = list(leads), None  # leads name the columns in order
    elif data.shape[1] == len(GUDB_COLUMNS):
        names, units = list(GUDB_COLUMNS), _UNITS_TO_MV["V"]
        fs_hz = 250.0 if fs_hz is None else fs_hz
        log.info("%s: headerless 6 columns read as the GUDB layout "
                 "(V2-V1, II, III, accel; V)", path)
    else:
        raise _bad(path, "header", "a header of lead names, a leads argument naming the "
                   "columns, or the 6-column GUDB layout", f"{data.shape[1]} unnamed columns")
    if len(names) != data.shape[1]:
        raise _bad(path, "columns", f"{len(names)} named", data.shape[1])
    keep = [i for i, n in enumerate(names) if n is not None and n != "time_s"]
    if "time_s" in names:
        fs_file = _uniform_fs(path, data[:, names.index("time_s")])
        fs_hz = fs_file if fs_hz is None else fs_hz
    if fs_hz is None:
        raise _bad(path, "time_s", "a time_s column or an fs_hz argument", "neither")
    return data[:, keep], [_canon(path, names[i]) for i in keep], fs_hz, units, leads


def _load_wfdb(path: Path):
    import wfdb

    try:
        rec = wfdb.rdrecord(str(path.with_suffix("")))
    except Exception as e:  # wfdb raises bare ValueError/FileNotFoundError
        raise _bad(path, "WFDB record", "a readable .hea/.dat pair", repr(e)) from e
    scale = [_UNITS_TO_MV.get(u.replace("µ", "u"), None) for u in rec.units]
    cols, names = [], []
    for i, n in enumerate(rec.sig_name):
        if n.strip().lower() in _CANON and scale[i] is not None:
            cols.append(rec.p_signal[:, i] * scale[i])
            names.append(_CANON[n.strip().lower()])
    return np.stack(cols, axis=1) if cols else np.zeros((0, 0)), names, float(rec.fs)


def _load_edf(path: Path):
    import pyedflib

    try:
        with pyedflib.EdfReader(str(path)) as f:
            cols, names, rates = [], [], []
            for i, label in enumerate(f.getSignalLabels()):
                key = label.strip().lower().removeprefix("ecg").strip()
                dim = f.getPhysicalDimension(i).strip().replace("µ", "u")
                if key in _CANON and dim in _UNITS_TO_MV:
                    cols.append(f.readSignal(i) * _UNITS_TO_MV[dim])
                    names.append(_CANON[key])
                    rates.append(f.getSampleFrequency(i))
    except OSError as e:
        raise _bad(path, "EDF", "a readable EDF/EDF+ file", repr(e)) from e
    if len(set(rates)) > 1:
        raise _bad(path, "sample rates", "one rate for all ECG channels", sorted(set(rates)))
    n = min((c.size for c in cols), default=0)
    return (np.stack([c[:n] for c in cols], axis=1) if cols else np.zeros((0, 0)), names,
            float(rates[0]) if rates else 0.0)


def _load_npz(path: Path):
    with np.load(path) as z:
        for key in ("ecg_mv", "fs_hz"):
            if key not in z.files:
                raise _bad(path, f"field {key!r}", "arrays 'ecg_mv' and 'fs_hz'", sorted(z.files))
        ecg = np.asarray(z["ecg_mv"], dtype=np.float64)
        fs = float(z["fs_hz"])
        names = [str(n) for n in z["leads"]] if "leads" in z.files else None
    if ecg.ndim == 1:
        ecg = ecg[:, None]
    if names is None:
        if ecg.shape[1] != 1:
            raise _bad(path, "field 'leads'", "lead names for a multi-channel ecg_mv", "none")
        names = ["II"]  # single unnamed lead: treated as lead II (documented)
    return ecg, [_canon(path, n) for n in names], fs


def load_ecg_recording(path, fs_hz: float | None = None, leads: list[str] | None = None,
                       *, units: str | None = None) -> EcgRecording:
    """Read an ECG file. ``leads`` selects a subset (for a headerless TSV with as many
    columns as ``leads``: names the columns in order). ``units`` ('mV', 'V', 'uV')
    overrides text files' units (default mV; the GUDB layout is in V)."""
    path = Path(path)
    if not path.exists() and not path.with_suffix(".hea").exists():
        raise InputDataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    scale = 1.0
    if suffix == ".csv":
        data, names, fs, scale = _load_csv(path, fs_hz)
    elif suffix in (".tsv", ".txt", ".dat") and not path.with_suffix(".hea").exists():
        data, names, fs, scale, leads = _load_whitespace(path, fs_hz, leads)
    elif suffix in (".hea", ".dat", ""):
        data, names, fs = _load_wfdb(path)
    elif suffix in (".edf", ".bdf"):
        data, names, fs = _load_edf(path)
    elif suffix == ".npz":
        data, names, fs = _load_npz(path)
    else:
        raise _bad(path, "file type", ".csv, .tsv/.txt, .hea/.dat, .edf, .npz", suffix or "none")
    if units is not None:
        if units not in _UNITS_TO_MV:
            raise _bad(path, "units", tuple(_UNITS_TO_MV), units)
        scale = _UNITS_TO_MV[units]
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
    data = np.asarray(data, dtype=np.float64) * scale
    if not np.all(np.isfinite(data)):
        raise _bad(path, "values", "finite numbers", "NaN or inf")
    return EcgRecording(data, float(fs), tuple(names), str(path))


def _template_vcg(t_s: np.ndarray, r_s: np.ndarray) -> np.ndarray:
    """Normal Gaussian VCG (n, 3) mV with its R peaks at ``r_s`` (phase linear between
    R peaks, rate-scaled per interval, neighbouring beats summed)."""
    rr = np.diff(r_s)
    k = np.clip(np.searchsorted(r_s, t_s, "right") - 1, 0, len(r_s) - 2)
    frac = (t_s - r_s[k]) / rr[k]
    out = np.zeros((t_s.size, 3))
    for off in (-1, 0, 1):
        j = np.clip(k + off, 0, len(rr) - 1)
        hr = 60.0 / rr[j]  # ECGSYN width/angle scaling by sqrt(HR/60), one rate per beat
        dtheta = 2.0 * np.pi * (frac - off)
        for a, g in enumerate(NORMAL_VCG.axes()):
            th = np.asarray(g.theta_rad)[None] * (hr[:, None] / 60.0) ** 0.5
            bb = np.asarray(g.b_rad)[None] * (hr[:, None] / 60.0) ** 0.5
            d = (dtheta[:, None] - th) / bb
            out[:, a] += np.sum(np.asarray(g.alpha_mv) * np.exp(-0.5 * d * d), axis=1)
    return out


class RecordedHeart:
    """``ElectricalSource`` replaying a recording (looped past its end).

    Attributes: ``recording``, ``ecg_hp_mv`` (the recording without baseline),
    ``duration_s``, ``r_peaks_s`` (n,) R times within one pass, ``derivation``
    {lead: how it was obtained}, ``vcg`` (n, 3) mV at the recording's samples,
    ``leads12`` (n, 12) mV.
    """

    def __init__(self, recording: EcgRecording):
        self.recording = recording
        self.fs_hz = recording.fs_hz
        self.duration_s = recording.duration_s
        self.ecg_hp_mv = _remove_baseline(recording.ecg_mv, self.fs_hz)
        self.r_peaks_s = self._find_r_peaks()
        if self.r_peaks_s.size < 3:
            raise InputDataError(f"{recording.source}: R peaks: expected at least 3, "
                                 f"got {self.r_peaks_s.size}")
        self.vcg, self.derivation = self._derive_vcg()
        self.leads12 = vcg_to_leads(self.vcg)

    # --- R peaks ------------------------------------------------------------------
    def _peak_lead(self) -> int:
        names = self.recording.leads
        for pref in ("II", "I", "V5", "III", "V2-V1"):
            if pref in names:
                return names.index(pref)
        return 0

    def _find_r_peaks(self) -> np.ndarray:
        import neurokit2 as nk

        x = self.ecg_hp_mv[:, self._peak_lead()]
        clean = nk.ecg_clean(x, sampling_rate=self.fs_hz)
        if np.percentile(clean, 0.5) < -np.percentile(clean, 99.5):  # QRS mostly negative
            clean = -clean
        _, info = nk.ecg_peaks(clean, sampling_rate=self.fs_hz)
        return np.asarray(info["ECG_R_Peaks"], dtype=np.float64) / self.fs_hz

    # --- heart vector -------------------------------------------------------------
    def _derive_vcg(self) -> tuple[np.ndarray, dict[str, str]]:
        rec = self.recording
        ecg = self.ecg_hp_mv
        # The chest strap's electrodes are neither at V1/V2 nor at the same gain (used for
        # Z it gives 5-9 mV precordial leads on GUDB), so it only serves when alone.
        names = [n for n in rec.leads if n != "V2-V1"] or list(rec.leads)
        ecg = ecg[:, [rec.leads.index(n) for n in names]]
        rows = np.stack([_ROW[n] for n in names])  # (k, 3)
        rank = np.linalg.matrix_rank(rows, tol=1e-6)
        have = lambda n: n in names  # noqa: E731
        if all(have(n) for n in DOWER_LEADS[:6]) and len(set(names) & set(_LIMB)) >= 2:
            i_ii = self._limb_i_ii()
            eight = np.column_stack([ecg[:, names.index(n)] for n in DOWER_LEADS[:6]]
                                    + [i_ii[:, 0], i_ii[:, 1]])
            vcg = eight @ INVERSE_DOWER.T
            return vcg, {n: "re-projected from the inverse-Dower VCG of the recorded "
                            "V1-V6, I, II" for n in LEADS}
        if rank == 3:
            vcg = np.linalg.lstsq(rows, ecg.T, rcond=None)[0].T
            how = f"Dower projection of the VCG solved from {names}"
            return vcg, {n: f"{how}; reproduces the recorded lead" if n in names else how
                         for n in LEADS}
        t = np.arange(rec.ecg_mv.shape[0]) / self.fs_hz
        r = np.concatenate([[self.r_peaks_s[0] - 1.0], self.r_peaks_s,
                            [self.r_peaks_s[-1] + 1.0]])
        tmpl = _template_vcg(t, r)
        if rank == 2 and len(set(names) & set(_LIMB)) >= 2:
            i_ii = self._limb_i_ii()
            scale = self._frontal_scale(i_ii, tmpl)
            z = scale * tmpl[:, 2]
            m2 = np.array([[_ROW["I"][0], _ROW["I"][1]], [_ROW["II"][0], _ROW["II"][1]]])
            rhs = np.column_stack([i_ii[:, 0] - _ROW["I"][2] * z, i_ii[:, 1] - _ROW["II"][2] * z])
            xy = np.linalg.solve(m2, rhs.T).T
            vcg = np.column_stack([xy, z])
            limb = "exact from the recorded limb leads (Einthoven/Goldberger)"
            chest = ("Dower projection of X, Y solved from I, II and Z from the normal "
                     "Gaussian VCG template aligned to the R peaks")
            return vcg, {n: limb if n in _LIMB else chest for n in LEADS}
        # One independent lead: template plus the minimal-norm correction along it.
        lead = names[0]
        row = _ROW[lead]
        s = ecg[:, 0]
        scale = float(np.percentile(np.abs(s), 99.5) /
                      max(np.percentile(np.abs(tmpl @ row), 99.5), 1e-9))
        v = scale * tmpl
        vcg = v + np.outer(s - v @ row, row / (row @ row))
        how = (f"normal Gaussian VCG template aligned to the R peaks, scaled to the "
               f"recorded {lead} and corrected along {lead}'s lead vector")
        return vcg, {n: ("recorded, reproduced exactly" if n == lead else how) for n in LEADS}

    def _limb_i_ii(self) -> np.ndarray:
        """(n, 2) leads I and II from any two recorded limb leads (exact)."""
        names = list(self.recording.leads)
        limb = [n for n in names if n in _LIMB][:2]  # any two limb leads are independent
        a = np.array([_limb_coeffs(n) for n in limb])
        vals = np.column_stack([self.ecg_hp_mv[:, names.index(n)] for n in limb])
        return np.linalg.solve(a, vals.T).T

    def _frontal_scale(self, i_ii: np.ndarray, tmpl: np.ndarray) -> float:
        rec_amp = np.percentile(np.linalg.norm(i_ii, axis=1), 99.5)
        t_amp = np.percentile(np.linalg.norm(tmpl @ np.stack([_ROW["I"], _ROW["II"]]).T, axis=1),
                              99.5)
        return float(rec_amp / max(t_amp, 1e-9))

    # --- ElectricalSource ---------------------------------------------------------
    def beats_between(self, t0_s: float, t1_s: float) -> list[Beat]:
        """Beats with R in [t0_s, t1_s); pass m of the loop has index k + m * n_peaks."""
        r, n, dur = self.r_peaks_s, self.r_peaks_s.size, self.duration_s
        passes = np.arange(math.floor(t0_s / dur) - 1, math.floor(t1_s / dur) + 1)
        shift = passes * dur  # (m,) start of each pass, s
        rt = r[None, :] + shift[:, None]  # (m, n) R times
        prev = np.empty_like(rt)
        prev[:, 1:] = r[None, :-1] + shift[:, None]
        prev[:, 0] = r[-1] + (passes - 1) * dur  # the previous pass's last beat
        mi, ki = np.nonzero((rt >= t0_s) & (rt < t1_s))
        return [Beat(index=int(ki[i] + passes[mi[i]] * n), r_time_s=float(rt[mi[i], ki[i]]),
                     qrs_onset_s=float(rt[mi[i], ki[i]] - 0.035),
                     rr_s=float(rt[mi[i], ki[i]] - prev[mi[i], ki[i]]), kind="N")
                for i in range(mi.size)]

    def _interp(self, sig: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        x = np.mod(np.asarray(t_s, dtype=np.float64), self.duration_s) * self.fs_hz
        i = np.minimum(np.floor(x).astype(np.int64), sig.shape[0] - 1)
        f = (x - i)[:, None]
        j = (i + 1) % sig.shape[0]  # looping: the last sample blends into the first
        return sig[i] * (1.0 - f) + sig[j] * f

    def vcg_mv(self, t_s: np.ndarray) -> np.ndarray:
        """Heart vector (n, 3) mV at ``t_s`` (n,) s (linear interpolation, looped)."""
        return self._interp(self.vcg, np.ravel(t_s))

    def ecg_mv(self, t_s: np.ndarray) -> np.ndarray:
        """12-lead ECG (n, 12) mV, ``LEADS`` order; exact Einthoven/Goldberger."""
        return vcg_to_leads(self.vcg_mv(t_s))


def _remove_baseline(ecg_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """Electrode offsets and baseline wander removed: zero-phase 0.5 Hz high-pass
    (2nd-order Butterworth, forward-backward), (n, k) mV -> (n, k) mV."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(2, 0.5, btype="highpass", fs=fs_hz, output="sos")
    pad = min(ecg_mv.shape[0] - 1, int(3 * fs_hz))
    return sosfiltfilt(sos, ecg_mv, axis=0, padlen=pad)


def _limb_coeffs(name: str) -> tuple[float, float]:
    """Lead ``name`` as a . (I, II)."""
    return {"I": (1.0, 0.0), "II": (0.0, 1.0), "III": (-1.0, 1.0), "aVR": (-0.5, -0.5),
            "aVL": (1.0, -0.5), "aVF": (-0.5, 1.0)}[name]
