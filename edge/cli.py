"""`cardioradar bench dsp`: the whole fixed-point DSP chain on one core."""

from __future__ import annotations

import json
import os
import time

import numpy as np

from cardioradar.errors import InputDataError


def register_bench(bench) -> None:
    p = bench.add_parser("dsp", help="DSP chain (frames -> int8 windows + classical HR/BR) real-time factor on one core")
    p.add_argument("--board", default="sim", help="board profile name or path (default: sim)")
    p.add_argument("--frames", default=None,
                   help="int16 frames (n, bins, virtual, 2) as .npy; default: a simulator recording (host only)")
    p.add_argument("--preset", default="healthy-rest", help="subject preset of the simulator recording")
    p.add_argument("--seed", type=int, default=7107, help="seed of the simulator recording")
    p.add_argument("--seconds", type=float, default=60.0, help="length of the simulator recording")
    p.add_argument("--json", action="store_true", help="last line: {\"rtf\", \"frames_per_s\", \"sqnr_db_min\"}")
    p.set_defaults(func=_bench_dsp)
    _register_bench_edge(bench)
    from edge.agent.cli import add_bench_parser  # `bench flash`

    add_bench_parser(bench)


def _load_frames(args, profile) -> np.ndarray:
    if args.frames:
        try:
            frames = np.load(args.frames)
        except (OSError, ValueError) as e:
            raise InputDataError(f"--frames {args.frames}: cannot read a .npy array: {e}") from e
        return frames
    from quantize.simdata import simulate  # host-side: the board passes --frames

    return simulate(args.preset, args.seconds, args.seed, board=profile).frames


def bench_dsp(frames: np.ndarray, profile) -> dict:
    """Time ``process_recording`` on ``frames`` pinned to one CPU (JIT compiled first)."""
    from edge.dsp.config import DspConfig
    from edge.dsp.pipeline import process_recording
    from edge.dsp.tensor import FeatureLayout, ModelInputSpec

    cfg = DspConfig.from_profile(profile)
    spec = ModelInputSpec(2.0 / 255, 0, FeatureLayout(cfg.window_samples, cfg.n_voxels, cfg.fs_hz))
    need = cfg.window_samples + cfg.warmup_samples + 3 + cfg.hop_samples
    if len(frames) < need:
        raise InputDataError(f"bench dsp: expected at least {need} frames, got {len(frames)}")
    process_recording(frames[:need], cfg, spec)  # compile / load the numba cache
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if cpus:
        os.sched_setaffinity(0, {min(cpus)})
    try:
        t0 = time.perf_counter()
        windows = process_recording(frames, cfg, spec)
        dt = time.perf_counter() - t0
    finally:
        if cpus:
            os.sched_setaffinity(0, cpus)
    return {"frames": len(frames), "windows": len(windows), "seconds": dt,
            "rtf": len(frames) / cfg.fs_hz / dt, "frames_per_s": len(frames) / dt}


def _bench_dsp(args) -> int:
    from boards import load_profile
    from edge.dsp.config import DspConfig

    profile = load_profile(args.board)
    frames = _load_frames(args, profile)
    res = bench_dsp(frames, profile)
    from quantize.sqnr import run_report

    class _Rec:  # the benchmarked frames, for the SQNR figure
        preset, seed = "bench", args.seed

    _Rec.frames = frames
    sq = run_report(DspConfig.from_profile(profile), [_Rec])
    print(f"dsp chain: {res['frames']} frames -> {res['windows']} windows in {res['seconds']:.3f} s on one core: "
          f"{res['rtf']:.0f}x real time, {res['frames_per_s']:.0f} frames/s; worst kernel SQNR {sq.sqnr_db_min:.1f} dB")
    if args.json:
        print(json.dumps({"rtf": round(res["rtf"], 1), "frames_per_s": round(res["frames_per_s"], 1),
                          "sqnr_db_min": round(sq.sqnr_db_min, 2)}))
    return 0


# --- `edge run`, `view`, `bench edge` (handlers in edge.runtime.commands) ----------------------


def register(sub) -> None:
    from edge.runtime import commands

    edge = sub.add_parser("edge", help="the board runtime: edge run")
    es = edge.add_subparsers(dest="edge_command", metavar="EDGE_COMMAND", required=True)
    p = es.add_parser("run", help="link -> DSP -> int8 model -> post-processing -> session + live output")
    commands.add_run_args(p)
    p.set_defaults(func=commands.run_cmd)
    p = sub.add_parser("view", help="live ECG and HR in the terminal, from `edge run --live`")
    commands.add_view_args(p)
    p.set_defaults(func=commands.view_cmd)
    from edge.agent.cli import add_agent_parser  # `agent`

    add_agent_parser(sub)


def _register_bench_edge(bench) -> None:
    from edge.runtime import commands

    p = bench.add_parser("edge", help="whole edge runtime from a recorded stream on one core: RTF, peak RSS, latency")
    commands.add_bench_args(p)
    p.set_defaults(func=commands.bench_cmd)
