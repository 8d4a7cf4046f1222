"""`cardioradar sim ...` and `cardioradar bench sim`: thin handlers over library functions."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

from cardioradar.cliargs import Goal, add_bench_result, add_json, add_mode, add_out, add_renamed, bench_result, \
    number, out_folder
from cardioradar.errors import ConfigError

# `bench sim --check` (docs/simulator.md "Speed", issue 13): real-time factors on one core.
SIM_GOALS = tuple(Goal(key, ">=", x, "x real time", "docs/simulator.md")
                  for key, x in (("adc_rtf", 60), ("fast_rtf", 1000)))


def register(sub) -> None:
    sim = sub.add_parser("sim", help="the radar module simulator: serve, record, subjects, frames")
    s = sim.add_subparsers(dest="sim_command", metavar="SIM_COMMAND", required=True)

    p = s.add_parser("serve", help="serve the module's config and data UARTs (pty or TCP) until SIGINT/SIGTERM")
    p.add_argument("--board", default="sim", help="board profile (name or path); default sim")
    _subject_args(p)
    p.add_argument("--speed", type=float, default=1.0, help="simulation speed vs real time (0 = as fast as read)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tcp", action="store_true", help="listen on the profile's socket:// URLs instead of ptys")
    add_mode(p)
    p.add_argument("--firmware", choices=("cardioradar", "oob"), default=None,
                   help="module firmware: CardioRadar range matrix or TI's OOB demo; default the profile's radar.firmware")
    p.add_argument("--sop", choices=("functional", "flashing"), default="functional",
                   help="SOP jumpers at power-up: functional (SOP[2:0]=001) or flashing (101: the ROM bootloader "
                        "on the config UART, for `cardioradar module flash`)")
    add_json(p, '{"config_port", "data_port"}', first=True)
    p.set_defaults(func=_serve)

    p = s.add_parser("record", help="record frames.bin + truth.npz + subject.json")
    p.add_argument("--seconds", type=number("--seconds", gt=0, unit="s"), required=True)
    add_out(p, required=True, what="recording folder (refused if it holds a recording)")
    p.add_argument("--force", action="store_true", help="overwrite a recording already in --out")
    _subject_args(p)
    p.add_argument("--seed", type=int, default=0)
    add_mode(p)
    add_renamed(p, "--fast", "--mode", dest="mode", value="fast")
    p.add_argument("--board", default="sim")
    add_json(p, '{"out", "frames", "dropped", "bytes"}')
    p.set_defaults(func=_record)

    p = s.add_parser("subjects", help="list the subject presets")
    add_json(p, '{"subjects": {name: description}}')
    p.set_defaults(func=_subjects)

    p = s.add_parser("frames", help="run the module with the board's .cfg and print one line per decoded frame")
    p.add_argument("--seconds", type=float, default=2.0)
    _subject_args(p)
    p.add_argument("--seed", type=int, default=0)
    add_mode(p)
    p.add_argument("--board", default="sim")
    p.set_defaults(func=_frames)


def register_bench(bench) -> None:
    p = bench.add_parser("sim", help="real-time factor of the whole simulated module, ADC-level and fast mode")
    p.add_argument("--seconds", type=float, default=5.0, help="simulated seconds timed in ADC mode (fast: 20x)")
    add_bench_result(p, '{"adc_rtf", "fast_rtf"}', SIM_GOALS, _bench)


def _subject_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--subject", default=None, help="subject preset (see `sim subjects`); default healthy-rest")
    g.add_argument("--drive-ecg", type=Path, default=None, help="drive the heart from a recorded ECG file")
    p.add_argument("--ecg-fs", type=float, default=None, help="sampling rate of --drive-ecg when the file lacks it")


def _subject(args):
    from hardware_sim.record import DriveEcg

    if args.drive_ecg is not None:
        return DriveEcg(args.drive_ecg, args.ecg_fs)
    if args.ecg_fs is not None:
        raise ConfigError("--ecg-fs: only with --drive-ecg")
    return args.subject or "healthy-rest"


def _serve(args) -> int:
    from hardware_sim.record import build_module
    from hardware_sim.serial_io import ModuleServer

    # Small batches: a batch is computed just before its first frame is due on the port.
    module, _ = build_module(_subject(args), seed=args.seed, mode=args.mode, board=args.board, batch_frames=5)
    if args.firmware is not None and args.firmware != module.firmware:
        module.select_firmware(args.firmware)
    kwargs = {}
    if args.tcp:
        cfg_url, data_url = urlparse(module.profile.ports.config), urlparse(module.profile.ports.data)
        if cfg_url.scheme != "socket" or data_url.scheme != "socket":
            raise ConfigError(f"{module.profile.path}: ports: --tcp needs socket:// URLs, got "
                              f"{module.profile.ports.config!r} and {module.profile.ports.data!r}")
        kwargs = dict(host=cfg_url.hostname, config_tcp_port=cfg_url.port, data_tcp_port=data_url.port)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    from hardware_sim.bootloader import SimBoard

    board = SimBoard(module, sop=args.sop)  # SOP lines, SFLASH and ROM; a flashed image lives while this runs
    with ModuleServer(board, transport="tcp" if args.tcp else "pty", speed=args.speed, **kwargs) as server:
        ports = server.ports
        if args.json:
            print(json.dumps({"config_port": ports.config, "data_port": ports.data}), flush=True)
        else:
            print(f"config UART: {ports.config}\ndata UART:   {ports.data}\n(Ctrl-C to stop)", flush=True)
        while not stop.wait(0.2):
            pass
    return 0


def _record(args) -> int:
    import contextlib

    from cardioradar.cliargs import refuse_overwrite
    from hardware_sim.record import record_session

    out_folder(args.out)
    refuse_overwrite([args.out / n for n in ("frames.bin", "truth.npz", "subject.json")], f"--out {args.out}",
                     force=args.force)

    try:  # a progress bar where the host extra brings tqdm; the core install records without one
        from tqdm import tqdm
    except ModuleNotFoundError:
        bar = contextlib.nullcontext(None)
    else:
        bar = tqdm(total=None, unit="frame", desc="sim record", file=sys.stderr)
    with bar as b:
        res = record_session(args.out, args.seconds, _subject(args), seed=args.seed,
                             mode=args.mode, board=args.board, progress=None if b is None else b.update)
    print(f"{res.n_frames} frames ({res.n_dropped} dropped), {res.n_bytes} bytes -> {res.out_dir}")
    if args.json:
        print(json.dumps({"out": str(res.out_dir), "frames": res.n_frames, "dropped": res.n_dropped,
                          "bytes": res.n_bytes}))
    return 0


def _subjects(args) -> int:
    from hardware_sim.subject.params import PRESETS

    for name, preset in PRESETS.items():
        print(f"{name:16s} {preset.description}")
    if args.json:
        print(json.dumps({"subjects": {name: preset.description for name, preset in PRESETS.items()}}))
    return 0


def _frames(args) -> int:
    from hardware_sim.record import frame_lines

    for line in frame_lines(args.seconds, _subject(args), seed=args.seed, mode=args.mode, board=args.board):
        print(line)
    return 0


def _bench(args) -> int:
    from hardware_sim.record import bench_module

    adc = bench_module(args.seconds, "adc")
    print(f"ADC-level mode: {adc:8.1f} x real time (goal {SIM_GOALS[0].value:g}x)", flush=True)
    fast = bench_module(args.seconds * 20, "fast")
    print(f"fast mode:      {fast:8.1f} x real time (goal {SIM_GOALS[1].value:g}x)", flush=True)
    return bench_result(args, {"adc_rtf": round(adc, 2), "fast_rtf": round(fast, 2)}, SIM_GOALS, "sim")
