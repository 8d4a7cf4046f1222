"""Arguments of `cardioradar fleet ...` and `cardioradar bench fleet` (wired in host/cli.py).

Heavy imports (Ray, pandas, TensorFlow Lite) happen inside the handlers."""

from __future__ import annotations

import argparse
import json

from cardioradar.cliargs import Goal, add_bench_result, add_json, add_out, bench_result, out_folder

# `bench fleet --check` (docs/scale-out.md): 1 -> 2 workers on a local Ray.
FLEET_GOALS = (Goal("scaling", ">=", 1.6, "x", "docs/scale-out.md"),)


def add_fleet_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="fleet_command", metavar="ACTION", required=True)
    r = sub.add_parser("reprocess", help="re-run archived sessions' raw frames through the board runtime with a model")
    r.add_argument("sessions", nargs="+", help="session .db files (raw frames archived), `sim record` folders or frames.bin")
    r.add_argument("--model", default=None, help="int8 .tflite (+ .json beside it); default: the board's shipped model")
    add_out(r, required=True, what="<name>.db per session, fleet_summary.{parquet,csv,png}")
    r.add_argument("--board", default=None, help="board profile; default: the one each session names (else sim)")
    r.add_argument("--address", default=None, help="Ray cluster to join (what `ray start --head` prints); default: a local Ray")
    r.add_argument("--workers", type=int, default=None,
                   help="local Ray: CPUs to use (default: all); cluster: tasks in flight (default: its CPUs)")
    r.add_argument("--no-raw", action="store_true", help="do not copy the raw frames into the new session files")
    add_json(r, "(the counts and paths)")
    r.set_defaults(func=run_fleet)


def run_fleet(args: argparse.Namespace) -> int:
    from host.scale.fleet import reprocess_fleet

    r = reprocess_fleet(args.sessions, out_folder(args.out), args.model, board=args.board, address=args.address,
                        workers=args.workers, archive_raw=not args.no_raw)
    c = r.counts
    print(f"{c['sessions']} sessions: {c['ok']} done ({c['reused']} already before), {c['errors']} failed"
          f" -> {r.summary_parquet}, {r.summary_csv}, {r.plot_png}")
    for f in r.as_dict()["failed"]:
        print(f"failed: {f['source']}: {f['error']}")
    if args.json:
        print(json.dumps(r.as_dict()))
    return 0 if c["errors"] == 0 else 1


def add_bench_fleet(bench) -> None:
    p = bench.add_parser("fleet", help="fleet reprocessing on a local Ray: seconds per session with 1 and 2 workers")
    p.add_argument("--sessions", type=int, default=8, help="simulated nights")
    p.add_argument("--seconds", type=float, default=60.0, help="length of each night")
    p.add_argument("--seed", type=int, default=7114)
    p.add_argument("--model", default=None)
    p.add_argument("--pairs", type=int, default=3, help="1-worker / 2-worker runs alternated this many times")
    add_bench_result(p, '{"sessions", "per_session_s_1w", "per_session_s_2w", "scaling", ...}', FLEET_GOALS,
                     run_bench_fleet)


def run_bench_fleet(args: argparse.Namespace) -> int:
    from host.scale.bench import bench_fleet

    r = bench_fleet(args.sessions, args.seconds, args.seed, args.model, args.pairs)
    print(f"{r['sessions']} sessions of {r['session_s']:.0f} s: {r['per_session_s_1w']:.2f} s/session with 1 worker, "
          f"{r['per_session_s_2w']:.2f} with 2: scaling {r['scaling']:.2f} (a pure-CPU loop: "
          f"{r['cpu_ceiling_scaling']:.2f}; load {r['load_avg_1min_before']} "
          f"-> {r['load_avg_1min_after']})")
    return bench_result(args, r, FLEET_GOALS, "fleet")
