"""Loader for the MMECG dataset layout (``shared/specs/physiology.md`` s.5).

Each trial is a ``.mat`` file holding a struct ``data`` with ``RCG`` (N x 50: cardiac
motion of 50 located chest points, 200 Hz, from a 77 GHz AWR1843), ``ECG`` (N x 1,
synchronised), ``posXYZ`` (50 x 3), ``id``, ``age``, ``gender`` and ``physistatus``
(NB normal breathing, IB irregular breathing, PE post-exercise, SP sleep).
The dataset needs a signed agreement; nothing of it ships here.

MMECG has no radar frames, so its windows cannot come from ``edge.dsp``. They are adapted
to the ``WindowSet`` contract: both signals resampled to 100 Hz (polyphase, anti-aliased);
the 4 RCG points with the most cardiac-band power (0.8-3 Hz) over the trial stand in for
the 4 voxels; channel 0 is the second difference of each point's motion after the same
breathing suppression as the edge (Butterworth high-pass at 0.8 Hz), normalised per window
by ``edge.dsp.normalize.normalize_q15``; channels 1 and 2 (I and Q in our features) are
zero. The single ECG lead goes into lead II (``ecg_lead``); the other leads are NaN.
A model trained on these windows is an MMECG model, not one for our radar.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import butter, resample_poly, sosfiltfilt

from cardioradar import __version__
from cardioradar.errors import ConfigError, InputDataError
from host import metrics
from host.data.format import FORMAT_VERSION, LEADS_ORDER, N_LEADS, SPLITS, WindowSet, save_windows, write_manifest
from host.data.targets import anchors_at, mean_cycle_s, peak_mask_at

log = logging.getLogger(__name__)

MMECG_FS_HZ = 200.0
PHYSISTATUS = ("NB", "IB", "PE", "SP")
_FIELDS = ("RCG", "ECG", "id", "age", "gender", "physistatus")


@dataclass(frozen=True)
class MmecgTrial:
    """rcg: float64 (n, 50) at fs_hz; ecg_mv: float64 (n,); pos_xyz: (50, 3); fs_hz: 200."""

    rcg: np.ndarray
    ecg_mv: np.ndarray
    pos_xyz: np.ndarray
    subject: int
    age_y: float
    gender: str
    physistatus: str
    source: str
    fs_hz: float = MMECG_FS_HZ


def load_mmecg_trial(path: str | Path) -> MmecgTrial:
    """Read one trial; errors name the file and the field."""
    from scipy.io import loadmat

    path = Path(path)
    try:
        mat = loadmat(path, struct_as_record=False, squeeze_me=True)
    except NotImplementedError as e:  # MATLAB v7.3 files are HDF5
        raise InputDataError(f"{path}: a MATLAB v7.3 (HDF5) file; expected v5/v7",
                             hint="re-save it in MATLAB with save(..., '-v7')") from e
    except (OSError, ValueError) as e:
        raise InputDataError(f"{path}: not a readable .mat file: {e}") from e
    if "data" not in mat:
        raise InputDataError(f"{path}: expected a struct 'data', got variables {sorted(k for k in mat if not k.startswith('__'))}")
    d = mat["data"]
    missing = [f for f in _FIELDS if not hasattr(d, f)]
    if missing:
        raise InputDataError(f"{path}: data: missing fields {missing}")
    rcg = np.atleast_2d(np.asarray(d.RCG, np.float64))
    ecg = np.asarray(d.ECG, np.float64).reshape(-1)
    if rcg.ndim != 2 or rcg.shape[0] != len(ecg):
        raise InputDataError(f"{path}: data.RCG: expected (N, channels) with N = len(ECG) = {len(ecg)}, got {rcg.shape}")
    status = str(d.physistatus).strip()
    if status not in PHYSISTATUS:
        log.warning("%s: physistatus %r is none of %s", path, status, PHYSISTATUS)
    pos = np.asarray(getattr(d, "posXYZ", np.zeros((rcg.shape[1], 3))), np.float64)
    return MmecgTrial(rcg, ecg, pos, int(np.asarray(d.id).reshape(-1)[0]), float(np.asarray(d.age).reshape(-1)[0]),
                      str(d.gender).strip(), status, str(path))


def trial_windows(trial: MmecgTrial, window: int = 512, hop: int = 256, n_voxels: int = 4,
                  fs_hz: float = 100.0, ecg_lead: str = "II", cardiac_band_hz: tuple = (0.8, 3.0)) -> WindowSet:
    """The trial as model windows (see module doc). ``subject_id`` = MMECG ``id``."""
    from edge.dsp.normalize import normalize_q15

    if ecg_lead not in LEADS_ORDER:
        raise ConfigError(f"ecg_lead: expected one of {LEADS_ORDER}, got {ecg_lead!r}")
    up, down = int(fs_hz), int(trial.fs_hz)
    rcg = resample_poly(trial.rcg, up, down, axis=0)
    ecg = resample_poly(trial.ecg_mv, up, down)
    sos_bp = butter(2, cardiac_band_hz, btype="bandpass", fs=fs_hz, output="sos")
    power = np.mean(sosfiltfilt(sos_bp, rcg, axis=0) ** 2, axis=0)
    chosen = np.sort(np.argsort(power)[::-1][:n_voxels])
    motion = sosfiltfilt(butter(4, cardiac_band_hz[0], btype="highpass", fs=fs_hz, output="sos"), rcg[:, chosen], axis=0)
    dd = np.zeros_like(motion)
    dd[1:-1] = motion[2:] - 2 * motion[1:-1] + motion[:-2]
    scale = (1 << 20) / max(float(np.sqrt(np.mean(dd ** 2))), 1e-30)  # ~20 bits of int32 headroom
    dd_q = np.clip(np.rint(dd * scale), -(2**31), 2**31 - 1).astype(np.int32)
    r_peaks = metrics.detect_r_peaks_s(trial.ecg_mv, trial.fs_hz)
    t_all = np.arange(len(ecg)) / fs_hz
    starts = list(range(0, len(ecg) - window + 1, hop))
    feats = np.zeros((len(starts), window, n_voxels, 3), np.int16)
    ecg_w = np.full((len(starts), window, N_LEADS), np.nan, np.float32)
    for k, s in enumerate(starts):
        feats[k, :, :, 0] = normalize_q15(np.ascontiguousarray(dd_q[s:s + window]))
        ecg_w[k, :, LEADS_ORDER.index(ecg_lead)] = ecg[s:s + window]
    t = np.stack([t_all[s:s + window] for s in starts]) if starts else np.zeros((0, window))
    n = len(starts)
    return WindowSet(
        features_q15=feats, ecg_mv=ecg_w,
        anchors=np.stack([anchors_at(ti, r_peaks) for ti in t]) if n else np.zeros((0, window), np.float32),
        r_peak_mask=np.stack([peak_mask_at(ti, r_peaks) for ti in t]) if n else np.zeros((0, window), np.uint8),
        cycle_s=np.array([mean_cycle_s(ti[0], ti[-1], r_peaks) for ti in t], np.float32),
        subject_id=np.full(n, trial.subject, np.int32), condition=np.full(n, trial.physistatus or "unknown"),
        window_start_s=t[:, 0].astype(np.float64) if n else np.zeros(0),
    )


def build_mmecg_dataset(mat_dir: str | Path, out_dir: str | Path, seed: int = 0, val_frac: float = 0.15,
                        test_frac: float = 0.15) -> Path:
    """Every ``*.mat`` trial under ``mat_dir`` -> dataset folder, split by MMECG subject id."""
    from host.data.sim_dataset import split_subjects

    files = sorted(Path(mat_dir).glob("*.mat"))
    if not files:
        raise InputDataError(f"{mat_dir}: no .mat trials found")
    trials = [load_mmecg_trial(f) for f in files]
    ids = sorted({t.subject for t in trials})
    splits = split_subjects(len(ids), seed, val_frac, test_frac)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"format_version": FORMAT_VERSION, "source": "mmecg", "seed": int(seed), "software_version": __version__,
                "features": "MMECG RCG adapted: 4 strongest points, channel 0 = second difference, 1-2 zero",
                "leads_present": ["II"], "splits": {}}
    for split in SPLITS:
        chosen = [t for t in trials if ids.index(t.subject) in splits[split]]
        ws = WindowSet.concat([trial_windows(t) for t in chosen])
        save_windows(out / f"{split}.npz", ws)
        manifest["splits"][split] = {"n_windows": len(ws), "subjects": sorted({t.subject for t in chosen}),
                                     "trials": [{"file": Path(t.source).name, "id": t.subject, "age_y": t.age_y,
                                                 "gender": t.gender, "physistatus": t.physistatus,
                                                 "seconds": len(t.ecg_mv) / t.fs_hz} for t in chosen]}
    write_manifest(out, manifest)
    return out
