"""`cardioradar bench paper`: the seed papers' tables reproduced on our pipeline.

Every figure comes from ``host.eval``'s path and the one scorer (``host.scoring``): the
board's stitcher and R peaks, the papers' metrics, medians across held-out subjects.

- Table I (radarODE-MTL): the four multi-task optimisers (``host.mtl``: equal, uncertainty,
  Aligned-MTL, EGA) trained by ``host.train.fit`` on one simulated dataset with one seed,
  scored on the held-out subjects below; dm% against equal weighting. Models and their
  dataset are cached under ``<out>/models/<config>/`` and reused by a later run.
- Tables III / IV: the shipped int8 model on held-out simulated subjects, clean and with
  constant noise (6 .. -3 dB) and bursts (1, 2, 3 s at 0 and -9 dB on 20 % of the segments),
  once per noise definition of ``host.noise`` (``paper`` and ``frames`` side by side); dm%
  against the same model on the clean input, as ``cardioradar eval --snr-db`` reports it,
  and the paper's own 4-metric dm% (no PPI term) beside it.
- CardioRadar's table: per-lead PCC / RMSE and the IBI error of the shipped model, on the same
  held-out subjects and on the real-ECG-driven suite.
- AF screening (``host.paper.af``): the product's detector on the board's beats, held-out
  subjects of the simulator's rhythm presets (AF against sinus, PAC, PVC) and the suite.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cardioradar.cliargs import refuse_overwrite
from cardioradar.errors import CardioRadarError, ConfigError
from cardioradar.jsonvalues import json_clean
from host import eval as ev
from host import scoring
from host.paper import af, reference
from host.paper.tables import Table, fig8

log = logging.getLogger(__name__)

METHODS = ("equal", "uncertainty", "aligned", "ega")  # Table I rows; dm% is against the first
# the paper's dm% of Tables III / IV: ECG shape (RMSE, PCC) and peaks (error, MDR); no PPI column
PAPER_NOISE_TASKS = {"ecg": ev.DM_TASKS["ecg"], "peaks": ev.DM_TASKS["peaks"]}
TABLES = ("table1_mtl", "table3_constant_noise", "table4_bursts", "cardioradar_leads", "cardioradar_ibi",
          "af_screening")
PLOTS = ("fig8a_dm_vs_snr.png", "fig8b_dm_vs_burst.png")
REAL_SUITE = Path(__file__).resolve().parents[2] / "tests" / "data" / "ecg-suite"


@dataclass(frozen=True)
class PaperConfig:
    """Sizes of one run. Seeds: the held-out noise population, Table I's dataset and the AF
    presets are drawn from seeds apart from each other and from the shipped model's."""

    name: str
    noise_subjects: int = 6
    noise_seconds: float = 60.0
    noise_seed: int = 7303
    mtl_train_subjects: int = 40
    mtl_val_subjects: int = 8
    mtl_seconds: float = 30.0
    mtl_seed: int = 7301
    mtl_epochs: int = 12
    mtl_warmup_epochs: int = 4
    mtl_batch: int = 32
    mtl_train_seed: int = 0
    mtl_widths: tuple[int, int, int, int] | None = None  # None: the shipped model's shape (host.model)
    mtl_head_width: int | None = None
    af_presets: tuple[tuple[str, int], ...] = (("af", 10), ("healthy-rest", 3), ("sleep", 3), ("pac", 3), ("pvc", 3))
    af_seconds: float = 90.0
    af_seed: int = 7305
    real_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.noise_seed == self.mtl_seed:
            raise ConfigError(f"paper bench {self.name}: noise_seed {self.noise_seed} is Table I's training seed; "
                              "its subjects would not be held out")


QUICK = PaperConfig("quick")
FULL = PaperConfig("full", noise_subjects=30, mtl_train_subjects=240, mtl_val_subjects=40, mtl_seconds=40.0,
                   mtl_epochs=20, mtl_warmup_epochs=4, af_seconds=120.0,
                   af_presets=(("af", 40), ("healthy-rest", 10), ("sleep", 10), ("pac", 10), ("pvc", 10)))


