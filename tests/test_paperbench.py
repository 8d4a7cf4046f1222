"""bench paper: the AF detector on hand-made RR series, the AUC, and a tiny run through the CLI's path
(tables, plots, JSON keys, no silent overwrite, Table I's models reused, eval agrees on dm%)."""

import contextlib
import dataclasses
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from host.paper import af, bench

SUITE = Path(__file__).parent / "data" / "ecg-suite"


# ---- ROC AUC, sensitivity, specificity -------------------------------------------------------
def test_auc_of_a_known_case():
    # the textbook case (scikit-learn's roc_auc_score example): 3 of the 4 pos/neg pairs ordered right
    assert af.roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert af.roc_auc([0.9, 0.8, 0.1], [1, 1, 0]) == 1.0
    assert af.roc_auc([0.1, 0.2, 0.9], [1, 1, 0]) == 0.0
    assert af.roc_auc([0.5, 0.5], [1, 0]) == 0.5  # a tie counts half
    assert np.isnan(af.roc_auc([0.2, 0.3], [0, 0]))  # one class: undefined
    sens, spec = af.sens_spec([0.6, 0.4, 0.7, 0.2, 0.55], [1, 1, 0, 0, 0], 0.5)
    assert (sens, spec) == (0.5, pytest.approx(1 / 3))


def test_auc_matches_pairwise_definition_on_random_scores():
    rng = np.random.default_rng(5)
    s = np.round(rng.uniform(size=40), 1)  # rounded: many ties
    y = rng.uniform(size=40) < 0.4
    pairs = [(1.0 if a > b else 0.5 if a == b else 0.0) for a in s[y] for b in s[~y]]
    assert af.roc_auc(s, y) == pytest.approx(np.mean(pairs))


# ---- the product's detector on hand-made RR series --------------------------------------------
def _beats(rr):
    t = np.cumsum(rr)
    return [t]  # one run of beat times


def _sinus(rng, n=120):
    k = np.arange(n)
    return 0.85 + 0.04 * np.sin(2 * np.pi * k / 4.5) + rng.normal(0, 0.01, n)  # respiratory arrhythmia


def _af(rng, n=120):
    return rng.uniform(0.45, 1.05, n)  # irregularly irregular


def _ectopic(rng, every, early, n=120):
    rr = _sinus(rng, n)
    for i in range(every, n - 1, every):
        rr[i] *= early  # premature beat ...
        rr[i + 1] *= 2 - early  # ... and its compensatory pause
    return rr


def test_detector_ranks_af_above_sinus_pac_pvc():
    rng = np.random.default_rng(11)
    res = []
    for i in range(8):
        res.append(af.score_recording(_beats(_af(rng)), 100.0, name=f"af{i}", condition="af", is_af=True))
        for cond, rr in (("sinus", _sinus(rng)), ("pvc", _ectopic(rng, 6, 0.65)), ("pac", _ectopic(rng, 10, 0.75))):
            res.append(af.score_recording(_beats(rr), 100.0, name=f"{cond}{i}", condition=cond, is_af=False))
    worst_af = min(r.score for r in res if r.is_af)
    best_other = max(r.score for r in res if not r.is_af)
    assert worst_af > best_other  # the ranking is perfect ...
    s = af.summary(res)
    assert s["auc"] == 1.0 and s["sensitivity"] == 1.0 and s["specificity"] == 1.0  # ... and so is the threshold
    assert s["n_af"] == 8 and s["n_other"] == 24 and s["n_undecided"] == 0
    assert s["burden_af_median"] > 0.8 and s["burden_other_median"] == 0.0  # the board's AfTracker agrees


def test_a_missed_beat_is_bridged_and_a_long_gap_breaks_the_series():
    rng = np.random.default_rng(3)
    t = np.cumsum(_sinus(rng, 80))
    missed = np.delete(t, [20, 50])  # the detector slipped twice: two ~1.7 s intervals
    r = af.score_recording([missed], 70.0, name="s", condition="sinus", is_af=False)
    assert r.n_windows > 0 and r.score < 0.5
    tt, rr = af.beat_series([t[:40], t[40:] + 10.0])  # two runs, or a gap over BRIDGE_S
    assert np.isnan(rr[0]) and np.isnan(rr[40]) and np.all(np.isfinite(np.delete(rr, [0, 40])))
    short = af.score_recording([t[:20]], 20.0, name="x", condition="af", is_af=True)
    assert short.n_windows == 0 and short.score == 0.0  # no full window: no decision, not flagged


# ---- a tiny run through the same path as `bench paper --quick` --------------------------------
def tiny_config():
    return dataclasses.replace(
        bench.PaperConfig("tiny"), noise_subjects=1, noise_seconds=14.0, mtl_train_subjects=2, mtl_val_subjects=1,
        mtl_seconds=12.0, mtl_epochs=1, mtl_warmup_epochs=1, mtl_batch=2, mtl_widths=(4, 4, 4, 8), mtl_head_width=4,
        af_presets=(("af", 1), ("healthy-rest", 1)), af_seconds=40.0, real_seconds=12.0)


