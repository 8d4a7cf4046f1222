"""`cardioradar edge ...`, `view`, `agent`: the board's commands (benches are registered by quantize and host)."""

from __future__ import annotations

import json
import os

# --- `edge run`, `view` (handlers in edge.runtime.commands) -----------------------------------


def register(sub) -> None:
    from edge.runtime import commands

    edge = sub.add_parser("edge", help="the board runtime: edge run")
    es = edge.add_subparsers(dest="edge_command", metavar="EDGE_COMMAND", required=True)
    p = es.add_parser("run", help="link -> DSP -> int8 model -> post-processing -> session + live output")
    commands.add_run_args(p)
    p.set_defaults(func=commands.run_cmd)
    p = es.add_parser("install-service", help="write a systemd unit that runs `edge run` from boot, one session a night")
    _add_install_service_args(p)
    p.set_defaults(func=_install_service)
    p = sub.add_parser("view", help="live ECG and HR in the terminal, from `edge run --live`")
    commands.add_view_args(p)
    p.set_defaults(func=commands.view_cmd)
    from edge.agent.cli import add_agent_parser  # `agent`

    add_agent_parser(sub)


def _add_install_service_args(p) -> None:
    from pathlib import Path

    from cardioradar.cliargs import add_json, add_out
    from edge.service import DEFAULT_NIGHT_SPLIT, DEFAULT_SESSION_DIR, UNIT_NAME

    p.add_argument("--board", required=True, help="board profile name or path (its ports become the unit's devices)")
    p.add_argument("--session-dir", type=Path, default=DEFAULT_SESSION_DIR,
                   help=f"where the sessions go (default {DEFAULT_SESSION_DIR}, made by systemd)")
    p.add_argument("--user", default=None, help="user the service runs as (default: who ran sudo, else you)")
    p.add_argument("--night-split", default=DEFAULT_NIGHT_SPLIT, metavar="HH:MM|none",
                   help="local time a night's session ends and the next starts (default 12:00); "
                        "'none': one session per start (boot)")
    p.add_argument("--config-port", default=None, help="override the profile's config port, e.g. /dev/serial/by-id/...")
    p.add_argument("--data-port", default=None, help="override the profile's data port")
    p.add_argument("--web", default=None, metavar="[HOST:]PORT", help="also serve the live page (edge run --web)")
    where = p.add_mutually_exclusive_group()
    add_out(where, file=UNIT_NAME, what="where the unit goes (default: printed on stdout)")
    where.add_argument("--system", action="store_true",
                       help="write /etc/systemd/system/cardioradar-edge.service (root only)")
    p.add_argument("--force", action="store_true", help="overwrite an existing unit file")
    add_json(p, '{"unit", "name", "executable", "board", "session_dir", "night_split", "user", "devices"}')


def _install_service(args) -> int:
    import dataclasses
    import sys
    from pathlib import Path

    from boards import load_profile
    from edge import service

    split = service.parse_split(args.night_split)
    if split is not None:
        service.check_gnu_date()
    profile = load_profile(args.board)  # a bad profile is refused now, not in a restart loop
    user = args.user or service.default_user()
    service.check_user(user)
    from cardioradar.cliargs import out_path

    target = service.target_path(args.out and out_path(args.out, service.UNIT_NAME), args.system)
    cfg = service.ServiceConfig(board=service.board_argument(args.board), executable=service.find_executable(),
                                session_dir=Path(os.path.abspath(args.session_dir)), user=user,
                                night_split=split, config_port=args.config_port, data_port=args.data_port,
                                run_args=("--web", args.web) if args.web else ())
    ports = service.ports_of(profile, cfg)
    cfg = dataclasses.replace(cfg, groups=service.serial_groups(user, ports))
    text = service.build_unit(profile, cfg)
    if target is None:
        print(text, end="", flush=True)
    else:
        service.write_unit(text, target, force=args.force)
        enable = "sudo systemctl daemon-reload && sudo systemctl enable --now " + service.UNIT_NAME
        step = enable if args.system else f"sudo cp {target} /etc/systemd/system/ && {enable}"
        print(f"wrote {target}; next: {step}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps({"unit": str(target) if target else None, "name": service.UNIT_NAME,
                          "executable": str(cfg.executable), "board": cfg.board, "session_dir": str(cfg.session_dir),
                          "night_split": split, "user": user,
                          "devices": [d for d in map(service.device_unit, ports) if d]}), flush=True)
    return 0
