"""Evaluation of a reconstruction model on held-out subjects, clean or with noise.

The core, ``evaluate_windows(predictor, windows)``, takes any predictor with the signature
of ``edge.infer.EcgModel.predict``: features_q15 int16 (N, T, V, C) -> (ecg_mv (N, T, 12),
anchors (N, T), cycle_s (N,)). Per subject, the overlapping windows of prediction and truth
are stitched onto one track (Hann-weighted overlap-add), then the seed papers' metrics are
computed with ``host.metrics``:

- PCC: max normalised cross-correlation over lags on 2.56 s windows, per lead; a subject's
  PCC is the median over its windows of the mean over leads (CardioRadar);
- RMSE in mV per lead (subject value: mean over leads);
- R peaks by NeuroKit2 on lead II of truth and reconstruction, matched within 150 ms:
  R-peak timing error, IBI MAE, MDR (pooled over all true beats), HR error on 30-s pieces;
- cycle-length (PPI) error: |predicted - true mean RR| per window, ms;
then medians across subjects (radarODE-MTL). dm% compares with a baseline result (the
clean run for noise robustness, else a model-free template baseline, ``TemplateBaseline``).

Window sources: simulated held-out subjects (``sim_windows``), a subject driven by an ECG
recording (``drive_windows``), a recorded session (``host.data.session_dataset``), or the
test split of a dataset folder.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cardioradar.errors import ConfigError, InputDataError
from host import metrics
from host.data.format import N_LEADS, WindowSet
from host.data.targets import anchors_at

log = logging.getLogger(__name__)

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
LEAD_II = 1
FS_HZ = 100.0
HR_PIECE_S = 30.0
PCC_FAIL = 0.6  # radarODE-MTL: a reconstruction "fails" below 60 % PCC
JSON_KEYS = ("pcc_median", "rmse_mv_median", "ibi_mae_ms_median", "rpeak_err_ms_median", "mdr",
             "hr_err_bpm_median", "n_beats", "n_subjects")
# dm% task groups (radarODE-MTL: morphology, R-peak anchors, cycle length): metric -> higher is better
DM_TASKS = {
    "ecg": {"rmse_mv_median": False, "pcc_median": True},
    "peaks": {"rpeak_err_ms_median": False, "mdr": False},
    "cycle": {"ppi_err_ms_median": False},
}

Predictor = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class SubjectMetrics:
    """One subject. pcc_lead / rmse_lead_mv: (12,) (NaN for leads the truth lacks)."""

    subject_id: int
    condition: str
    n_windows: int
    seconds: float
    pcc: float
    pcc_windows: np.ndarray  # (n_pcc_windows,) mean-over-leads PCC of each 2.56 s window
    pcc_lead: np.ndarray
    rmse_mv: float
    rmse_lead_mv: np.ndarray
    n_beats: int
    n_missed: int
    rpeak_err_ms: float
    ibi_mae_ms: float
    hr_err_bpm: float
    ppi_err_ms: float

    @property
    def mdr(self) -> float:
        return self.n_missed / self.n_beats if self.n_beats else float("nan")


@dataclass(frozen=True)
class EvalResult:
    """summary: the JSON keys (``JSON_KEYS`` and more); per_lead: lead -> {pcc_median,
    rmse_mv_median}; per_condition: condition -> summary of its subjects."""

    source: str
    noise: str
    subjects: tuple[SubjectMetrics, ...]
    summary: dict
    per_lead: dict
    per_condition: dict
    dm_percent: float | None = None
    dm_baseline: str | None = None

    def to_json_dict(self) -> dict:
        d = dict(self.summary)
        d.update(source=self.source, noise=self.noise, dm_percent=self.dm_percent, dm_baseline=self.dm_baseline,
                 per_lead=self.per_lead, per_condition=self.per_condition)
        return _json_clean(d)

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), sort_keys=True, allow_nan=False)

    def format_tables(self) -> str:
        s = self.summary
        lines = [f"{self.source} | noise: {self.noise} | {s['n_subjects']} subjects, "
                 f"{s['n_windows']} windows, {s['n_beats']} beats",
                 f"PCC median {_f(s['pcc_median'])} (window mean {_f(s['pcc_window_mean'])}, "
                 f"fail < {PCC_FAIL}: {_f(100 * s['fail_rate'], 1)} %)  RMSE median {_f(s['rmse_mv_median'])} mV",
                 f"R-peak error {_f(s['rpeak_err_ms_median'], 1)} ms  IBI MAE {_f(s['ibi_mae_ms_median'], 1)} ms  "
                 f"MDR {_f(100 * s['mdr'], 1)} %  HR error {_f(s['hr_err_bpm_median'], 2)} bpm  "
                 f"PPI error {_f(s['ppi_err_ms_median'], 1)} ms"]
        if self.dm_percent is not None:
            lines.append(f"dm% vs {self.dm_baseline}: {self.dm_percent:+.1f}")
        lines.append("lead   PCC    RMSE mV")
        lines += [f"{k:<5} {_f(v['pcc_median']):>6} {_f(v['rmse_mv_median']):>8}" for k, v in self.per_lead.items()]
        lines.append("condition      subj   PCC    RMSE mV  Rpk ms  MDR %  HR bpm")
        for c, v in self.per_condition.items():
            lines.append(f"{c:<14} {v['n_subjects']:>4} {_f(v['pcc_median']):>6} {_f(v['rmse_mv_median']):>8} "
                         f"{_f(v['rpeak_err_ms_median'], 1):>7} {_f(100 * v['mdr'], 1):>6} {_f(v['hr_err_bpm_median'], 2):>7}")
        return "\n".join(lines)


def _f(x, nd: int = 3) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{nd}f}"


def _json_clean(x):
    if isinstance(x, dict):
        return {k: _json_clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def _nanmedian(x) -> float:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else float("nan")


def _nanmean(x) -> float:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(np.mean(x)) if len(x) else float("nan")


# ---- prediction and stitching ------------------------------------------------------------
def predict(predictor: Predictor, features_q15: np.ndarray, batch: int = 64):
    """Run ``predictor`` in batches; checks the output shapes."""
    n, t = features_q15.shape[:2]
    outs = [predictor(features_q15[i:i + batch]) for i in range(0, n, batch)]
    ecg = np.concatenate([o[0] for o in outs]) if outs else np.zeros((0, t, N_LEADS), np.float32)
    anchors = np.concatenate([o[1] for o in outs]) if outs else np.zeros((0, t), np.float32)
    cycle = np.concatenate([np.reshape(o[2], -1) for o in outs]) if outs else np.zeros(0, np.float32)
    if ecg.shape != (n, t, N_LEADS) or anchors.shape != (n, t) or cycle.shape != (n,):
        raise InputDataError(f"predictor output: expected ecg ({n}, {t}, {N_LEADS}), anchors ({n}, {t}), "
                             f"cycle ({n},); got {ecg.shape}, {anchors.shape}, {cycle.shape}")
    return ecg.astype(np.float64), anchors.astype(np.float64), cycle.astype(np.float64)


def stitch(starts: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Overlap-add windows ``values`` (N, T, ...) placed at sample ``starts`` (N,) (from 0).

    Hann-weighted (floored so a window's edge still counts where nothing else covers it).
    Returns (track (n, ...) float64, covered bool (n,)); NaN where no window covers.
    """
    n_win, t = values.shape[:2]
    total = int(starts.max()) + t
    w = np.maximum(np.hanning(t + 2)[1:-1], 1e-3).reshape((t,) + (1,) * (values.ndim - 2))
    acc = np.zeros((total,) + values.shape[2:])
    wsum = np.zeros((total,) + (1,) * (values.ndim - 2))
    for s, v in zip(starts, values):
        acc[s:s + t] += w * v
        wsum[s:s + t] += w
    covered = wsum.reshape(total) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(wsum > 0, acc / wsum, np.nan), covered


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


