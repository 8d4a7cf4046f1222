"""`cardioradar` sub-commands of the host tools: a table, one handler per command.

Each handler turns parsed arguments into one library call. Heavy imports (pyedflib,
wfdb, TensorFlow) happen inside handlers so `cardioradar --help` stays fast.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def _add_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("session", help="session database (.db) from the board")
    p.add_argument("--format", required=True, choices=("edf", "wfdb", "csv"), dest="fmt")
    p.add_argument("--out", default=None,
                   help="output path (WFDB: record path without extension); default beside the session")


def _run_export(args: argparse.Namespace) -> int:
    from host.export import export_session

    out = export_session(args.session, args.fmt, args.out)
    print(out)
    return 0


def _add_report(p: argparse.ArgumentParser) -> None:
    from host.report import add_report_args

    add_report_args(p)


def _run_report(args: argparse.Namespace) -> int:
    from host.report import report_cmd

    return report_cmd(args)


def _add_demo(p: argparse.ArgumentParser) -> None:
    from host.demo import add_demo_args

    add_demo_args(p)


def _run_demo(args: argparse.Namespace) -> int:
    from host.demo import demo_cmd

    return demo_cmd(args)


# name -> (help, add arguments, handler). Add host commands here.
COMMANDS = {
    "export": ("export a session to EDF+, WFDB or CSV", _add_export, _run_export),
    "report": ("a session's report PNG: 12 leads on the ECG grid, HR trend, quality, metrics", _add_report,
               _run_report),
    "demo": ("simulator + edge runtime over ptys: session, EDF+, report, metrics vs truth", _add_demo, _run_demo),
}


def register(sub: argparse._SubParsersAction) -> None:
    for name, (help_text, add_args, handler) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        add_args(p)
        p.set_defaults(func=handler)