class Progress:
    """Phase lines on stderr (tqdm.write, so they do not break the subjects' bars) with the time."""

    def __init__(self, show: bool = True):
        self.show, self.t0 = show, time.monotonic()
        self.phases: dict[str, float] = {}
        self._cur: tuple[str, float] | None = None

    def phase(self, name: str, what: str = "") -> None:
        now = time.monotonic()
        if self._cur is not None:
            self.phases[self._cur[0]] = round(now - self._cur[1], 1)
        self._cur = (name, now)
        if self.show and what:
            from tqdm import tqdm

            tqdm.write(f"[{now - self.t0:6.0f} s] {what}")

    def done(self) -> float:
        self.phase("")
        return round(time.monotonic() - self.t0, 1)


def models_folder(cfg: PaperConfig, out_dir) -> Path:
    """Table I's cache: its dataset and models, keyed by the settings that make them (a changed
    setting trains afresh instead of reusing models of other data)."""
    import hashlib

    keys = {k: v for k, v in dataclasses.asdict(cfg).items() if k.startswith("mtl_")}
    digest = hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:8]
    return Path(out_dir) / "models" / f"{cfg.name}-{digest}"


def output_paths(out_dir: Path) -> list[Path]:
    """What a run writes (refused without --force when there); the models cache is not in it."""
    return ([out_dir / f"{t}.{ext}" for t in TABLES for ext in ("md", "csv")]
            + [out_dir / p for p in PLOTS] + [out_dir / "af_subjects.csv", out_dir / "paper_tables.md",
                                             out_dir / "paper_bench.json"])


# ---- noise definitions (host.noise's `on`, when it has one) ---------------------------------
def noise_definitions() -> tuple[str | None, ...]:
    from host.noise import NoiseSpec

    if "on" in NoiseSpec.__dataclass_fields__:
        from host.noise import NOISE_ON

        return tuple(NOISE_ON)
    return (None,)  # one definition only: raw frames, SNR against their total power


def _spec(on: str | None, **kw):
    from host.noise import NoiseSpec

    return NoiseSpec(**kw, on=on) if on is not None else NoiseSpec(**kw)


def _def_name(on: str | None) -> str:
    return on or "frames (total power)"


def _evaluate(predictor, ws, dsp, **kw):
    """``eval.evaluate_windows`` with the board's stitching (``dsp``: ``DspConfig``), as ``run_eval``."""
    return ev.evaluate_windows(predictor, ws, hop_samples=dsp.hop_samples, lag_samples=dsp.lag_samples, **kw)


def _dm(result, base, tasks: dict) -> float:
    """dm% over ``tasks`` (``eval.dm_vs``'s rule: a metric with a zero / non-finite baseline is left out)."""
    from host import metrics

    per_task = []
    for keys in tasks.values():
        usable = {k: hb for k, hb in keys.items()
                  if np.isfinite(result[k]) and np.isfinite(base[k]) and base[k] != 0}
        if usable:
            per_task.append(metrics.dm_percent(result, base, usable))
    return float(np.mean(per_task)) if per_task else math.nan


# ---- Tables III / IV ------------------------------------------------------------------------
@dataclass(frozen=True)
class NoiseRow:
    on: str | None
    snr_db: float | None
    burst_s: float | None
    burst_db: float | None
    summary: dict
    dm_pct: float  # eval's dm% (3 tasks), as `cardioradar eval --snr-db` prints it
    dm_pct_paper: float  # the paper's 4 metrics (ECG shape, peaks)


