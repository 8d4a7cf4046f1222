"""`cardioradar bench paper` arguments: one call to ``host.paper.bench.run_paper_bench``."""

from __future__ import annotations

import argparse

from cardioradar.cliargs import Goal, add_bench_result, add_out, bench_result, number

# `bench paper --check` (docs/evaluation.md, the targets): dm% under noise, as eval reports it.
PAPER_GOALS = (Goal("dm_pct_const_m3db", ">=", -8, "%", "docs/evaluation.md"),
               Goal("dm_pct_burst_3s_m9db", ">=", -6, "%", "docs/evaluation.md"))


def add_bench_paper(bench) -> None:
    p = bench.add_parser("paper", help="the seed papers' tables on our pipeline: MTL optimisers, noise robustness "
                                       "(Tables I, III, IV, Fig. 8), per-lead PCC/RMSE, IBI, AF screening")
    p.add_argument("--quick", action="store_true",
                   help="a few subjects, a small Table I dataset and 12 epochs (<= 15 min on 2 cores); "
                        "default: the full run (docs/evaluation.md)")
    add_out(p, what="tables, plots and JSON; Table I's models are cached in <out>/models and reused "
                    "(default paper-bench/<quick|full>)")
    p.add_argument("--force", action="store_true", help="overwrite the tables and plots of an earlier run in --out")
    p.add_argument("--workers", type=number("--workers", ge=1, integer=True), default=2,
                   help="processes for the simulation")
    p.add_argument("--model", default=None, help="model for Tables III/IV, the lead table and AF (default: shipped)")
    p.add_argument("--real-ecg", default=None, metavar="DIR",
                   help="folder of real ECG recordings to drive subjects (default: the repository's tests/data/ecg-suite)")
    add_bench_result(p, '{"dm_pct_const_m3db", "dm_pct_burst_3s_m9db", "dm_pct_burst_3s_0db", "af_auc", "tables", '
                        '"plots", ...}', PAPER_GOALS, _bench_paper_cmd)


def _bench_paper_cmd(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cardioradar.cliargs import out_folder
    from host.paper import bench

    cfg = bench.QUICK if args.quick else bench.FULL
    out = out_folder(args.out) if args.out else Path("paper-bench") / cfg.name
    suite = Path(args.real_ecg) if args.real_ecg else bench.REAL_SUITE
    r = bench.run_paper_bench(cfg, out, force=args.force, workers=args.workers, model=args.model, suite=suite)
    print(f"paper bench ({cfg.name}, {r['seconds']:.0f} s, load {r['load_avg_1min_before']} -> "
          f"{r['load_avg_1min_after']} on {r['cpus']} CPUs): noise on {r['noise_definition']}: dm% "
          f"{_f(r['dm_pct_const_m3db'])} at -3 dB, {_f(r['dm_pct_burst_3s_0db'])} / {_f(r['dm_pct_burst_3s_m9db'])} "
          f"for 3-s bursts at 0 / -9 dB; AF AUC {_f(r['af_auc'], 3)} "
          f"(sens. {_f(r['af_sensitivity'], 3)}, spec. {_f(r['af_specificity'], 3)})")
    print(f"tables: {out / 'paper_tables.md'}; plots: {', '.join(r['plots'])}")
    return bench_result(args, r, PAPER_GOALS, "paper", json_obj=r)


def _f(x, nd: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"