ARGV = ["bench", "paper", "--quick", "--workers", "1", "--json"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """`bench paper --quick` through the CLI with QUICK made tiny: (out, suite, last JSON line)."""
    from cardioradar.cli import main

    suite = tmp_path_factory.mktemp("suite")  # one real recording (with its rhythm) keeps the test short
    name = "mitdb100_MLII_10s_360hz_rounded-time.csv"
    shutil.copy(SUITE / name, suite / name)
    meta = json.loads((SUITE / "recordings.json").read_text())
    (suite / "recordings.json").write_text(json.dumps({name: meta[name]}))
    out = tmp_path_factory.mktemp("paper")
    buf = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(buf):
        mp.setattr(bench, "QUICK", tiny_config())
        assert main(ARGV + ["--out", str(out), "--real-ecg", str(suite)]) == 0
    return out, suite, json.loads(buf.getvalue().strip().splitlines()[-1])


def test_tables_plots_and_json_keys_are_written(run):
    out, _, r = run
    for key in ("dm_pct_const_m3db", "dm_pct_burst_3s_m9db", "dm_pct_burst_3s_0db", "af_auc", "tables", "plots"):
        assert key in r
    assert set(r["tables"]) >= set(bench.TABLES)
    for name in bench.TABLES:
        md, csv = Path(r["tables"][name]["md"]), Path(r["tables"][name]["csv"])
        assert md.read_text().startswith("### ") and "| --- |" in md.read_text()
        assert len(csv.read_text().splitlines()) >= 2  # header + at least one row
    for p in r["plots"]:
        assert Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {Path(p).name for p in r["plots"]} == set(bench.PLOTS)
    # every noise definition host.noise has, each level and burst, side by side
    defs = bench.noise_definitions()
    t3 = (out / "table3_constant_noise.csv").read_text().splitlines()
    assert len(t3) == 1 + len(defs) * 7  # header, then clean + 6 SNRs per definition
    t4 = (out / "table4_bursts.csv").read_text().splitlines()
    assert len(t4) == 1 + len(defs) * 6
    assert r["dm_pct_const_m3db"] == r["dm_pct_by_definition"][r["noise_definition"]]["const"]["-3"]
    t1 = (out / "table1_mtl.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in t1[1:5]] == list(bench.METHODS)
    assert r["table1_dm_pct_vs_equal"]["equal"] == 0.0
    assert r["af"]["synthetic, board beats"]["n_af"] == 1 and r["af"]["real suite, board beats"]["n_other"] == 1
    assert json.loads((out / "paper_bench.json").read_text()) == r


def test_eval_gives_the_tables_dm_at_minus_3_db(run):
    from host.eval import EvalRequest, run_eval

    cfg = tiny_config()
    on = {} if bench.noise_definitions() == (None,) else {"noise_on": bench.noise_definitions()[0]}
    res = run_eval(EvalRequest(subjects=cfg.noise_subjects, seconds=cfg.noise_seconds, seed=cfg.noise_seed,
                               snr_db=-3.0, **on))
    assert res.dm_percent == pytest.approx(run[2]["dm_pct_const_m3db"], nan_ok=True)


def test_a_second_run_refuses_to_overwrite_and_reuses_the_trained_models(run, monkeypatch, capsys):
    from cardioradar.cli import main
    from host.data.format import load_windows

    out, suite, _ = run
    monkeypatch.setattr(bench, "QUICK", tiny_config())
    assert main(ARGV + ["--out", str(out), "--real-ecg", str(suite)]) == 2  # no --force: nothing written
    err = capsys.readouterr().err
    assert "already holds" in err and "--force" in err and "Traceback" not in err
    folder = bench.models_folder(tiny_config(), out)
    histories = {m: (folder / m / "history.json").read_text() for m in bench.METHODS}
    train, val = load_windows(folder / "data" / "train.npz"), load_windows(folder / "data" / "val.npz")
    models = bench.train_methods(tiny_config(), folder, train, val, bench.Progress(False), False)
    for m in bench.METHODS:  # fit resumed each finished run: no epoch again, the same history
        assert models[m][1]["epochs"] == json.loads(histories[m])["epochs"]
        assert (folder / m / "history.json").read_text() == histories[m]


@pytest.mark.slow
def test_quick_as_the_docs_say(tmp_path):
    """`cardioradar bench paper --quick --out DIR --json`, exactly as docs/evaluation.md gives it."""
    from cardioradar.cli import main

    assert main(["bench", "paper", "--quick", "--out", str(tmp_path / "pb"), "--json"]) == 0
    r = json.loads((tmp_path / "pb" / "paper_bench.json").read_text())
    assert r["af_auc"] >= 0.97