def noise_runs(cfg: PaperConfig, predictor, dsp, train_seed, workers: int, prog: Progress):
    """(clean EvalResult of the held-out subjects, their clean windows, [NoiseRow ...])."""
    from host.noise import BURST_EXTENSIVE_DB, BURST_MILD_DB, BURST_SECONDS, SNR_LEVELS_DB

    rows, clean, clean_ws = [], None, None
    for on in noise_definitions():
        specs = ([_spec(on, snr_db=s) for s in SNR_LEVELS_DB]
                 + [_spec(on, burst_s=b, burst_db=db) for db in (BURST_MILD_DB, BURST_EXTENSIVE_DB) for b in BURST_SECONDS])
        prog.phase(f"noise_{_def_name(on)}", f"Tables III/IV, {_def_name(on)} noise: {cfg.noise_subjects} held-out "
                   f"subjects x {cfg.noise_seconds:g} s, seed {cfg.noise_seed}, {len(specs)} noise settings")
        wss = ev.sim_windows(cfg.noise_subjects, cfg.noise_seconds, cfg.noise_seed, (None, *specs), workers=workers,
                             train_seed=train_seed)
        src = f"{cfg.noise_subjects} simulated subjects x {cfg.noise_seconds:g} s, seed {cfg.noise_seed}"
        if clean is None:
            clean, clean_ws = _evaluate(predictor, wss[0], dsp, source=src), wss[0]
        for spec, ws in zip(specs, wss[1:]):
            r = _evaluate(predictor, ws, dsp, source=src, noise=spec.label())
            rows.append(NoiseRow(on, spec.snr_db, spec.burst_s, spec.burst_db if spec.burst_s else None, r.summary,
                                 ev.dm_vs(r, clean), _dm(r.summary, clean.summary, PAPER_NOISE_TASKS)))
        del wss
    return clean, clean_ws, rows


def _metric_cells(s: dict) -> list:
    return [s["rmse_mv_median"], s["pcc_median"], s["rpeak_err_ms_median"], 100 * s["mdr"], s["ppi_err_ms_median"]]


def table3(clean, rows: list[NoiseRow]) -> Table:
    out = []
    for on in dict.fromkeys(r.on for r in rows):
        p = reference.TABLE_III[None]
        out.append([_def_name(on), "clean", *_metric_cells(clean.summary), 0.0, 0.0, p[0], p[1], p[2], 100 * p[3], p[4]])
        for r in rows:
            if r.on == on and r.snr_db is not None:
                p = reference.TABLE_III.get(r.snr_db, (None,) * 5)
                out.append([_def_name(on), f"{r.snr_db:g}", *_metric_cells(r.summary), r.dm_pct, r.dm_pct_paper,
                            p[0], p[1], p[2], None if p[3] is None else 100 * p[3], p[4]])
    return Table("table3_constant_noise", "Table III: constant noise (shipped int8 model, held-out subjects)",
                 ("noise on", "SNR dB", "RMSE mV", "PCC", "R-peak err ms", "MDR %", "PPI err ms", "dm% (eval)",
                  "dm% (paper's 4 metrics)", "paper RMSE", "paper PCC", "paper peak err", "paper MDR %",
                  "paper dm%"), tuple(map(tuple, out)), NOISE_NOTE)


def table4(clean, rows: list[NoiseRow]) -> Table:
    out = []
    for on in dict.fromkeys(r.on for r in rows):
        for r in rows:
            if r.on == on and r.burst_s is not None:
                p = reference.TABLE_IV.get((r.burst_db, r.burst_s), (None,) * 5)
                out.append([_def_name(on), f"{r.burst_db:g}", f"{r.burst_s:g}", *_metric_cells(r.summary), r.dm_pct,
                            r.dm_pct_paper, p[0], p[1], p[2], None if p[3] is None else 100 * p[3], p[4]])
    return Table("table4_bursts", "Table IV: noise bursts on 20 % of the segments (shipped int8 model, held-out subjects)",
                 ("noise on", "burst dB", "burst s", "RMSE mV", "PCC", "R-peak err ms", "MDR %", "PPI err ms",
                  "dm% (eval)", "dm% (paper's 4 metrics)", "paper RMSE", "paper PCC", "paper peak err",
                  "paper MDR %", "paper dm%"), tuple(map(tuple, out)), NOISE_NOTE)


NOISE_NOTE = ("Medians across held-out subjects; PCC: max normalised cross-correlation (|lag| <= 0.5 s) on 2.56 s "
              "windows, mean over leads; MDR pooled. dm% (eval): radarODE-MTL's multi-task score against the same "
              "model on clean input over ECG (RMSE, PCC), peaks (R-peak error, MDR) and cycle (PPI error), as "
              "`cardioradar eval --snr-db/--bursts` prints it; dm% (paper's 4 metrics): without the cycle task, "
              "as the paper's Tables III/IV. Paper columns: radarODE-MTL on MMECG (10 trials).")


