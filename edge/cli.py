"""`cardioradar edge ...`, `view`, `agent`: the board's commands (benches are registered by quantize and host)."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

from cardioradar.cliargs import add_json, number

# --- `edge run`, `view`, `edge install-service` ----------------------------------------------------


def register(sub) -> None:
    edge = sub.add_parser("edge", help="the board runtime: edge run")
    es = edge.add_subparsers(dest="edge_command", metavar="EDGE_COMMAND", required=True)
    p = es.add_parser("run", help="link -> DSP -> int8 model -> post-processing -> session + live output")
    _add_run_args(p)
    p.set_defaults(func=_run)
    p = es.add_parser("install-service", help="write a systemd unit that runs `edge run` from boot, one session a night")
    _add_install_service_args(p)
    p.set_defaults(func=_install_service)
    p = sub.add_parser("view", help="live ECG and HR in the terminal, from `edge run --live`")
    _add_view_args(p)
    p.set_defaults(func=_view)
    from edge.agent.cli import add_agent_parser  # `agent`

    add_agent_parser(sub)


def _add_run_args(p) -> None:
    p.add_argument("--board", default="sim", help="board profile name or path (default: sim)")
    p.add_argument("--model", default=None, help="model .tflite (default: the profile's model)")
    p.add_argument("--session", type=Path, default=None,
                   help="new session file (default: sessions/<UTC time>.db)")
    p.add_argument("--config-port", default=None, help="override the profile's config port (path or pyserial URL)")
    p.add_argument("--data-port", default=None, help="override the profile's data port (path or pyserial URL)")
    p.add_argument("--seconds", type=number("--seconds", gt=0, unit="s"), default=None,
                   help="stop after this much session time (wall-clock time counts while no frame comes)")
    p.add_argument("--watchdog", type=number("--watchdog", ge=0, unit="s"), default=5.0, metavar="SECONDS",
                   help="no frame for this long: say so, record an event, re-send the .cfg with back-off "
                        "(default 5; 0 = off)")
    p.add_argument("--live", default=None, metavar="TARGET",
                   help="stream JSON lines: '-' (stdout) or udp://127.0.0.1:PORT (for `cardioradar view`)")
    p.add_argument("--web", default=None, metavar="[HOST:]PORT",
                   help="serve the live page (12 leads, HR/BR, events, markers) on PORT, loopback by default; "
                        "another HOST needs the token printed at start (docs/runtime.md)")
    p.add_argument("--no-cfg", action="store_true", help="do not send the .cfg (the module already streams)")
    p.add_argument("--no-raw", action="store_true", help="do not archive the raw module frames")
    p.add_argument("--quiet", action="store_true", help="no status line on stderr")
    add_json(p, "(the run summary)")


def _run(args) -> int:
    from boards import load_profile
    from edge.runtime.core import CoreConfig
    from edge.runtime.model import load_model
    from edge.runtime.run import RunConfig, run_edge, with_ports

    from edge.runtime import portlock
    from edge.runtime.commands import default_session_path, install_stop_handlers

    profile = with_ports(load_profile(args.board), args.config_port, args.data_port)
    portlock.check({"config": profile.ports.config, "data": profile.ports.data})  # before the model loads
    model = load_model(profile, args.model)
    cfg = RunConfig(session_path=args.session or default_session_path(), seconds=args.seconds,
                    live=args.live, send_cfg=not args.no_cfg,
                    status_interval_s=0.0 if args.quiet and not args.web else 1.0, watchdog_s=args.watchdog or None,
                    core=CoreConfig(archive_raw=not args.no_raw),
                    metadata={"model": str(args.model or profile.model_path.name)})
    stop = threading.Event()
    install_stop_handlers(stop)
    web = None
    if args.web is not None:
        from edge.web import WebConfig, WebView

        web = WebView(WebConfig.from_arg(args.web)).start()
        print(f"live web view: {web.url}", file=sys.stderr, flush=True)
    try:
        # --quiet --web: the page still gets the status (alerts), stderr gets none
        summary = run_edge(profile, model, cfg, stop, web=web, status_out=False if args.quiet else None)
    finally:
        if web is not None:
            web.close()
    print(f"session {summary.session}: {summary.frames_received} frames, {summary.frames_lost} lost, "
          f"{summary.ecg_blocks} ECG blocks ({summary.excluded_blocks} excluded), stopped by {summary.stopped_by}; "
          f"latency p50 {summary.latency_p50_s:.2f} s p95 {summary.latency_p95_s:.2f} s",
          file=sys.stderr if args.live == "-" else sys.stdout, flush=True)
    if args.json:
        print(json.dumps(summary.as_dict(), default=float), flush=True)
    if summary.stopped_by == "disk space":
        print(f"error: the session's disk has less than {cfg.min_free_mb:.0f} MB free; {summary.session} was "
              "closed cleanly before it filled", file=sys.stderr)
        return 3  # InputDataError's code: the run did not end as asked
    if summary.stopped_by == "port lost":
        print(f"error: data port {profile.ports.data} went away (a pseudo-terminal never comes back under its "
              "name); the session is closed cleanly", file=sys.stderr)
        return 4  # TransportError's code: the run did not end as asked
    return 0


def _add_view_args(p) -> None:
    p.add_argument("source", nargs="?", default="-",
                   help="'-' (JSON lines on stdin, e.g. piped from `edge run --live -`) or udp://127.0.0.1:PORT")
    p.add_argument("--lead", default="II", help="lead to plot (default II)")
    p.add_argument("--seconds", type=number("--seconds", gt=0, le=3600, unit="s"), default=5.0,
                   help="span shown (default 5 s)")
    p.add_argument("--width", type=number("--width", ge=10, le=10000, integer=True), default=100,
                   help="plot width in characters")
    p.add_argument("--height", type=number("--height", ge=3, le=1000, integer=True), default=14,
                   help="plot height in lines")
    p.add_argument("--once", action="store_true", help="print one frame when the stream ends (no redraw)")


def _view(args) -> int:
    from edge.view import ViewConfig, run_view

    run_view(args.source, ViewConfig(lead=args.lead, span_s=args.seconds, width=args.width,
                                     height=args.height, redraw=not args.once))
    return 0


def _add_install_service_args(p) -> None:
    from cardioradar.cliargs import add_out
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

    from boards import load_profile
    from edge import service

    split = service.parse_split(args.night_split)
    if split is not None:
        service.check_gnu_date()
    profile = load_profile(args.board)  # a bad profile is refused now, not in a restart loop
    user = args.user or service.default_user()
    service.check_user(user)
    target = service.target_path(args.out, args.system)
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
