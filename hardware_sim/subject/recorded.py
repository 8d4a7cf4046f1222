"""Drive the virtual subject with a real ECG recording.

``load_ecg_recording`` (``hardware_sim.subject.ecg_files``, re-exported here) reads a file
into an ``EcgRecording``; one can also be built in memory (e.g. from a generator's arrays).
``RecordedHeart`` replays it.

What the heart gives:
- ``ecg_mv(t)``: the ground truth, i.e. the recording itself (baseline removed) in the
  12-lead order. Recorded leads are kept as recorded; with two or more limb leads all six
  follow exactly (Einthoven/Goldberger from I and II). Leads the recording does not hold
  are NaN: scoring masks them (``host.metrics`` returns NaN per lead, ``host.train`` masks
  NaN leads), as for session references (``host.data.session_dataset``).
- ``vcg_mv(t)`` / ``leads12_mv(t)``: a heart vector (and its Dower 12-lead projection,
  finite everywhere) for whatever needs a full heart vector; ``derivation`` says per
  lead how it was obtained:
  - 8+ independent leads (a 12-lead file): VCG = inverse Dower (V1..V6, I, II).
  - Standard leads that pin down the VCG exactly (e.g. I, II, V2): VCG solved from them.
    The Glasgow chest strap (V2-V1) is not used for this: its electrodes sit elsewhere
    and at another gain (it would give 5-9 mV precordial leads); it only serves alone.
  - Two limb leads: X, Y solved from I and II with Z from the normal Gaussian VCG template
    aligned beat by beat to the R peaks (scaled to the recording's frontal amplitude).
  - One lead (assumed lead II when unnamed): the template VCG plus the minimal-norm
    correction that reproduces the lead exactly.
- ``beats_between``: one ``Beat`` per recorded beat with its recorded RR (annotated beats
  of a WFDB record, else NeuroKit2's R peaks), so AF, bradycardia, PVCs and pauses reach
  the mechanics beat by beat. Kinds come from annotations only ('N' otherwise; 'F' for
  the beats of a recording whose rhythm is AF).
Electrode offsets and baseline wander are removed first (0.5 Hz zero-phase high-pass).
The recording loops at beat boundaries: one pass runs from a cut in the diastole before
its second R peak to the matching cut before its last one (each cut at the quietest
point of that diastole), and the step between the two cuts is spread over the last
0.1 s before the seam, so the joint has no step and neither a double nor a missing beat.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from cardioradar.errors import InputDataError
from hardware_sim.subject.ecg import (
    DOWER, DOWER_LEADS, INVERSE_DOWER, NORMAL_VCG, vcg_to_leads,
)
from hardware_sim.subject.ecg_files import (  # noqa: F401 (re-exported)
    FS_RANGE_HZ, GUDB_COLUMNS, KNOWN_LEADS, EcgRecording, _bad, _LIMB, is_af_rhythm,
    list_recordings, load_ecg_recording,
)
from hardware_sim.subject.types import LEADS, Beat

log = logging.getLogger(__name__)

__all__ = ["EcgRecording", "load_ecg_recording", "RecordedHeart", "GUDB_COLUMNS",
           "list_recordings", "is_af_rhythm", "FS_RANGE_HZ"]

# Lead vectors (3,) in VCG space: lead = row . (X, Y, Z).
_ROW = {name: DOWER[i] for i, name in enumerate(DOWER_LEADS)}
_ROW.update({"III": _ROW["II"] - _ROW["I"], "aVR": -(_ROW["I"] + _ROW["II"]) / 2,
             "aVL": _ROW["I"] - _ROW["II"] / 2, "aVF": _ROW["II"] - _ROW["I"] / 2,
             "V2-V1": _ROW["V2"] - _ROW["V1"]})  # bipolar chest strap (Glasgow database)


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


_SEAM_RAMP_S = 0.1  # the step between the two cuts is spread over this span before the seam


class RecordedHeart:
    """``ElectricalSource`` replaying a recording, looped at beat boundaries.

    Attributes: ``recording``, ``ecg_hp_mv`` (the recording without baseline, (n, k) mV),
    ``r_peaks_s`` (m,) R times in the recording, ``beat_kinds`` (m,), ``loop_start_s`` /
    ``loop_end_s`` (the cuts in the recording), ``duration_s`` (one pass),
    ``loop_r_peaks_s`` R times within one pass, ``truth_leads`` (the leads ``ecg_mv``
    gives), ``derivation`` {lead: how ``leads12_mv`` obtains it}, ``vcg`` (n, 3) mV and
    ``leads12`` (n, 12) mV at the recording's samples, ``frontal_axis_deg`` (QRS axis:
    the device's stated one, else the median beat's with two or more limb leads, else
    None; ``axis_source`` says which), ``qrs_ms`` (median beat's QRS, or None).
    """

    def __init__(self, recording: EcgRecording):
        fs = recording.fs_hz
        if not (FS_RANGE_HZ[0] <= fs <= FS_RANGE_HZ[1]):  # what the drive is made for
            err = _bad(recording.source, "fs_hz", f"{FS_RANGE_HZ[0]:g}-{FS_RANGE_HZ[1]:g} Hz",
                       f"{fs:g} Hz")
            if fs < 1.0:
                err.hint = "times in ms? name the column time_ms or 'time (ms)'"
            elif fs > FS_RANGE_HZ[1]:
                err.hint = "resample the recording to 1000 Hz or less"
            raise err
        self.recording = recording
        self.fs_hz = recording.fs_hz
        self.ecg_hp_mv = _remove_baseline(recording.ecg_mv, self.fs_hz)
        self.r_peaks_s, self.beat_kinds = self._beats()
        if self.r_peaks_s.size < 4:
            raise InputDataError(f"{recording.source}: R peaks: expected at least 4 "
                                 f"(a loop of whole beats), got {self.r_peaks_s.size}")
        self.vcg, self.derivation = self._derive_vcg()
        self.leads12 = vcg_to_leads(self.vcg)
        truth, self.truth_leads = self._truth12()
        i0, i1 = self._cut(1), self._cut(self.r_peaks_s.size - 1)
        self.loop_start_s, self.loop_end_s = i0 / self.fs_hz, i1 / self.fs_hz
        self.duration_s = (i1 - i0) / self.fs_hz
        inside = (self.r_peaks_s >= self.loop_start_s) & (self.r_peaks_s < self.loop_end_s)
        self.loop_r_peaks_s = self.r_peaks_s[inside] - self.loop_start_s
        self._loop_kinds = tuple(k for k, keep in zip(self.beat_kinds, inside) if keep)
        # What the heart-mechanics coupling may read (hardware_sim.subject.coupling_for):
        # the device's own QRS axis when it states one, else the waveform's (two or more
        # limb leads), else nothing (the coupling's default then).
        meas = recording.measurements or {}
        axis = meas.get("QRS Axis (deg)", meas.get("QRS Axis"))
        self.qrs_ms = self.frontal_axis_deg = self.axis_source = None
        if len(set(recording.leads) & set(_LIMB)) >= 2:
            self.frontal_axis_deg, self.qrs_ms = self._median_beat_axis(truth)
            self.axis_source = "net QRS area in I and aVF of the median beat"
        if axis is not None:
            self.frontal_axis_deg, self.axis_source = float(axis), "stated by the recording device"
        self._vcg_loop = _seamless(self.vcg, i0, i1, self.fs_hz)
        self._truth_loop = _seamless(truth, i0, i1, self.fs_hz)

    # --- beats --------------------------------------------------------------------
    def _beats(self) -> tuple[np.ndarray, tuple[str, ...]]:
        rec = self.recording
        if rec.beat_samples is not None and rec.beat_samples.size:
            return rec.beat_samples / self.fs_hz, rec.beat_kinds
        r = self._find_r_peaks()
        kind = "F" if is_af_rhythm(rec.rhythm) else "N"
        return r, (kind,) * r.size

    def _peak_lead(self) -> int:
        names = self.recording.leads
        for pref in ("II", "I", "V5", "III", "V2-V1"):
            if pref in names:
                return names.index(pref)
        return 0

    def _find_r_peaks(self) -> np.ndarray:
        """NeuroKit2's R peaks on the lead oriented so its QRS points up, plus the beats whose
        QRS points the other way (e.g. a PVC: -2.4 mV in MLII of MIT-BIH 100 while its
        sinus beats are +1.5 mV, missed by a one-polarity detector): peaks of the flipped
        lead at least 0.25 s from every found R, as steep and as tall as half the found
        ones' median (T waves are neither)."""
        import neurokit2 as nk

        x = self.ecg_hp_mv[:, self._peak_lead()]
        clean = nk.ecg_clean(x, sampling_rate=self.fs_hz)
        # QRS mostly negative in this lead: flip it. A vote of 1-s pieces (which way their
        # largest deflection points), so that a few tall opposite beats (PVCs) do not decide.
        seg = int(self.fs_hz)
        pieces = clean[: clean.size // seg * seg].reshape(-1, seg)
        if np.mean(pieces.max(axis=1) >= -pieces.min(axis=1)) < 0.5:
            clean = -clean
        found = self._peaks(nk, clean)
        if found.size < 2:
            return found / self.fs_hz
        other = self._peaks(nk, -clean)
        w = max(1, int(round(0.05 * self.fs_hz)))
        slope = np.abs(np.gradient(clean))

        def steep_tall(i):
            lo, hi = max(0, i - w), min(clean.size, i + w + 1)
            return slope[lo:hi].max(), np.abs(clean[lo:hi]).max()

        ref = np.median([steep_tall(i) for i in found], axis=0)
        gap = int(0.25 * self.fs_hz)
        extra = [i for i in other if np.min(np.abs(found - i)) > gap
                 and all(v >= 0.5 * r for v, r in zip(steep_tall(i), ref))]
        return np.sort(np.concatenate([found, np.asarray(extra, np.int64)])) / self.fs_hz

    def _peaks(self, nk, sig: np.ndarray) -> np.ndarray:
        _, info = nk.ecg_peaks(sig, sampling_rate=self.fs_hz)
        return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)

    def _cut(self, k: int) -> int:
        """Sample index of the quietest point of the diastole before R peak ``k``
        (between 50 % of the RR after the previous R and 0.1 s before R k: after the T
        wave, mostly before the P wave), where the derivative summed over the leads
        (each scaled by its own spread, 20 ms smoothing) is least."""
        r0, r1 = self.r_peaks_s[k - 1], self.r_peaks_s[k]
        lo = int(math.ceil((r0 + 0.5 * (r1 - r0)) * self.fs_hz))
        hi = int(math.floor((r1 - 0.1) * self.fs_hz))
        if hi <= lo + 1:  # very fast rates: the midpoint of the RR
            return int(round(0.5 * (r0 + r1) * self.fs_hz))
        x = self.ecg_hp_mv[lo:hi + 1]
        scale = np.maximum(np.std(self.ecg_hp_mv, axis=0), 1e-6)
        w = max(1, int(round(0.02 * self.fs_hz)))
        d = np.abs(np.diff(x, axis=0)) / scale
        act = np.convolve(d.sum(axis=1), np.ones(w) / w, mode="same")
        return lo + int(np.argmin(act)) + 1

    def _median_beat_axis(self, truth: np.ndarray) -> tuple[float, float]:
        """Frontal QRS axis (deg) and QRS duration (ms) of the median beat (R - 0.15 s ..
        R + 0.15 s over the recorded leads): the QRS spans where the summed slope of the
        leads (8 ms smoothing) stays above 5 % of its peak; the axis is the direction of
        the net QRS areas in I (0 deg) and aVF (+90 deg). On the suite's DICOM this gives
        46 deg / 77 ms where the cart states 52 deg / 75 ms."""
        fs = self.fs_hz
        w = int(round(0.15 * fs))
        cols = [j for j in range(len(LEADS)) if np.isfinite(truth[0, j])]
        r = np.rint(self.r_peaks_s * fs).astype(np.int64)
        r = r[(r >= w) & (r + w <= truth.shape[0])]
        med = np.median(np.stack([truth[i - w:i + w][:, cols] for i in r]), axis=0)
        k = max(1, int(round(0.008 * fs)))
        slope = np.convolve(np.linalg.norm(np.gradient(med, axis=0), axis=1), np.ones(k) / k,
                            mode="same")
        half = int(round(0.05 * fs))
        pk = w - half + int(np.argmax(slope[w - half:w + half]))
        on, off = pk, pk
        while on > 0 and slope[on] > 0.05 * slope[pk]:
            on -= 1
        while off < slope.size - 1 and slope[off] > 0.05 * slope[pk]:
            off += 1
        area = (med[on:off + 1] - med[on]).sum(axis=0)
        i_area, avf_area = area[cols.index(0)], area[cols.index(LEADS.index("aVF"))]
        return float(np.degrees(np.arctan2(avf_area, i_area))), 1000.0 * (off - on) / fs

    # --- truth and heart vector ---------------------------------------------------
    def _truth12(self) -> tuple[np.ndarray, tuple[str, ...]]:
        """The recording in 12-lead order (n, 12) mV, NaN for leads it does not give."""
        names = list(self.recording.leads)
        out = np.full((self.ecg_hp_mv.shape[0], len(LEADS)), np.nan)
        for j, n in enumerate(names):
            if n in LEADS:
                out[:, LEADS.index(n)] = self.ecg_hp_mv[:, j]
        if len(set(names) & set(_LIMB)) >= 2:
            out[:, :6] = _limb_from_i_ii(self._limb_i_ii())
        have = tuple(n for j, n in enumerate(LEADS) if np.isfinite(out[0, j]))
        return out, have

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
        """(n, 2) leads I and II from the recorded limb leads (I and II themselves when
        recorded, else any two: any two limb leads are independent)."""
        names = list(self.recording.leads)
        present = [n for n in names if n in _LIMB]
        limb = ["I", "II"] if {"I", "II"} <= set(present) else present[:2]
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
        """Beats with R in [t0_s, t1_s); pass m of the loop has index k + m * n_beats.
        Each beat's ``rr_s`` is its recorded RR (at the seam: the RR across the cuts)."""
        r, n, dur = self.loop_r_peaks_s, self.loop_r_peaks_s.size, self.duration_s
        passes = np.arange(math.floor(t0_s / dur) - 1, math.floor(t1_s / dur) + 1)
        shift = passes * dur  # (m,) start of each pass, s
        rt = r[None, :] + shift[:, None]  # (m, n) R times
        prev = np.empty_like(rt)
        prev[:, 1:] = r[None, :-1] + shift[:, None]
        prev[:, 0] = r[-1] + (passes - 1) * dur  # the previous pass's last beat
        mi, ki = np.nonzero((rt >= t0_s) & (rt < t1_s))
        kinds = self._loop_kinds
        return [Beat(index=int(ki[i] + passes[mi[i]] * n), r_time_s=float(rt[mi[i], ki[i]]),
                     qrs_onset_s=float(rt[mi[i], ki[i]] - 0.035),
                     rr_s=float(rt[mi[i], ki[i]] - prev[mi[i], ki[i]]), kind=kinds[ki[i]])
                for i in range(mi.size)]

    def _interp(self, sig: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        x = np.mod(np.asarray(t_s, dtype=np.float64), self.duration_s) * self.fs_hz
        i = np.minimum(np.floor(x).astype(np.int64), sig.shape[0] - 1)
        f = (x - i)[:, None]
        j = (i + 1) % sig.shape[0]  # looping: the last sample blends into the first
        return sig[i] * (1.0 - f) + sig[j] * f

    def vcg_mv(self, t_s: np.ndarray) -> np.ndarray:
        """Heart vector (n, 3) mV at ``t_s`` (n,) s (linear interpolation, looped)."""
        return self._interp(self._vcg_loop, np.ravel(t_s))

    def leads12_mv(self, t_s: np.ndarray) -> np.ndarray:
        """Dower 12-lead projection of ``vcg_mv`` (n, 12) mV, finite in every lead."""
        return vcg_to_leads(self.vcg_mv(t_s))

    def ecg_mv(self, t_s: np.ndarray) -> np.ndarray:
        """Ground-truth 12-lead ECG (n, 12) mV, ``LEADS`` order: the recorded leads (limb
        leads completed by Einthoven/Goldberger), NaN for leads the recording lacks."""
        return self._interp(self._truth_loop, np.ravel(t_s))


def _seamless(sig: np.ndarray, i0: int, i1: int, fs_hz: float) -> np.ndarray:
    """sig[i0:i1] with the step sig[i0] - sig[i1] added as a linear ramp over the last
    ``_SEAM_RAMP_S`` (so the loop's last sample runs into its first as sig[i1 - 1]
    runs into sig[i1])."""
    out = np.array(sig[i0:i1], dtype=np.float64)
    m = min(out.shape[0] // 4, max(1, int(round(_SEAM_RAMP_S * fs_hz))))
    step = sig[i0] - sig[min(i1, sig.shape[0] - 1)]
    out[-m:] += (np.arange(1, m + 1) / m)[:, None] * step[None, :]
    return out


def _remove_baseline(ecg_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """Electrode offsets and baseline wander removed: zero-phase 0.5 Hz high-pass
    (2nd-order Butterworth, forward-backward), (n, k) mV -> (n, k) mV."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(2, 0.5, btype="highpass", fs=fs_hz, output="sos")
    pad = min(ecg_mv.shape[0] - 1, int(3 * fs_hz))
    return sosfiltfilt(sos, ecg_mv, axis=0, padlen=pad)


def _limb_from_i_ii(i_ii: np.ndarray) -> np.ndarray:
    """(n, 2) leads I, II -> (n, 6) I, II, III, aVR, aVL, aVF (Einthoven/Goldberger)."""
    a = np.array([_limb_coeffs(n) for n in _LIMB])  # (6, 2)
    return i_ii @ a.T


def _limb_coeffs(name: str) -> tuple[float, float]:
    """Lead ``name`` as a . (I, II)."""
    return {"I": (1.0, 0.0), "II": (0.0, 1.0), "III": (-1.0, 1.0), "aVR": (-0.5, -0.5),
            "aVL": (1.0, -0.5), "aVF": (-0.5, 1.0)}[name]
