"""Evaluation of a reconstruction model on held-out subjects, clean or with noise.

The core, ``evaluate_windows(predictor, windows)``, takes any predictor with the signature
of ``edge.infer.EcgModel.predict``: features_q15 int16 (N, T, V, C) -> (ecg_mv (N, T, 12),
anchors (N, T), cycle_s (N,)). Every subject is scored by the one scorer, ``host.scoring``
(shared with `quantize model`'s report, `report` and `demo`): the windows are joined by the
board's own ``CrossFadeStitcher`` and R peaks come from the board's own ``edge.post``; then
the seed papers' metrics (max-NCC PCC on 2.56 s windows, RMSE, R-peak error, IBI error,
MDR, HR error, PPI error) and medians across subjects (radarODE-MTL). dm% compares with a
baseline result (the clean run for noise robustness, else the model-free
``TemplateBaseline``).

Window sources: simulated held-out subjects (``sim_windows``), subjects driven by ECG
recordings (``drive_windows``, one per file), a recorded session
(``host.data.session_dataset``; the board named in the session), or the test split of a
dataset folder. Without a model the board's shipped model is evaluated.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cardioradar.errors import ConfigError, InputDataError
from cardioradar.jsonvalues import json_clean
from host import metrics, scoring
from host.data.format import N_LEADS, WindowSet
from host.data.targets import anchors_at

log = logging.getLogger(__name__)

LEADS = scoring.LEADS
FS_HZ = 100.0
PCC_FAIL = scoring.PCC_FAIL
JSON_KEYS = ("pcc_median", "rmse_mv_median", "ibi_mae_ms_median", "rpeak_err_ms_median", "mdr",
             "hr_err_bpm_median", "n_beats", "n_subjects")
# dm% task groups (radarODE-MTL: morphology, R-peak anchors, cycle length): metric -> higher is better
DM_TASKS = {
    "ecg": {"rmse_mv_median": False, "pcc_median": True},
    "peaks": {"rpeak_err_ms_median": False, "mdr": False},
    "cycle": {"ppi_err_ms_median": False},
}

Predictor = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


SubjectMetrics = scoring.Score  # one recording's metrics (the name eval used before the one scorer)


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
    model: str | None = None  # the model file scored (None: the template baseline)
    per_file: dict | None = None  # --drive-ecg: file -> its metrics, or {"error": ...}
    noise_on: str | None = None  # host.noise definition ("paper" | "frames"); None: clean
    noise_definition: str | None = None  # NoiseSpec.describe(): where the noise went, SNR against what

    def to_json_dict(self) -> dict:
        d = dict(self.summary)
        d.update(source=self.source, noise=self.noise, dm_percent=self.dm_percent, dm_baseline=self.dm_baseline,
                 per_lead=self.per_lead, per_condition=self.per_condition, model=self.model,
                 noise_on=self.noise_on, noise_definition=self.noise_definition)
        if self.per_file is not None:
            d.update(per_file=self.per_file, n_files=len(self.per_file),
                     n_file_errors=sum("error" in v for v in self.per_file.values()))
        return json_clean(d)

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), sort_keys=True, allow_nan=False)

    def format_tables(self) -> str:
        s = self.summary
        lines = [f"{self.source} | noise: {self.noise} | {s['n_subjects']} subjects, "
                 f"{s['n_windows']} windows, {s['n_beats']} beats",
                 *([f"noise {self.noise_definition}"] if self.noise_definition else []),
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
        if self.per_file is not None:
            lines.append("file                                   rhythm       PCC    RMSE mV  Rpk ms  MDR %  HR bpm")
            for name, v in self.per_file.items():
                if "error" in v:
                    lines.append(f"{name:<38} error: {v['error']}")
                    continue
                lines.append(f"{name:<38} {v['rhythm']:<10} {_f(v['pcc_median']):>6} {_f(v['rmse_mv_median']):>8} "
                             f"{_f(v['rpeak_err_ms_median'], 1):>7} {_f(100 * v['mdr'], 1):>6} "
                             f"{_f(v['hr_err_bpm_median'], 2):>7}")
        return "\n".join(lines)


def _f(x, nd: int = 3) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{nd}f}"


_nanmedian = scoring.nanmedian
_nanmean = scoring.nanmean


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


summarise = scoring.summarise


def evaluate_windows(predictor: Predictor, ws: WindowSet, *, source: str = "windows", noise: str = "clean",
                     fs_hz: float = FS_HZ, hop_samples: int | None = None, lag_samples: int | None = None,
                     names: dict | None = None) -> EvalResult:
    """Predict every window, score each subject with the one scorer (``host.scoring``: the
    board's stitcher and R peaks), medians across subjects. ``hop_samples`` / ``lag_samples``:
    the DSP's hop (default half a window) and the stitcher's hold-back (default window - hop); ``names``: subject id -> label (files for --drive-ecg)."""
    if not len(ws):
        raise InputDataError(f"{source}: no windows to evaluate (recordings too short for one window?)")
    ecg, anchors, cycle = predict(predictor, ws.features_q15)
    hop = int(hop_samples) if hop_samples else ws.features_q15.shape[1] // 2
    subjects = scoring.score_windows(ws, ecg, anchors, cycle, fs_hz=fs_hz, hop_samples=hop,
                                     lag_samples=lag_samples, names=names)
    return EvalResult(source, noise, tuple(subjects), summarise(subjects), scoring.per_lead(subjects),
                      scoring.per_condition(subjects))


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


def drive_windows(ecg_path, seconds: float, seed: int, noises: tuple = (None,), board: str = "sim",
                  subject_id: int = 0, condition: str = "recorded", fs_hz: float | None = None) -> tuple[WindowSet, ...]:
    """Windows of one simulated subject whose heart follows the ECG recording ``ecg_path``
    (``fs_hz``: its rate, for files without a time column)."""
    from pathlib import Path

    from hardware_sim.record import DriveEcg
    from host.data.sim_dataset import simulate_windows

    out = simulate_windows(None, 0, seconds, seed, board, noises, seed, drive_ecg=DriveEcg(Path(ecg_path), fs_hz))
    return tuple(dataclasses.replace(w, condition=np.full(len(w), condition),
                                     subject_id=np.full(len(w), subject_id, w.subject_id.dtype)) for w in out)


def drive_files(paths) -> list:
    """The recordings named by ``paths``: files as given; folders as the recorded-ECG loader
    lists them (``hardware_sim.subject.recorded.list_recordings``: the suffixes it reads, a
    WFDB record by its .hea, licences / notes / annotations skipped)."""
    from pathlib import Path

    from hardware_sim.subject.recorded import list_recordings

    out = []
    for p in map(Path, [paths] if isinstance(paths, (str, bytes)) or hasattr(paths, "is_dir") else paths):
        out.extend(list_recordings(p) if p.is_dir() else [p])
    return out


def sidecar(path) -> dict:
    """A recording's sidecar: ``<stem>.json`` or ``<name>.json`` beside it (a JSON object), else
    its entry in a ``recordings.json`` {file name: {...}} of its folder; {} when none."""
    from pathlib import Path

    path = Path(path)
    for side in (path.with_suffix(".json"), path.with_name(path.name + ".json"), path.parent / "recordings.json"):
        if not side.is_file() or side == path:
            continue
        try:
            d = json.loads(side.read_text())
        except (OSError, ValueError) as e:
            log.warning("%s: sidecar not read (%s)", side, e)
            continue
        if side.name == "recordings.json":
            d = d.get(path.name) if isinstance(d, dict) else None
        if isinstance(d, dict):
            return d
    return {}


def rhythm_of(path) -> str:
    """A recording's rhythm: ``rhythm`` (or ``condition``) of its sidecar; else what the file
    itself states (a cart's statements, a Challenge header's diagnosis, WFDB rhythm
    annotations, a watch's classification), "af" when that names atrial fibrillation, so a
    folder without sidecars still reports per rhythm and screens AF; else "unknown"."""
    from cardioradar.errors import CardioRadarError
    from hardware_sim.subject.ecg_files import is_af_rhythm, load_ecg_recording

    d = sidecar(path)
    for key in ("rhythm", "condition"):
        if isinstance(d.get(key), str) and d[key]:
            return d[key]
    try:
        stated = load_ecg_recording(path, fs_hz=rate_of(path)).rhythm
    except (CardioRadarError, OSError, ValueError):  # drive_windows reports the file's error
        return "unknown"
    if not stated or not stated.strip():
        return "unknown"
    return "af" if is_af_rhythm(stated) else " ".join(stated.split())[:80]


def rate_of(path) -> float | None:
    """A recording's sample rate when the file may not carry it: ``fs_hz`` of its sidecar, else a
    ``<N>hz`` token in its name (``..._500hz.csv``), else None (the file's own)."""
    import re
    from pathlib import Path

    fs = sidecar(path).get("fs_hz")
    if isinstance(fs, (int, float)) and fs > 0:
        return float(fs)
    m = re.search(r"(?:^|[_.-])(\d+(?:\.\d+)?)hz(?:$|[_.-])", Path(path).stem.lower() + "_")
    return float(m.group(1)) if m else None


def drive_suite(paths, seconds: float, seed: int, noises: tuple = (None,), board: str = "sim"):
    """Windows of one driven subject per recording (subject id = file index, condition = its
    rhythm). Returns (WindowSets per noise, {id: file name}, {file name: rhythm or error})."""
    from cardioradar.errors import CardioRadarError
    from hardware_sim.subject.ecg_files import LOADABLE_SUFFIXES

    files = drive_files(paths)
    if not files:
        raise InputDataError(f"--drive-ecg {' '.join(map(str, [paths] if isinstance(paths, str) else paths))}: "
                             f"no ECG recordings there ({', '.join(LOADABLE_SUFFIXES)})")
    parts, names, status = [], {}, {}
    for i, f in enumerate(files):
        name = f.name if sum(g.name == f.name for g in files) == 1 else str(f)
        try:
            rhythm = rhythm_of(f)
            ws = drive_windows(f, seconds, seed, noises, board, subject_id=i, condition=rhythm, fs_hz=rate_of(f))
            if not len(ws[0]):
                raise InputDataError(f"{f}: no model window ({seconds:g} s simulated)")
        except (CardioRadarError, OSError, ValueError) as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            msg = msg if str(f) in msg else f"{f}: {msg}"  # the file named once (the readers name it)
            log.warning("--drive-ecg: %s", msg)
            status[name] = {"error": msg}
            continue
        parts.append(ws)
        names[i] = name
        status[name] = {"rhythm": rhythm}
    if not parts:
        raise InputDataError("--drive-ecg: no recording could be used: "
                             + "; ".join(v["error"] for v in status.values()))
    return tuple(WindowSet.concat([p[k] for p in parts]) for k in range(len(noises))), names, status


def session_board(path) -> str:
    """The board a session was recorded on: the session's ``board`` metadata (a session .db)
    or ``board`` of a `sim record` folder's truth.npz; "sim" when neither says."""
    from pathlib import Path

    path = Path(path)
    board = None
    if path.suffix == ".db" and path.is_file():
        from edge.store import SessionReader

        with SessionReader(path) as r:
            board = r.metadata().get("board")
    elif path.is_dir() and (path / "truth.npz").is_file():
        with np.load(path / "truth.npz") as z:
            board = str(z["board"]) if "board" in z.files else None
    if not board:
        log.warning("%s: the session names no board; the sim profile is assumed", path)
        return "sim"
    return str(board)


# ---- the `cardioradar eval` request ------------------------------------------------------
@dataclass(frozen=True)
class EvalRequest:
    """What ``cardioradar eval`` asks for; one source of windows (default: simulated subjects).
    No ``model`` and no ``baseline``: the board's shipped model (its profile's model)."""

    model: str | None = None
    baseline: bool = False
    subjects: int | None = None
    seconds: float = 60.0
    seed: int = 1000
    drive_ecg: tuple | str | None = None
    session: str | None = None
    ref_ecg: str | None = None
    ref_offset_s: float | None = None
    dataset: str | None = None
    snr_db: float | None = None
    burst_s: float | None = None
    burst_db: float = 0.0
    noise_on: str = "paper"  # host.noise definition: "paper" or "frames"
    workers: int = 1


def load_predictor(model_path: str | None, baseline: bool = False, board: str = "sim") -> tuple[Predictor, dict, str]:
    """(predict callable, metadata, label). ``baseline``: the template baseline; no path: the
    model of ``board``'s profile (the shipped model)."""
    if baseline:
        if model_path is not None:
            raise ConfigError("--baseline and --model: choose one (--baseline scores the model-free template)")
        return TemplateBaseline(), {}, TemplateBaseline.name
    if model_path is None:
        from boards import load_profile

        model_path = load_profile(board).model_path
        log.info("no --model: the board %s's model %s", board, model_path)
    if str(model_path).endswith(".keras"):
        return _keras_predictor(model_path)
    try:
        from edge.infer import EcgModel
    except ImportError as e:
        raise ConfigError(f"--model {model_path}: edge.infer is not available ({e})",
                          hint="use --baseline to evaluate the model-free template baseline") from e
    model = EcgModel(model_path)
    return model.predict, model.meta.to_json(), _shown(model_path)


def _shown(path) -> str:
    """A model path as the user would type it: relative to the working folder when inside it."""
    from pathlib import Path

    p = Path(path).resolve()
    try:
        return str(p.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


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

    from edge.dsp.tensor import Q15_SCALE

    model = models.load_model(str(path), compile=False)
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    if not meta:
        log.warning("%s: no metadata beside it: the held-out check cannot refuse its training seed", path)

    def predict_float(features_q15: np.ndarray):
        ecg, anchors, cycle = model.predict(features_q15.astype(np.float32) / Q15_SCALE, batch_size=64, verbose=0)
        return np.asarray(ecg), np.asarray(anchors), np.asarray(cycle).reshape(-1)

    return predict_float, meta, str(path)


def request_windows(req: EvalRequest, noises: tuple, train_seed: int | None, board: str = "sim"):
    """One WindowSet per noise spec from the request's source, the source's label, and for
    --drive-ecg ({subject id: file name}, {file name: rhythm or error}) else (None, None)."""
    if req.dataset is not None:
        from host.data.format import load_split

        if any(n is not None for n in noises):
            raise ConfigError("--dataset: the windows are already made; noise needs raw frames",
                              hint="use --subjects/--session/--drive-ecg with --snr-db or --bursts")
        return (load_split(req.dataset, "test"),), f"test split of {req.dataset}", None, None
    if req.drive_ecg is not None:
        paths = (req.drive_ecg,) if isinstance(req.drive_ecg, str) else tuple(req.drive_ecg)
        windows, names, status = drive_suite(paths, req.seconds, req.seed, noises, board)
        return windows, f"driven by {' '.join(map(str, paths))} ({req.seconds:g} s each)", names, status
    if req.session is not None:
        from edge.dsp.config import DspConfig

        from boards import load_profile
        from host.data.recording import recording_windows
        from host.data.session_dataset import load_session_recording

        rec = load_session_recording(req.session, req.ref_ecg, req.ref_offset_s, board=board)
        cfg = DspConfig.from_profile(load_profile(board))
        return (tuple(recording_windows(rec, cfg, 0, n, req.seed) for n in noises),
                f"session {req.session} (board {board})", None, None)
    n = req.subjects if req.subjects is not None else 10
    return (sim_windows(n, req.seconds, req.seed, noises, workers=req.workers, train_seed=train_seed),
            f"{n} simulated subjects x {req.seconds:g} s, seed {req.seed}", None, None)


def _per_file(result: EvalResult, status: dict | None) -> dict | None:
    """--drive-ecg: each file's metrics (its own summary and per-lead PCC / RMSE) or its error."""
    if status is None:
        return None
    by_name = {s.name: s for s in result.subjects}
    out = {}
    for name, st in status.items():
        s = by_name.get(name)
        if s is None:
            out[name] = {"error": st.get("error", "no windows scored")}
            continue
        d = summarise([s])
        d.update(rhythm=st.get("rhythm", s.condition),
                 per_lead={lead: {"pcc": s.pcc_lead[j], "rmse_mv": s.rmse_lead_mv[j]} for j, lead in enumerate(LEADS)})
        out[name] = d
    return out


def run_eval(req: EvalRequest) -> EvalResult:
    """Evaluate; with noise, dm% is against the same model on the clean input (no retraining),
    without noise against the template baseline on the same windows."""
    from edge.dsp.config import DspConfig

    from boards import load_profile
    from host.noise import NoiseSpec

    board = session_board(req.session) if req.session is not None else "sim"
    predictor, meta, label = load_predictor(req.model, req.baseline, board)
    dsp = DspConfig.from_profile(load_profile(board))
    spec = NoiseSpec(snr_db=req.snr_db, burst_s=req.burst_s, burst_db=req.burst_db, on=req.noise_on)
    noises = (None, spec) if spec.active else (None,)
    windows, source, names, status = request_windows(req, noises, training_seed(meta), board)
    model = None if isinstance(predictor, TemplateBaseline) else label
    hop, lag = dsp.hop_samples, dsp.lag_samples  # what the board runs
    if req.dataset is not None:
        # A dataset's windows lie its own stride apart (a training set's, not the board's hop):
        # joined at that stride, as `quantize model`'s report joins them; at the board's hop
        # no two would be consecutive and each would be scored alone.
        from host.data.format import read_manifest

        stride = read_manifest(req.dataset).get("dsp", {}).get("hop_samples", windows[0].features_q15.shape[1] // 2)
        hop, lag = int(stride), None
        source = f"{source} (windows {hop} samples apart, joined at that stride)"

    def score(pred, ws, noise="clean", src=None):
        r = evaluate_windows(pred, ws, source=src or f"{label} on {source}", noise=noise,
                             hop_samples=hop, lag_samples=lag, names=names)
        return dataclasses.replace(r, model=model, per_file=_per_file(r, status))

    clean = score(predictor, windows[0])
    if spec.active:
        noisy = dataclasses.replace(score(predictor, windows[1], spec.label()), noise_on=spec.on,
                                    noise_definition=spec.describe())
        return with_dm(noisy, clean, "clean input")
    if isinstance(predictor, TemplateBaseline):
        return clean
    return with_dm(clean, score(TemplateBaseline(), windows[0], src=source), TemplateBaseline.name)