# ---- Table I --------------------------------------------------------------------------------
def mtl_dataset(cfg: PaperConfig, folder: Path, workers: int, prog: Progress):
    """(train, val) windows of Table I's population (seed ``mtl_seed``), cached in ``folder``."""
    from hardware_sim.subject.params import random_population
    from host.data.format import WindowSet, load_windows, save_windows
    from host.data.sim_dataset import simulate_population

    tr, va = folder / "train.npz", folder / "val.npz"
    if tr.is_file() and va.is_file():
        prog.phase("table1_data", f"Table I: the cached dataset {folder}")
        return load_windows(tr), load_windows(va)
    n = cfg.mtl_train_subjects + cfg.mtl_val_subjects
    prog.phase("table1_data", f"Table I: simulating its dataset, {n} subjects x {cfg.mtl_seconds:g} s, seed {cfg.mtl_seed}")
    parts = simulate_population(random_population(n, cfg.mtl_seed), list(range(n)), cfg.mtl_seconds, cfg.mtl_seed,
                                workers, desc="Table I data")
    train = WindowSet.concat([p[0] for p in parts[:cfg.mtl_train_subjects]])
    val = WindowSet.concat([p[0] for p in parts[cfg.mtl_train_subjects:]])
    save_windows(va, val)
    save_windows(tr, train)  # last: both files present means the dataset is whole
    return train, val


def train_methods(cfg: PaperConfig, folder: Path, train, val, prog: Progress, show: bool) -> dict:
    """method -> (model.keras path, history dict); a finished run in ``folder``/<method> is reused
    (``host.train.fit`` resumes from its checkpoint and stops at once)."""
    from host.model import ModelConfig
    from host.train import TrainConfig, fit

    t, v, c = train.features_q15.shape[1:]
    shape = {k: w for k, w in (("widths", cfg.mtl_widths), ("head_width", cfg.mtl_head_width)) if w is not None}
    model = ModelConfig(window_samples=t, n_voxels=v, n_channels=c, **shape)
    out = {}
    for m in METHODS:
        tc = TrainConfig(epochs=cfg.mtl_epochs, batch_size=cfg.mtl_batch, seed=cfg.mtl_train_seed, mtl=m,
                         warmup_epochs=cfg.mtl_warmup_epochs, model=model)
        prog.phase(f"table1_train_{m}", f"Table I: training {m} ({cfg.mtl_epochs} epochs, {len(train)} windows; "
                   "reused when already trained)")
        r = fit(train, val, folder / m, tc, resume=True, show_progress=show and sys.stderr.isatty())
        # the held-out check of eval's --model reads <model>.json
        (r.model_path.with_suffix(".json")).write_text(json.dumps({"training": {"dataset_seed": cfg.mtl_seed}}))
        out[m] = (r.model_path, json.loads(r.history_path.read_text()))
    return out


