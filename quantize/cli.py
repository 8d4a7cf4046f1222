"""`cardioradar quantize ...`: fixed-point analysis (host side)."""

from __future__ import annotations

import json

from quantize.sqnr import DEFAULT_PRESETS


def register(sub) -> None:
    q = sub.add_parser("quantize", help="fixed-point formats and tables: SQNR report of the DSP kernels")
    s = q.add_subparsers(dest="quantize_command", metavar="COMMAND", required=True)
    p = s.add_parser("sqnr", help="SQNR of every fixed-point DSP kernel vs its float64 reference on simulator recordings")
    p.add_argument("--board", default="sim", help="board profile name or path (default: sim)")
    p.add_argument("--presets", nargs="+", default=list(DEFAULT_PRESETS), help="subject presets, one recording each")
    p.add_argument("--seed", type=int, default=7103, help="seed of the first recording (then +1 per preset)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of each recording")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=_sqnr)


def _sqnr(args) -> int:
    from quantize.sqnr import format_table, simulator_report

    report = simulator_report(args.board, tuple(args.presets), args.seed, args.seconds)
    print(json.dumps(report.to_json()) if args.json else format_table(report))
    return 0 if report.passed else 1
