"""`cardioradar bench edge|flash|pull` (registered by ``host.cli``): arguments, the printed
result, and each bench's goals (``--check``: exit 9 when one is missed)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cardioradar.cliargs import Goal, add_bench_result, bench_result, number

# Goals, each where it is stated: issue 15 and docs/runtime.md (RSS, rtf), README "Numbers" (the rest).
EDGE_GOALS = (Goal("rtf", ">=", 50, "x real time", "docs/runtime.md"),
              Goal("peak_rss_mb", "<=", 120, "MB", "docs/runtime.md"),
              Goal("latency_ms_p95", "<=", 2500, "ms", "README"))
FLASH_GOALS = (Goal("link_ratio", ">=", 1.3, "x the link", "README, docs/agent.md"),
               Goal("delta_ratio", "<=", 0.10, "", "README"))
PULL_GOALS = (Goal("night_8h_minutes_tcp", "<=", 10, "min", "README"),)


def add_bench_edge(bench) -> None:
    p = bench.add_parser("edge", help="whole edge runtime from a recorded stream on one core: RTF, peak RSS, latency")
    p.add_argument("--board", default="sim", help="board profile name or path (default: sim)")
    p.add_argument("--model", default=None, help="model .tflite (default: the profile's model)")
    p.add_argument("--recording", type=Path, default=None,
                   help="a `sim record` folder (its frames.bin is replayed); default: 120 s recorded now (host only)")
    p.add_argument("--seconds", type=number("--seconds", gt=0, unit="s"), default=120.0,
                   help="length of the default recording")
    p.add_argument("--seed", type=int, default=7108)
    add_bench_result(p, '{"rtf", "peak_rss_mb", "latency_ms_p95", "backend": "aot"|"jit"}', EDGE_GOALS,
                     _bench_edge)


def _bench_edge(args) -> int:
    from boards import load_profile
    from host.bench.edge import bench_edge

    res = bench_edge(load_profile(args.board), args.model, args.recording, seconds=args.seconds, seed=args.seed)
    print(f"edge runtime: {res['session_s']:.0f} s of stream in {res['wall_s']:.2f} s on one core: "
          f"{res['rtf']:.1f}x real time; peak RSS {res['peak_rss_mb']:.0f} MB; "
          f"latency p95 {res['latency_ms_p95']:.0f} ms (frame arrival -> ECG available, replayed at real-time "
          f"pace; algorithmic part {res['algorithmic_latency_ms']:.0f} ms); DSP kernels: {res['backend']}; "
          f"goals: {', '.join(map(str, EDGE_GOALS))}", flush=True)
    figures = {"rtf": round(res["rtf"], 1), "peak_rss_mb": round(res["peak_rss_mb"], 1),
               "latency_ms_p95": round(res["latency_ms_p95"], 1), "backend": res["backend"]}
    return bench_result(args, figures, EDGE_GOALS, "edge")


def add_bench_flash(bench) -> None:
    p = bench.add_parser("flash", help="flash a realistic bundle over a pty paced at 921600 baud: effective kbit/s")
    p.add_argument("--baud", type=int, default=921600)
    p.add_argument("--model-kb", type=int, default=256, help="synthetic model size (default 256 kB; the bundle adds the runtime sources)")
    p.add_argument("--seed", type=int, default=9151)
    add_bench_result(p, '{"effective_kbps", "link_kbps", "link_ratio", "delta_ratio", "delta_sent_ratio"}',
                     FLASH_GOALS, _bench_flash)


def _bench_flash(args: argparse.Namespace) -> int:
    from host.bench.flash import bench_flash

    res = bench_flash(args.baud, args.model_kb * 1024, args.seed)
    ratio = round(res["effective_kbps"] / res["link_kbps"], 3)
    print(f"flash bench: {res['size_bytes']} byte bundle, {res['wire_bytes']} bytes on the wire, "
          f"{res['upload_s']:.2f} s upload+verify: effective {res['effective_kbps']:.0f} kbit/s "
          f"({ratio:.2f}x a {res['link_kbps']:.0f} kbit/s link; 8N1 payload rate {res['link_payload_kbps']:.0f} kbit/s)")
    d = res["delta"]
    print(f"code-only update: {d['size_bytes']} byte bundle, {d['sent_bytes']} bytes sent, {d['copied_bytes']} "
          f"taken from the board's files, {d['wire_bytes']} bytes on the wire: delta_ratio {res['delta_ratio']:.3f} "
          f"of the full bundle's {res['wire_bytes']} wire bytes")
    figures = {"effective_kbps": res["effective_kbps"], "link_kbps": res["link_kbps"], "link_ratio": ratio,
               "delta_ratio": res["delta_ratio"], "delta_sent_ratio": res["delta_sent_ratio"]}
    return bench_result(args, figures, FLASH_GOALS, "flash")


def add_bench_pull(bench) -> None:
    p = bench.add_parser("pull", help="pull a simulated session over a 921600-baud pty and over TCP: rates, "
                                      "8-h night")
    p.add_argument("--baud", type=int, default=921600)
    p.add_argument("--serial-seconds", type=float, default=20.0, help="session length pulled over serial")
    p.add_argument("--tcp-seconds", type=float, default=300.0, help="session length pulled over TCP")
    p.add_argument("--seed", type=int, default=4111)
    add_bench_result(p, '{"serial_effective_kbps", "link_kbps", "tcp_mb_per_s", "night_8h_minutes_tcp"}',
                     PULL_GOALS, _bench_pull)


def _bench_pull(args: argparse.Namespace) -> int:
    from host.pullbench import bench_pull

    r = bench_pull(args.baud, args.serial_seconds, args.tcp_seconds, args.seed)
    print(f"pull bench: a session is {r['session_kb_per_s']:.0f} kB per second of recording; serial "
          f"{r['serial_session_bytes']} bytes in {r['serial_s']:.1f} s = {r['serial_effective_kbps']:.0f} kbit/s "
          f"effective over a {r['link_kbps']:.0f} kbit/s link; TCP {r['tcp_session_bytes']} bytes in "
          f"{r['tcp_s']:.1f} s = {r['tcp_mb_per_s']:.1f} MB/s: an 8-h night in {r['night_8h_minutes_tcp']:.1f} min")
    figures = {k: r[k] for k in ("serial_effective_kbps", "link_kbps", "tcp_mb_per_s", "night_8h_minutes_tcp")}
    return bench_result(args, figures, PULL_GOALS, "pull")