def table1(cfg: PaperConfig, models: dict, clean_ws, dsp, shipped) -> tuple[Table, dict]:
    """Each optimiser's model scored on the held-out windows; dm% vs equal (ours and the paper's)."""
    res = {m: _evaluate(ev.load_predictor(str(p))[0], clean_ws, dsp).summary
           for m, (p, _) in models.items()}
    paper = {k: dict(zip(("rmse_mv_median", "pcc_median", "ppi_err_ms_median", "rpeak_err_ms_median", "mdr"), v[:5]))
             for k, v in reference.TABLE_I.items()}
    p_eq = paper[reference.TABLE_I_ROW["equal"]]
    rows, dm = [], {}
    for m, s in res.items():
        dm[m] = _dm(s, res["equal"], ev.DM_TASKS)
        h = models[m][1]
        train_s = sum(e.get("seconds", 0.0) for e in h["epochs"])
        pr = reference.TABLE_I[reference.TABLE_I_ROW[m]]
        rows.append((m, s["rmse_mv_median"], s["pcc_median"], s["ppi_err_ms_median"], s["rpeak_err_ms_median"],
                     100 * s["mdr"], dm[m], h["best_epoch"], round(train_s, 1), pr[0], pr[1], pr[2], pr[3],
                     100 * pr[4], pr[5], _dm(paper[reference.TABLE_I_ROW[m]], p_eq, ev.DM_TASKS)))
    s = shipped.summary
    rows.append(("shipped int8 (EGA, full data)", s["rmse_mv_median"], s["pcc_median"], s["ppi_err_ms_median"],
                 s["rpeak_err_ms_median"], 100 * s["mdr"], _dm(s, res["equal"], ev.DM_TASKS), None, None,
                 *(None,) * 7))
    note = (f"Config {cfg.name}: {cfg.mtl_train_subjects} + {cfg.mtl_val_subjects} (val) simulated subjects x "
            f"{cfg.mtl_seconds:g} s, population seed {cfg.mtl_seed}, {cfg.mtl_epochs} epochs (EGA warm-up "
            f"{cfg.mtl_warmup_epochs}, T = 1), training seed {cfg.mtl_train_seed}, float Keras models; scored on "
            f"the {cfg.noise_subjects} held-out subjects of Tables III/IV (seed {cfg.noise_seed}). dm%: over ECG "
            "(RMSE, PCC), cycle (PPI error) and anchors (R-peak error, MDR) against equal weighting. Paper: MMECG, "
            "200 epochs, RMSE/PCC of single-cycle pieces; its dm% is against a single-task baseline, the last "
            "column re-bases its published numbers on its Equal Weight row with the same formula.")
    return Table("table1_mtl", "Table I: multi-task optimisers (same data, same seed)",
                 ("optimiser", "RMSE mV", "PCC", "PPI err ms", "R-peak err ms", "MDR %", "dm% vs equal",
                  "best epoch", "train s", "paper RMSE", "paper PCC", "paper PPI ms", "paper timing ms", "paper MDR %",
                  "paper dm% vs single-task", "paper dm% vs equal"), tuple(rows), note), dm


# ---- CardioRadar's table ---------------------------------------------------------------------
def cardioradar_tables(clean, real) -> tuple[Table, Table]:
    c = reference.CARDIORADAR
    leads = []
    for j, lead in enumerate(scoring.LEADS):
        pc = [s.pcc_lead[j] for s in clean.subjects]
        rm = [s.rmse_lead_mv[j] for s in clean.subjects]
        rl = (real.per_lead[lead] if real is not None else {"pcc_median": None, "rmse_mv_median": None})
        on = reference.CARDIORADAR_OVERNIGHT_PCC.get(lead, (None, None))
        leads.append((lead, scoring.nanmean(pc), scoring.nanmedian(pc), scoring.nanmean(rm), scoring.nanmedian(rm),
                      rl["pcc_median"], rl["rmse_mv_median"], on[0], on[1]))
    s = clean.summary
    leads.append(("all (window PCC)", s["pcc_window_mean"], s["pcc_window_median"],
                  scoring.nanmean([x.rmse_mv for x in clean.subjects]), s["rmse_mv_median"],
                  None if real is None else real.summary["pcc_median"],
                  None if real is None else real.summary["rmse_mv_median"], c["pcc_window_mean"], c["pcc_window_median"]))
    t_leads = Table("cardioradar_leads", "CardioRadar's per-lead table: PCC and RMSE of the shipped int8 model",
                    ("lead", "PCC mean", "PCC median", "RMSE mean mV", "RMSE median mV", "real suite PCC median",
                     "real suite RMSE median mV", "paper PCC mean", "paper PCC median"), tuple(leads),
                    "Per lead: mean / median across held-out subjects of each subject's median window PCC and its "
                    "RMSE. Last row: all leads (CardioRadar's mean / median window correlation; RMSE mean / median "
                    "across subjects). Real suite: medians across the files that have the lead. Paper per lead: "
                    "only plotted (Fig. 3c, lower for III, aVL, aVF); the numbers shown are its overnight case "
                    "(lead II, V4) and, in the last row, its cohort's window PCC.")
    rows = [("synthetic held-out", scoring.nanmean([x.ibi_mae_ms for x in clean.subjects]), s["ibi_mae_ms_median"],
             s["rpeak_err_ms_median"], 100 * s["mdr"], s["hr_err_bpm_median"], s["n_subjects"], s["n_beats"])]
    if real is not None:
        r = real.summary
        rows.append(("real-ECG-driven suite", scoring.nanmean([x.ibi_mae_ms for x in real.subjects]),
                     r["ibi_mae_ms_median"], r["rpeak_err_ms_median"], 100 * r["mdr"], r["hr_err_bpm_median"],
                     r["n_subjects"], r["n_beats"]))
    rows.append(("CardioRadar (paper, 6974 people)", c["ibi_err_ms_mean"], c["ibi_err_ms_median"], None, None, None,
                 6974, None))
    t_ibi = Table("cardioradar_ibi", "IBI error and beats (shipped int8 model, the board's R peaks)",
                  ("data", "IBI err mean ms", "IBI err median ms", "R-peak err ms", "MDR %", "HR err bpm", "recordings",
                   "beats"), tuple(rows),
                  "IBI error: mean |predicted - true| over the IBIs whose two beats the board found (within 150 ms); "
                  "mean / median across recordings. The paper's mean / median are over its samples.")
    return t_leads, t_ibi


