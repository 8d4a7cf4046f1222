"""`cardioradar flash`, `board status`, `pull`: arguments and printed results over ``host.flash``.

Each handler opens the agent link, makes one library call and prints what it returned;
with ``--json`` the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from cardioradar.cliargs import add_json, add_out, out_folder, print_result, refuse_overwrite
from cardioradar.errors import ConfigError

PORT_HELP = "the board agent's serial port (path or pyserial URL) or tcp://HOST:PORT"


def _add_link(p: argparse.ArgumentParser) -> None:
    """--port, --baud, --token: how every command here reaches the agent."""
    from edge.agent.port import DEFAULT_BAUD
    from edge.agent.tcp import TOKEN_ENV

    p.add_argument("--port", required=True, help=PORT_HELP)
    p.add_argument("--baud", type=int, default=DEFAULT_BAUD, help=f"line rate of --port (default {DEFAULT_BAUD})")
    p.add_argument("--token", default=None,
                   help=f"the agent's token, if it asks for one (default ${TOKEN_ENV}); for tcp://HOST:PORT")


def _open(args: argparse.Namespace):
    from edge.agent.tcp import TOKEN_ENV
    from host.flash import open_agent

    return open_agent(args.port, args.baud, token=args.token or os.environ.get(TOKEN_ENV) or None)


# --- flash --------------------------------------------------------------------------------------


def add_flash_args(p: argparse.ArgumentParser) -> None:
    _add_link(p)
    p.add_argument("--confirm-timeout", type=float, default=180.0, help="seconds to wait for the test boot")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_json(p, "(the flash result: sha256, size_bytes, wire_bytes, slot, outcome, effective_kbps, ...)")
    p.add_argument("--no-delta", action="store_true",
                   help="send every file, even those the board already holds (default: only changed files)")
    p.add_argument("bundle", type=Path, help="signed bundle (cardioradar bundle build)")


def flash_cmd(args: argparse.Namespace) -> int:
    from host.flash import flash

    with _open(args) as client:
        res = flash(client, args.bundle, confirm_timeout_s=args.confirm_timeout, progress=not args.no_progress,
                    delta=not args.no_delta)
    if res.outcome == "already-installed":
        text = f"{args.bundle}: already the confirmed software in slot {res.slot}"
    else:
        resumed = f", resumed at {res.resumed_from_bytes} bytes" if res.resumed_from_bytes else ""
        resumed += f", {res.copied_bytes} taken from files the board had" if res.copied_bytes else ""
        text = (f"{args.bundle}: {res.size_bytes} bytes ({res.wire_bytes} on the wire{resumed}), "
                f"{res.effective_kbps:.0f} kbit/s effective; slot {res.slot} confirmed")
    return print_result(args, text, res.as_dict())


# --- board status -------------------------------------------------------------------------------


def add_board_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="board_command", metavar="BOARD_COMMAND", required=True)
    s = sub.add_parser("status", help="slots, versions, boot state, upload in progress")
    _add_link(s)
    add_json(s, "(HELLO's answer: board, running, state, health, upload, ...)")


def board_cmd(args: argparse.Namespace) -> int:
    from host.flash import read_status

    with _open(args) as client:
        h = read_status(client)
    return print_result(args, format_status(h), h.to_fields())


def format_status(h) -> str:
    """HELLO's answer (`edge.agent.messages.HelloResponse`) as lines for a person."""
    st = h.state
    lines = [f"board {h.board}, agent {h.agent_version} (protocol {h.protocol}), running slot {h.running}"]
    for s, info in st.slots.items():
        tags = [t for t, on in (("running", s == h.running), ("confirmed", s == st.confirmed),
                                (f"tentative, {st.attempts_left} attempts left", s == st.tentative)) if on]
        desc = "empty" if not info else f"version {info.version} counter {info.security_counter} " \
                                         f"sha256 {info.sha256[:12] or '-'}"
        lines.append(f"  slot {s}: {desc}" + (f" [{', '.join(tags)}]" if tags else ""))
    if st.last_event:
        ev = st.last_event
        lines.append(f"  last event: {ev['kind']} slot {ev['slot']}: {ev['detail']}")
    if h.health:
        hc = h.health
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in hc.timing_s.items() if k != "total")
        detail = hc.detail.split(": ", 1)[-1] if hc.detail.startswith("passed in ") else hc.detail
        lines.append(f"  last health check: slot {hc.slot} {'PASS' if hc.ok else 'FAIL'} in "
                     f"{hc.duration_s:.1f} s" + (f" ({steps})" if steps else "") + f": {detail}")
    if h.upload:
        u = h.upload
        lines.append(f"  upload in progress: {u.offset}/{u.size} bytes of {u.sha256[:12]}")
    return "\n".join(lines)


# --- pull ---------------------------------------------------------------------------------------


def add_pull_args(p: argparse.ArgumentParser) -> None:
    _add_link(p)
    p.add_argument("session", nargs="?", default=None, help="session name (NAME.db); see --list")
    p.add_argument("--all", action="store_true", help="every session on the board")
    p.add_argument("--list", action="store_true", help="list the board's sessions and stop")
    add_out(p, default=".", what="the pulled sessions")
    p.add_argument("--force", action="store_true", help="overwrite sessions already pulled into --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_json(p, '{"sessions": [{"name", "path", "size_bytes", "sha256", "resumed_from_bytes"}]} '
                '(--list: [{"name", "size_bytes", "live"}])')


def pull_cmd(args: argparse.Namespace) -> int:
    from host.flash import list_sessions, pull

    if not (args.list or args.all or args.session) or (args.all and args.session):
        raise ConfigError("pull: give one SESSION, or --all, or --list")
    out = out_folder(args.out)
    if args.session and not args.list:  # refused before the board is even asked
        refuse_overwrite([out / args.session], f"--out {out}", force=args.force)
    with _open(args) as client:
        if args.list:
            sessions = list_sessions(client)
            return print_result(args, "\n".join(f"{s.name}\t{s.size_bytes}\t{'live' if s.live else 'closed'}"
                                                 for s in sessions),
                                {"sessions": [{"name": s.name, "size_bytes": s.size_bytes, "live": s.live}
                                              for s in sessions]})
        names = [s.name for s in list_sessions(client)] if args.all else [args.session]
        refuse_overwrite([out / n for n in names], f"--out {out}", force=args.force)  # before any byte
        results = [pull(client, n, out, progress=not args.no_progress) for n in names]
    return print_result(args, "\n".join(f"{r.path}\t{r.size_bytes} bytes\tsha256 {r.sha256}" +
                                         (f"\tresumed at {r.resumed_from_bytes}" if r.resumed_from_bytes else "")
                                         for r in results),
                        {"sessions": [{"name": r.name, "path": str(r.path), "size_bytes": r.size_bytes,
                                       "sha256": r.sha256, "resumed_from_bytes": r.resumed_from_bytes}
                                      for r in results]})