# ---- per-subject metrics -----------------------------------------------------------------
def subject_metrics(ws: WindowSet, pred_ecg: np.ndarray, pred_cycle: np.ndarray, fs_hz: float = FS_HZ) -> SubjectMetrics:
    """Metrics of one subject's windows ``ws`` (all one subject) against predictions."""
    t0 = float(ws.window_start_s.min())
    starts = np.rint((ws.window_start_s - t0) * fs_hz).astype(np.int64)
    truth, covered = stitch(starts, ws.ecg_mv.astype(np.float64))
    recon, _ = stitch(starts, pred_ecg)
    pcc_rows, rmse_parts, weights = [], [], []
    tim, ibi, hr = [], [], []
    n_true = n_missed = 0
    for a, b in _runs(covered):
        x, y = recon[a:b], truth[a:b]
        pcc_rows.append(metrics.window_pcc(x, y, fs_hz))
        rmse_parts.append(metrics.rmse_mv(x, y) ** 2)
        weights.append(b - a)
        t_true = metrics.detect_r_peaks_s(y[:, LEAD_II], fs_hz)
        t_pred = metrics.detect_r_peaks_s(np.nan_to_num(x[:, LEAD_II]), fs_hz)
        m = metrics.match_peaks(t_true, t_pred)
        n_true += len(m.true_s)
        n_missed += m.n_missed
        tim.append(m.timing_errors_ms)
        ibi.append(m.ibi_errors_ms)
        for p0 in np.arange(0.0, max((b - a) / fs_hz - HR_PIECE_S / 2, 0.0) + 1e-9, HR_PIECE_S):
            sel_t = t_true[(t_true >= p0) & (t_true < p0 + HR_PIECE_S)]
            sel_p = t_pred[(t_pred >= p0) & (t_pred < p0 + HR_PIECE_S)]
            hr.append(metrics.hr_error_bpm(sel_t, sel_p))
    pcc = np.concatenate(pcc_rows) if pcc_rows else np.zeros((0, N_LEADS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pcc_win = np.nanmean(pcc, axis=1) if len(pcc) else np.zeros(0)
        pcc_lead = np.nanmedian(pcc, axis=0) if len(pcc) else np.full(N_LEADS, np.nan)
        rmse_lead = np.sqrt(np.average(np.array(rmse_parts), axis=0, weights=weights))
    tim_a, ibi_a = np.concatenate(tim), np.concatenate(ibi)
    return SubjectMetrics(
        subject_id=int(ws.subject_id[0]), condition=str(ws.condition[0]), n_windows=len(ws),
        seconds=float(covered.sum() / fs_hz), pcc=_nanmedian(pcc_win), pcc_windows=pcc_win, pcc_lead=pcc_lead,
        rmse_mv=_nanmean(rmse_lead), rmse_lead_mv=rmse_lead, n_beats=n_true, n_missed=n_missed,
        rpeak_err_ms=_nanmean(tim_a), ibi_mae_ms=_nanmean(ibi_a), hr_err_bpm=_nanmedian(hr),
        ppi_err_ms=_nanmean(1000.0 * np.abs(pred_cycle - ws.cycle_s)),
    )


def summarise(subjects: list[SubjectMetrics]) -> dict:
    """Medians across subjects (pooled MDR and window PCC statistics)."""
    pw = np.concatenate([s.pcc_windows for s in subjects]) if subjects else np.zeros(0)
    pw = pw[np.isfinite(pw)]
    n_beats = int(sum(s.n_beats for s in subjects))
    return {
        "pcc_median": _nanmedian([s.pcc for s in subjects]),
        "pcc_window_mean": _nanmean(pw),
        "pcc_window_median": _nanmedian(pw),
        "fail_rate": float(np.mean(pw < PCC_FAIL)) if len(pw) else float("nan"),
        "rmse_mv_median": _nanmedian([s.rmse_mv for s in subjects]),
        "ibi_mae_ms_median": _nanmedian([s.ibi_mae_ms for s in subjects]),
        "rpeak_err_ms_median": _nanmedian([s.rpeak_err_ms for s in subjects]),
        "mdr": sum(s.n_missed for s in subjects) / n_beats if n_beats else float("nan"),
        "mdr_median": _nanmedian([s.mdr for s in subjects]),
        "hr_err_bpm_median": _nanmedian([s.hr_err_bpm for s in subjects]),
        "ppi_err_ms_median": _nanmedian([s.ppi_err_ms for s in subjects]),
        "n_beats": n_beats,
        "n_subjects": len(subjects),
        "n_windows": int(sum(s.n_windows for s in subjects)),
        "seconds": float(sum(s.seconds for s in subjects)),
    }


def evaluate_windows(predictor: Predictor, ws: WindowSet, *, source: str = "windows", noise: str = "clean",
                     fs_hz: float = FS_HZ) -> EvalResult:
    """Predict every window, then metrics per subject and medians across subjects."""
    if not len(ws):
        raise InputDataError(f"{source}: no windows to evaluate (recordings too short for one window?)")
    ecg, _, cycle = predict(predictor, ws.features_q15)
    subjects = []
    for sid in ws.subjects():
        sel = np.flatnonzero(ws.subject_id == sid)
        subjects.append(subject_metrics(ws.select(sel), ecg[sel], cycle[sel], fs_hz))
    per_lead = {lead: {"pcc_median": _nanmedian([s.pcc_lead[j] for s in subjects]),
                       "rmse_mv_median": _nanmedian([s.rmse_lead_mv[j] for s in subjects])}
                for j, lead in enumerate(LEADS)}
    per_condition = {c: summarise([s for s in subjects if s.condition == c])
                     for c in sorted({s.condition for s in subjects})}
    return EvalResult(source, noise, tuple(subjects), summarise(subjects), per_lead, per_condition)


def dm_vs(result: EvalResult, baseline: EvalResult) -> float:
    """radarODE-MTL dm% of ``result`` against ``baseline`` over ``DM_TASKS`` (positive = better).

    Metrics whose baseline is zero or not finite (e.g. MDR 0) cannot give a relative change
    and are left out of their task; a task with none left is left out.
    """
    per_task = []
    for task, keys in DM_TASKS.items():
        usable = {k: hb for k, hb in keys.items()
                  if np.isfinite(result.summary[k]) and np.isfinite(baseline.summary[k]) and baseline.summary[k] != 0}
        if usable:
            per_task.append(metrics.dm_percent(result.summary, baseline.summary, usable))
        else:
            log.info("dm%%: task %s has no usable metric against this baseline", task)
    return float(np.mean(per_task)) if per_task else float("nan")


def with_dm(result: EvalResult, baseline: EvalResult, label: str) -> EvalResult:
    return dataclasses.replace(result, dm_percent=dm_vs(result, baseline), dm_baseline=label)


# ---- predictors without a trained model --------------------------------------------------
class OraclePredictor:
    """Returns the truth of windows it was given (optionally plus Gaussian noise in mV):
    the upper bound of the metrics and a test of the evaluation itself."""

    def __init__(self, ws: WindowSet, noise_mv: float = 0.0, seed: int = 0):
        self._truth = {hash(ws.features_q15[i].tobytes()): i for i in range(len(ws))}
        self._ws, self.noise_mv, self.seed = ws, noise_mv, seed

    def __call__(self, features_q15: np.ndarray):
        idx = []
        for f in features_q15:
            i = self._truth.get(hash(f.tobytes()))
            if i is None:
                raise InputDataError("oracle: a window it was not built with")
            idx.append(i)
        ws = self._ws
        ecg = ws.ecg_mv[idx].astype(np.float64)
        if self.noise_mv > 0:
            rng = np.random.default_rng([self.seed, idx[0] if idx else 0])
            ecg = ecg + rng.normal(0.0, self.noise_mv, ecg.shape)
        return ecg, ws.anchors[idx], ws.cycle_s[idx]


class TemplateBaseline:
    """Model-free baseline: a fixed healthy 12-lead beat placed at beats found in the radar
    features (peaks of the smoothed feature energy, spaced by its autocorrelation period).

    No learning, no ECG input: the floor a model must beat (dm% is measured against it).
    """

    name = "template baseline"

    def __init__(self, fs_hz: float = FS_HZ):
        self.fs_hz = fs_hz
        self.template_mv, self.r_offset = _healthy_template(fs_hz)

    def __call__(self, features_q15: np.ndarray):
        from scipy.signal import find_peaks

        n, t = features_q15.shape[:2]
        fs = self.fs_hz
        ecg = np.zeros((n, t, N_LEADS))
        anchors = np.zeros((n, t))
        cycle = np.zeros(n)
        times = np.arange(t) / fs
        k = max(int(0.1 * fs), 1)
        for i in range(n):
            e = np.sum(features_q15[i].astype(np.float64) ** 2, axis=(1, 2))
            e = np.convolve(e, np.ones(k) / k, mode="same")
            rr = _period_s(e, fs)
            beats, _ = find_peaks(e, distance=max(int(0.7 * rr * fs), 1))
            cycle[i] = rr
            anchors[i] = anchors_at(times, beats / fs)
            for b in beats:
                a0 = b - self.r_offset
                lo, hi = max(a0, 0), min(a0 + len(self.template_mv), t)
                ecg[i, lo:hi] = self.template_mv[lo - a0:hi - a0]
        return ecg, anchors, cycle


def _period_s(e: np.ndarray, fs: float, lo_s: float = 0.33, hi_s: float = 1.5) -> float:
    x = e - e.mean()
    ac = np.correlate(x, x, mode="full")[len(x) - 1:]
    lo, hi = int(lo_s * fs), min(int(hi_s * fs), len(ac) - 1)
    return (lo + int(np.argmax(ac[lo:hi]))) / fs if hi > lo else 1.0


def _healthy_template(fs_hz: float) -> tuple[np.ndarray, int]:
    """Mean beat (R - 0.25 s .. R + 0.45 s) of the simulator's healthy-rest subject, seed 0."""
    from hardware_sim.record import make_subject
    from host.data.targets import Reference

    subj = make_subject("healthy-rest", 0)
    t = np.arange(0, 20.0, 1 / 500.0)
    ref = Reference(np.asarray(subj.electrical.ecg_mv(t), np.float32), 500.0, 0.0, np.zeros(0))
    r = np.array([b.r_time_s for b in subj.electrical.beats_between(1.0, 19.0)])
    off = np.arange(int(round(-0.25 * fs_hz)), int(round(0.45 * fs_hz))) / fs_hz
    beats = np.stack([ref.at(ri + off, fs_hz) for ri in r])
    return np.nanmean(beats, axis=0).astype(np.float64), int(round(0.25 * fs_hz))


# ---- window sources ----------------------------------------------------------------------
def training_seed(metadata: dict) -> int | None:
    """The simulated dataset seed a model was trained on, when its metadata says so
    (``training.dataset_seed`` as `quantize model` writes it, or ``training_data.seed`` /
    ``dataset.seed``)."""
    if not isinstance(metadata, dict):
        return None
    for key, field in (("training", "dataset_seed"), ("training_data", "seed"), ("dataset", "seed")):
        v = metadata.get(key)
        if isinstance(v, dict) and isinstance(v.get(field), int):
            return int(v[field])
    return None


def sim_windows(n_subjects: int, seconds: float, seed: int, noises: tuple = (None,), *, workers: int = 1,
                board: str = "sim", train_seed: int | None = None) -> tuple[WindowSet, ...]:
    """Windows of ``n_subjects`` fresh simulated subjects (population seed ``seed``), one
    WindowSet per entry of ``noises`` (None = clean), all from the same recordings."""
    from hardware_sim.subject.params import random_population
    from host.data.sim_dataset import simulate_population

    if train_seed is not None and int(train_seed) == int(seed):
        raise ConfigError(f"--seed {seed}: the model was trained on the population of seed {train_seed}; "
                          "its subjects are not held out",
                          hint="use another --seed, or --dataset DIR to evaluate on that dataset's test split")
    pop = random_population(n_subjects, seed)
    parts = simulate_population(pop, list(range(n_subjects)), seconds, seed, workers, board, noises, desc="eval")
    return tuple(WindowSet.concat([p[k] for p in parts]) for k in range(len(noises)))


def drive_windows(ecg_path, seconds: float, seed: int, noises: tuple = (None,), board: str = "sim") -> tuple[WindowSet, ...]:
    """Windows of one simulated subject whose heart follows the ECG recording ``ecg_path``."""
    from pathlib import Path

    from hardware_sim.record import DriveEcg
    from host.data.sim_dataset import simulate_windows

    out = simulate_windows(None, 0, seconds, seed, board, noises, seed, drive_ecg=DriveEcg(Path(ecg_path)))
    return tuple(dataclasses.replace(w, condition=np.full(len(w), "recorded")) for w in out)


# ---- the `cardioradar eval` request ------------------------------------------------------
@dataclass(frozen=True)
class EvalRequest:
    """What ``cardioradar eval`` asks for; one source of windows (default: simulated subjects)."""

    model: str | None = None
    subjects: int | None = None
    seconds: float = 60.0
    seed: int = 1000
    drive_ecg: str | None = None
    session: str | None = None
    ref_ecg: str | None = None
    ref_offset_s: float | None = None
    dataset: str | None = None
    snr_db: float | None = None
    burst_s: float | None = None
    burst_db: float = 0.0
    workers: int = 1


def load_predictor(model_path: str | None) -> tuple[Predictor, dict, str]:
    """(predict callable, metadata, label); no path = ``TemplateBaseline``."""
    if model_path is None:
        return TemplateBaseline(), {}, TemplateBaseline.name
    if str(model_path).endswith(".keras"):
        return _keras_predictor(model_path)
    try:
        from edge.infer import EcgModel
    except ImportError as e:
        raise ConfigError(f"--model {model_path}: edge.infer is not available ({e})",
                          hint="leave out --model to evaluate the template baseline") from e
    model = EcgModel(model_path)
    return model.predict, model.meta.to_json(), str(model_path)


def _keras_predictor(model_path: str) -> tuple[Predictor, dict, str]:
    """The float Keras model (for float vs int8 comparisons), fed the same Q15 features.

    Its metadata (for the held-out check) is ``<model>.json`` when present -- e.g. copy the int8
    model's metadata there; without it the caller must choose a population seed it did not train on.
    """
    from pathlib import Path

    path = Path(model_path)
    if not path.is_file():
        raise ConfigError(f"--model {model_path}: no such file")
    from tf_keras import models  # host only: TensorFlow is not on the board

    model = models.load_model(str(path), compile=False)
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    if not meta:
        log.warning("%s: no metadata beside it: the held-out check cannot refuse its training seed", path)

    def predict_float(features_q15: np.ndarray):
        ecg, anchors, cycle = model.predict(features_q15.astype(np.float32) / 32768.0, batch_size=64, verbose=0)
        return np.asarray(ecg), np.asarray(anchors), np.asarray(cycle).reshape(-1)

    return predict_float, meta, str(path)


def request_windows(req: EvalRequest, noises: tuple, train_seed: int | None) -> tuple[tuple[WindowSet, ...], str]:
    """One WindowSet per noise spec from the request's source, and the source's label."""
    if req.dataset is not None:
        from host.data.format import load_split

        if any(n is not None for n in noises):
            raise ConfigError("--dataset: the windows are already made; noise needs raw frames",
                              hint="use --subjects/--session/--drive-ecg with --snr-db or --bursts")
        return (load_split(req.dataset, "test"),), f"test split of {req.dataset}"
    if req.drive_ecg is not None:
        return drive_windows(req.drive_ecg, req.seconds, req.seed, noises), f"driven by {req.drive_ecg}"
    if req.session is not None:
        from edge.dsp.config import DspConfig

        from boards import load_profile
        from host.data.recording import recording_windows
        from host.data.session_dataset import load_session_recording

        rec = load_session_recording(req.session, req.ref_ecg, req.ref_offset_s)
        cfg = DspConfig.from_profile(load_profile("sim"))
        return tuple(recording_windows(rec, cfg, 0, n, req.seed) for n in noises), f"session {req.session}"
    n = req.subjects if req.subjects is not None else 10
    return (sim_windows(n, req.seconds, req.seed, noises, workers=req.workers, train_seed=train_seed),
            f"{n} simulated subjects x {req.seconds:g} s, seed {req.seed}")


def run_eval(req: EvalRequest) -> EvalResult:
    """Evaluate; with noise, dm% is against the same model on the clean input (no retraining),
    without noise against the template baseline on the same windows."""
    from host.noise import NoiseSpec

    predictor, meta, label = load_predictor(req.model)
    spec = NoiseSpec(snr_db=req.snr_db, burst_s=req.burst_s, burst_db=req.burst_db)
    noises = (None, spec) if spec.active else (None,)
    windows, source = request_windows(req, noises, training_seed(meta))
    clean = evaluate_windows(predictor, windows[0], source=f"{label} on {source}")
    if spec.active:
        noisy = evaluate_windows(predictor, windows[1], source=clean.source, noise=spec.label())
        return with_dm(noisy, clean, "clean input")
    if isinstance(predictor, TemplateBaseline):
        return clean
    base = evaluate_windows(TemplateBaseline(), windows[0], source=source)
    return with_dm(clean, base, TemplateBaseline.name)
