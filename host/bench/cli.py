"""`cardioradar bench edge` and `cardioradar bench flash` (registered by ``host.cli``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cardioradar.cliargs import number


def add_bench_edge(bench) -> None:
    p = bench.add_parser("edge", help="whole edge runtime from a recorded stream on one core: RTF, peak RSS, latency")
    p.add_argument("--board", default="sim", help="board profile name or path (default: sim)")
    p.add_argument("--model", default=None, help="model .tflite (default: the profile's model)")
    p.add_argument("--recording", type=Path, default=None,
                   help="a `sim record` folder (its frames.bin is replayed); default: 120 s recorded now (host only)")
    p.add_argument("--seconds", type=number("--seconds", gt=0, unit="s"), default=120.0,
                   help="length of the default recording")
    p.add_argument("--seed", type=int, default=7108)
    p.add_argument("--json", action="store_true",
                   help='last line: {"rtf": x, "peak_rss_mb": y, "latency_ms_p95": z, "backend": "aot"|"jit"}')
    p.set_defaults(func=_bench_edge)


def _bench_edge(args) -> int:
    from boards import load_profile
    from host.bench.edge import bench_edge

    res = bench_edge(load_profile(args.board), args.model, args.recording, seconds=args.seconds, seed=args.seed)
    print(f"edge runtime: {res['session_s']:.0f} s of stream in {res['wall_s']:.2f} s on one core: "
          f"{res['rtf']:.1f}x real time (goal >= 50x); peak RSS {res['peak_rss_mb']:.0f} MB (goal <= 120 MB); "
          f"latency p95 {res['latency_ms_p95']:.0f} ms (frame arrival -> ECG available, replayed at real-time "
          f"pace; algorithmic part {res['algorithmic_latency_ms']:.0f} ms); DSP kernels: {res['backend']}", flush=True)
    if args.json:
        print(json.dumps({"rtf": round(res["rtf"], 1), "peak_rss_mb": round(res["peak_rss_mb"], 1),
                          "latency_ms_p95": round(res["latency_ms_p95"], 1), "backend": res["backend"]}))
    return 0


def add_bench_flash(bench) -> None:
    p = bench.add_parser("flash", help="flash a realistic bundle over a pty paced at 921600 baud: effective kbit/s")
    p.add_argument("--baud", type=int, default=921600)
    p.add_argument("--model-kb", type=int, default=256, help="synthetic model size (default 256 kB; the bundle adds the runtime sources)")
    p.add_argument("--seed", type=int, default=9151)
    p.add_argument("--json", action="store_true", help='last line: {"effective_kbps", "link_kbps", "delta_ratio", "delta_sent_ratio"}')
    p.set_defaults(func=_bench_flash)


def _bench_flash(args: argparse.Namespace) -> int:
    from host.bench.flash import bench_flash

    res = bench_flash(args.baud, args.model_kb * 1024, args.seed)
    print(f"flash bench: {res['size_bytes']} byte bundle, {res['wire_bytes']} bytes on the wire, "
          f"{res['upload_s']:.2f} s upload+verify: effective {res['effective_kbps']:.0f} kbit/s "
          f"over a {res['link_kbps']:.0f} kbit/s link (8N1 payload rate {res['link_payload_kbps']:.0f} kbit/s)")
    d = res["delta"]
    print(f"code-only update: {d['size_bytes']} byte bundle, {d['sent_bytes']} bytes sent, {d['copied_bytes']} "
          f"taken from the board's files, {d['wire_bytes']} bytes on the wire: delta_ratio {res['delta_ratio']:.3f} "
          f"of the full bundle's {res['wire_bytes']} wire bytes")
    if args.json:
        print(json.dumps({"effective_kbps": res["effective_kbps"], "link_kbps": res["link_kbps"],
                          "delta_ratio": res["delta_ratio"], "delta_sent_ratio": res["delta_sent_ratio"]}))
    return 0