# ---- AF screening ------------------------------------------------------------------------------
def af_recordings(predictor, ws, dsp, names: dict | None = None) -> tuple[list, list]:
    """Per subject of ``ws``: the detector on the board's beats and on the true beats."""
    from hardware_sim.subject.ecg_files import is_af_rhythm

    ecg, anchors, _ = ev.predict(predictor, ws.features_q15)
    fs = ev.FS_HZ
    board, truth = [], []
    for sid in ws.subjects():
        sel = np.flatnonzero(ws.subject_id == sid)
        sub = ws.select(sel)
        b_runs, t_runs, seconds = [], [], 0.0
        for idx, tr in scoring.board_tracks(ecg[sel], anchors[sel], sub.window_start_s, fs,
                                             dsp.hop_samples, dsp.lag_samples):
            st = np.rint((sub.window_start_s[idx] - tr.t0_s) * fs).astype(np.int64)
            mask = scoring.truth_track(sub.r_peak_mask[idx].astype(float), st, len(tr.ecg_mv))
            b_runs.append(tr.r_peaks_s)
            t_runs.append(tr.t0_s + np.flatnonzero(mask > 0.5) / fs)
            seconds += len(tr.ecg_mv) / fs
        cond = str(sub.condition[0])
        name = (names or {}).get(int(sid), f"subject {int(sid)}")
        is_af = cond == "af" or is_af_rhythm(cond)
        board.append(af.score_recording(b_runs, seconds, name=name, condition=cond, is_af=is_af))
        truth.append(af.score_recording(t_runs, seconds, name=name, condition=cond, is_af=is_af))
    return board, truth


def af_synthetic(cfg: PaperConfig, predictor, dsp, workers: int, prog: Progress):
    from hardware_sim.subject.params import PRESETS
    from host.data.format import WindowSet
    from host.data.sim_dataset import simulate_population

    pop = [PRESETS[p].make(cfg.af_seed + i) for p, n in cfg.af_presets for i in range(n)]
    prog.phase("af_synthetic", f"AF screening: {len(pop)} preset subjects ({', '.join(f'{n} {p}' for p, n in cfg.af_presets)})"
               f" x {cfg.af_seconds:g} s")
    parts = simulate_population(pop, list(range(len(pop))), cfg.af_seconds, cfg.af_seed, workers, desc="AF subjects")
    ws = WindowSet.concat([p[0] for p in parts])
    names = {i: p.subject_id for i, p in enumerate(pop)}
    return af_recordings(predictor, ws, dsp, names)


def real_suite(cfg: PaperConfig, predictor, dsp, suite: Path | None, prog: Progress):
    """(EvalResult, board AF results, true-beat AF results) of the real-ECG-driven suite, or Nones."""
    if suite is None or not Path(suite).is_dir():
        log.warning("bench paper: no real-ECG suite at %s; its rows are left out", suite)
        return None, [], []
    prog.phase("real_suite", f"real-ECG-driven suite {suite}: one subject per recording x {cfg.real_seconds:g} s")
    try:
        (ws,), names, _ = ev.drive_suite([str(suite)], cfg.real_seconds, cfg.noise_seed)
    except CardioRadarError as e:  # no usable recording there: the synthetic rows still stand
        log.warning("bench paper: real-ECG suite %s left out: %s", suite, e)
        return None, [], []
    res = _evaluate(predictor, ws, dsp, source=f"driven by {suite}", names=names)
    board, truth = af_recordings(predictor, ws, dsp, names)
    return res, board, truth


