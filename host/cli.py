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


# name -> (help, add arguments, handler). Add host commands here.
COMMANDS = {
    "export": ("export a session to EDF+, WFDB or CSV", _add_export, _run_export),
}


def register(sub: argparse._SubParsersAction) -> None:
    for name, (help_text, add_args, handler) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        add_args(p)
        p.set_defaults(func=handler)
