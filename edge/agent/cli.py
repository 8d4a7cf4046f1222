"""`cardioradar agent` (the board agent) and `cardioradar bench flash`: argument glue only."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import threading
from pathlib import Path

from cardioradar.errors import ConfigError


def add_agent_parser(sub) -> None:
    p = sub.add_parser("agent", help="board agent: A/B updates and session pulls over a serial port")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="serial port path or pyserial URL the host connects to, or tcp://HOST:PORT "
                                      "to listen on the network (empty HOST: loopback)")
    where.add_argument("--pty", action="store_true",
                       help="serve one end of a new pseudo-terminal pair and print the host's end first (open "
                            "it as cable://PATH?baud=N for a paced line): try flash, status and pull on one machine")
    p.add_argument("--json", action="store_true", help='with --pty: the first stdout line is {"host_port": PATH}')
    p.add_argument("--token", default=None,
                   help="every request must carry this token (default $CARDIORADAR_AGENT_TOKEN); "
                        "required to listen on tcp:// off loopback")
    p.add_argument("--root", required=True, type=Path, help="state folder (slots, boot state, upload, sessions)")
    p.add_argument("--pubkey", action="append", type=Path, default=[],
                   help="trusted bundle public key (repeatable); without one every bundle is refused")
    p.add_argument("--board", default="sim", help="this board's profile name or path (default: sim)")
    p.add_argument("--baud", type=int, default=921600)
    p.add_argument("--attempts", type=int, default=3, help="test boots of a new slot before rollback")
    p.add_argument("--health-cmd", default=None,
                   help="health check for slots without health.json ({python}, {slot} placeholders); "
                        "default: the slot's own selfcheck (imports, model check + load + one inference, "
                        "the radar only when no session is being recorded)")
    p.add_argument("--health-timeout", type=float, default=120.0, help="seconds the health check may take")
    p.add_argument("--no-auto-confirm", action="store_true",
                   help="do not confirm a test boot by itself; the host sends CONFIRM")
    p.set_defaults(func=agent_cmd)


def agent_cmd(args: argparse.Namespace) -> int:
    from boards import load_profile
    from edge.agent import health
    from edge.agent.port import open_link
    from edge.agent.server import Agent, AgentConfig, serve

    board = load_profile(args.board).name
    if args.attempts < 1:
        raise ConfigError(f"--attempts: expected >= 1, got {args.attempts}")
    if args.health_cmd:
        spec = health.HealthSpec(tuple(shlex.split(args.health_cmd)), args.health_timeout)
    else:
        spec = health.default_check(args.health_timeout)
    for k in args.pubkey:
        if not k.is_file():
            raise ConfigError(f"--pubkey {k}: no such file")
    from edge.agent import tcp

    token = args.token or os.environ.get(tcp.TOKEN_ENV) or None
    if args.port and tcp.is_tcp(args.port):
        host, _ = tcp.parse(args.port)
        if not tcp.is_loopback(host) and not token:
            raise ConfigError(f"--port {args.port}: listening off loopback needs a token "
                              f"(--token or ${tcp.TOKEN_ENV})")
    cfg = AgentConfig(args.root, board, tuple(args.pubkey), spec, args.attempts, not args.no_auto_confirm, token)
    try:
        args.root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--root {args.root}: cannot create: {e.strerror or e}") from e
    agent = Agent(cfg)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # a supervisor's stop: exit 0
    if args.port and tcp.is_tcp(args.port):
        listener = tcp.Listener(args.port)
        print(f"agent listening on {listener.name}", file=sys.stderr, flush=True)
        try:
            serve(agent, stop=stop, opener=listener.accept, backoff_s=(0.01, 0.01))
        finally:
            listener.close()
        return 0
    if not args.pty:
        serve(agent, stop=stop, opener=lambda: open_link(args.port, args.baud))
        return 0
    # A development mode (an agent on this machine behind a pty null modem); a paced, faulty
    # line is the host side's `cable://` URL (host.cable) on the other end.
    from cardioradar.ptys import NullModem

    with NullModem() as modem:
        host = modem.host_port
        print(json.dumps({"host_port": host}) if args.json else host, flush=True)
        print(f"agent on a pty pair: use --port {host} on the host side, or --port 'cable://{host}?baud="
              f"{args.baud}' for a line paced at {args.baud} baud (Ctrl-C stops it)", file=sys.stderr, flush=True)
        serve(agent, stop=stop, opener=lambda: open_link(modem.board_port, args.baud))
    return 0