def af_table(synth_board, synth_truth, real_board, real_truth) -> tuple[Table, Table, dict]:
    thr = af.AfConfig.threshold
    sums = {"synthetic, board beats": af.summary(synth_board), "synthetic, true beats": af.summary(synth_truth)}
    known = {r.name for r in real_board if r.condition not in ("not stated", "unknown")}
    if real_board:
        sums["real suite, board beats"] = af.summary([r for r in real_board if r.name in known])
        sums["real suite, true beats"] = af.summary([r for r in real_truth if r.name in known])
    c = reference.CARDIORADAR
    rows = [(k, v["n_af"], v["n_other"], v["auc"], v["sensitivity"], v["specificity"], v["window_auc"],
             v["window_sensitivity"], v["window_specificity"], v["n_undecided"], v["burden_af_median"],
             v["burden_other_median"]) for k, v in sums.items()]
    rows.append(("CardioRadar (paper: classifier on reconstructed ECG, AF vs sinus)", None, None, c["af_auc"],
                 c["af_sensitivity"], c["af_specificity"], None, None, None, None, None, None))
    t = Table("af_screening", "AF screening (edge.rhythm on the board's beats)",
              ("data", "AF", "other", "ROC AUC", "sensitivity", "specificity", "window AUC", "window sens.",
               "window spec.", "undecided", "AF burden (AF) median", "AF burden (other) median"), tuple(rows),
              f"Per recording: score = mean of the detector's 32-interval window scores, AF at >= {thr:g} (the "
              "detector's threshold); a recording with no full window is undecided (score 0). Window columns: each "
              "window labelled by its recording. Burden: the board's AfTracker on the same beats. Synthetic: "
              "held-out subjects of the simulator's presets (AF against healthy-rest, sleep, PAC, PVC). Real suite: "
              "its recordings with a stated rhythm; AUC n/a when it has no AF recording. Board beats: edge.post's R "
              "peaks on the stitched int8 output; true beats: the reference's R peaks (the detector's ceiling).")
    per = Table("af_subjects", "AF screening per recording", ("data", "recording", "condition", "AF", "score",
                                                              "windows", "burden", "beats", "true-beat score"),
                tuple((d, b.name, b.condition, b.is_af, b.score, b.n_windows, b.burden, b.n_beats, t_.score)
                      for d, bs, ts in (("synthetic", synth_board, synth_truth), ("real", real_board, real_truth))
                      for b, t_ in zip(bs, ts)))
    return t, per, sums


