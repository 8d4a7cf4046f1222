"""`cardioradar quantize ...` and `cardioradar bench dsp`: fixed-point analysis (host side)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from cardioradar.cliargs import Goal, add_bench_result, add_json, add_renamed, bench_result
from quantize.sqnr import DEFAULT_PRESETS

# `bench dsp --check` (README "Numbers"): the chain's real-time factor on one core and the
# worst kernel's SQNR against its float64 reference.
DSP_GOALS = (Goal("rtf", ">=", 200, "x real time", "README"),
             Goal("sqnr_db_min", ">=", 60, "dB", "README"))


def register(sub) -> None:
    q = sub.add_parser("quantize", help="fixed-point formats and tables: SQNR report of the DSP kernels")
    s = q.add_subparsers(dest="quantize_command", metavar="COMMAND", required=True)
    p = s.add_parser("sqnr", help="SQNR of every fixed-point DSP kernel vs its float64 reference on simulator recordings")
    p.add_argument("--board", default="sim", help="board profile name or path (default: sim)")
    p.add_argument("--subject", action="append", default=None,
                   help=f"subject preset, one recording each (repeat; default {' '.join(DEFAULT_PRESETS)})")
    add_renamed(p, "--presets", "--subject", dest="subject", nargs="+", append=True)
    p.add_argument("--seed", type=int, default=7103, help="seed of the first recording (then +1 per subject)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of each recording")
    add_json(p, "(the SQNR report)")
    p.set_defaults(func=_sqnr)
    # `quantize model` is added by host.cli: its accuracy report needs host's scorer and datasets.


def _sqnr(args) -> int:
    from quantize.sqnr import format_table, simulator_report

    report = simulator_report(args.board, tuple(args.subject or DEFAULT_PRESETS), args.seed, args.seconds)
    print(json.dumps(report.to_json()) if args.json else format_table(report))
    return 0 if report.passed else 1


def register_bench(bench) -> None:
    p = bench.add_parser("dsp", help="DSP chain (frames -> int8 windows + classical HR/BR) real-time factor on one core")
    p.add_argument("--board", default="sim", help="board profile name or path (default: sim)")
    p.add_argument("--frames", default=None,
                   help="int16 frames (n, bins, virtual, 2) as .npy; default: a simulator recording (host only)")
    p.add_argument("--subject", default="healthy-rest", help="subject preset of the simulator recording")
    add_renamed(p, "--preset", "--subject", dest="subject")
    p.add_argument("--seed", type=int, default=7107, help="seed of the simulator recording")
    p.add_argument("--seconds", type=float, default=60.0, help="length of the simulator recording")
    add_bench_result(p, '{"rtf", "frames_per_s", "sqnr_db_min"}', DSP_GOALS, _bench_dsp)


def _bench_dsp(args) -> int:
    from boards import load_profile
    from edge.dsp.config import DspConfig
    from quantize.dspbench import bench_dsp, load_frames

    from quantize.sqnr import run_report

    profile = load_profile(args.board)
    cfg = DspConfig.from_profile(profile)
    frames = load_frames(args.frames, profile, subject=args.subject, seconds=args.seconds, seed=args.seed)
    res = bench_dsp(frames, cfg)
    # the benchmarked frames, for the SQNR figure (run_report reads frames, preset, seed)
    sq = run_report(cfg, [SimpleNamespace(frames=frames, preset="bench", seed=args.seed)])
    print(f"dsp chain: {res['frames']} frames -> {res['windows']} windows in {res['seconds']:.3f} s on one core: "
          f"{res['rtf']:.0f}x real time, {res['frames_per_s']:.0f} frames/s; worst kernel SQNR {sq.sqnr_db_min:.1f} dB")
    figures = {"rtf": round(res["rtf"], 1), "frames_per_s": round(res["frames_per_s"], 1),
               "sqnr_db_min": round(sq.sqnr_db_min, 2)}
    return bench_result(args, figures, DSP_GOALS, "dsp")