# ---- the run ------------------------------------------------------------------------------------
def run_paper_bench(cfg: PaperConfig, out_dir, *, force: bool = False, workers: int = 2, model: str | None = None,
                    suite: Path | None = REAL_SUITE, show_progress: bool = True) -> dict:
    """Run every table of ``cfg`` into ``out_dir``; returns the JSON summary (see the module doc)."""
    from edge.dsp.config import DspConfig

    from boards import load_profile

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    refuse_overwrite(output_paths(out), f"--out {out}", force=force)
    prog = Progress(show_progress)
    load_before = _load()
    predictor, meta, label = ev.load_predictor(model)
    dsp = DspConfig.from_profile(load_profile("sim"))  # the board's hop and stitcher hold-back
    train_seed = ev.training_seed(meta)

    clean, clean_ws, nrows = noise_runs(cfg, predictor, dsp, train_seed, workers, prog)
    real, real_board, real_truth = real_suite(cfg, predictor, dsp, suite, prog)
    synth_board, synth_truth = af_synthetic(cfg, predictor, dsp, workers, prog)
    folder = models_folder(cfg, out)
    train, val = mtl_dataset(cfg, folder / "data", workers, prog)
    models = train_methods(cfg, folder, train, val, prog, show_progress)
    prog.phase("write", "scoring Table I's models; writing tables and plots")
    t1, dm1 = table1(cfg, models, clean_ws, dsp, clean)
    t_leads, t_ibi = cardioradar_tables(clean, real)
    t_af, t_af_sub, af_sums = af_table(synth_board, synth_truth, real_board, real_truth)
    tables = [t1, table3(clean, nrows), table4(clean, nrows), t_leads, t_ibi, t_af]
    paths = {t.name: dict(zip(("md", "csv"), map(str, t.write(out)))) for t in tables}
    t_af_sub.write(out, markdown=False)  # the per-recording list: a CSV only
    paths["af_subjects"] = {"csv": str(out / "af_subjects.csv")}

    defs = list(dict.fromkeys(r.on for r in nrows))
    const = {_def_name(d): {r.snr_db: r.dm_pct for r in nrows if r.on == d and r.snr_db is not None} for d in defs}
    bursts = {_def_name(d): {(r.burst_db, r.burst_s): r.dm_pct for r in nrows if r.on == d and r.burst_s} for d in defs}
    plots = [str(p) for p in fig8(out, const, bursts, {k: v[4] for k, v in reference.TABLE_III.items() if k is not None},
                                  reference.TABLE_III_OTHERS, {k: v[4] for k, v in reference.TABLE_IV.items()})]
    seconds = prog.done()
    primary = defs[0]

    def pick(on, key, field="dm_pct"):
        for r in nrows:
            if r.on == on and ((r.snr_db, r.burst_s, r.burst_db) == key):
                return getattr(r, field)
        return None

    result = {
        "config": cfg.name, "model": label, "noise_definition": _def_name(primary),
        "dm_pct_const_m3db": pick(primary, (-3.0, None, None)),
        "dm_pct_burst_3s_m9db": pick(primary, (None, 3.0, -9.0)),
        "dm_pct_burst_3s_0db": pick(primary, (None, 3.0, 0.0)),
        "dm_pct_paper4_const_m3db": pick(primary, (-3.0, None, None), "dm_pct_paper"),
        "dm_pct_paper4_burst_3s_m9db": pick(primary, (None, 3.0, -9.0), "dm_pct_paper"),
        "dm_pct_by_definition": {_def_name(d): {"const": {f"{k:g}": v for k, v in const[_def_name(d)].items()},
                                               "burst": {f"{s:g}s_{db:g}db": v for (db, s), v in
                                                         bursts[_def_name(d)].items()}} for d in defs},
        "af_auc": af_sums["synthetic, board beats"]["auc"],
        "af_sensitivity": af_sums["synthetic, board beats"]["sensitivity"],
        "af_specificity": af_sums["synthetic, board beats"]["specificity"],
        "af": af_sums, "table1_dm_pct_vs_equal": dm1,
        "clean": {k: clean.summary[k] for k in ev.JSON_KEYS + ("pcc_window_mean", "ppi_err_ms_median")},
        "tables": paths, "plots": plots, "seconds": seconds, "phase_seconds": prog.phases,
        "cpus": os.cpu_count(), "load_avg_1min_before": load_before, "load_avg_1min_after": _load(),
        "peak_rss_mb": _peak_rss_mb(), "cpu_seconds": _cpu_s(),
        "eval_command": (f"cardioradar eval --subjects {cfg.noise_subjects} --seconds {cfg.noise_seconds:g} "
                         f"--seed {cfg.noise_seed} --snr-db -3"
                         + (f" --noise-on {primary}" if primary else "") + " --json"),
    }
    result = json_clean(result)
    (out / "paper_tables.md").write_text(f"# Paper tables ({cfg.name}, {seconds:.0f} s)\n\n"
                                         + "\n".join(t.markdown() for t in tables))
    (out / "paper_bench.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    return result


def _load() -> float:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else math.nan


def _cpu_s() -> float:
    """CPU time of this process and its finished children (user + system): with the load average it
    tells what the wall time would be on idle cores (a shared machine's wall time says little)."""
    r = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return round(sum(x.ru_utime + x.ru_stime for x in r), 1)


def _peak_rss_mb() -> float:
    """Peak resident memory of this process and of its finished children (the simulation workers), MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, kids) / 1024.0, 1)
