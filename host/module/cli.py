"""`cardioradar module ...`: flash the radar module's serial flash, build a simulated image,
ask the module's version. Thin handlers over ``host.module``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cardioradar.cliargs import add_json, add_out, number, out_path, print_result, refuse_overwrite


def add_module_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="module_command", metavar="ACTION", required=True)

    f = sub.add_parser("flash", help="write IMAGE into the module's SFLASH over its ROM bootloader "
                                     "(module in flashing mode: SOP2), let the ROM verify it, reboot, report version")
    f.add_argument("image", type=Path, help="xWR68xx meta image (.bin)")
    f.add_argument("--port", required=True, help="the module's config UART: a path or pyserial URL")
    f.add_argument("--erase", action="store_true", help="erase the whole SFLASH first (about 30 s on an EVM)")
    f.add_argument("--timeout", type=number("--timeout", gt=0, le=600, unit="s"), default=2.0,
                   help="seconds to wait for each answer (default 2)")
    f.add_argument("--boot-timeout", type=number("--boot-timeout", ge=0, le=600, unit="s"), default=5.0,
                   help="seconds to wait for the module's prompt after the reboot (default 5)")
    add_json(f, "(the result)")

    i = sub.add_parser("image", help="build an image in this project's layout for the simulated module")
    add_out(i, file="FIRMWARE-VERSION.bin", required=True, what="the image")
    i.add_argument("--firmware", default="cardioradar", help="firmware the image runs (simulator: cardioradar, ...)")
    i.add_argument("--name", default=None, help="name `version` reports (default: the firmware's own)")
    i.add_argument("--version", required=True, help="version `version` reports, e.g. 1.2.0")
    i.add_argument("--payload-kib", type=number("--payload-kib", ge=0, le=1000, integer=True), default=64,
                   help="KiB of code the image stands for (default 64)")
    i.add_argument("--seed", type=int, default=0, help="seed of the payload bytes")
    i.add_argument("--force", action="store_true", help="overwrite --out")
    add_json(i, '{"image", "firmware", "name", "version", "size_bytes", "crc32"}')

    v = sub.add_parser("version", help="ask a module in functional mode for its `version`")
    v.add_argument("--port", required=True, help="the module's config UART: a path or pyserial URL")
    add_json(v, '{"lines": [...]}')


def run_module(args: argparse.Namespace) -> int:
    return {"flash": _flash, "image": _image, "version": _version}[args.module_command](args)


def _flash(args: argparse.Namespace) -> int:
    from host.module.flash import flash_module
    from host.module.image import read_image

    image = read_image(args.image)
    print(f"flashing {image.describe()} to {args.port}", file=sys.stderr, flush=True)
    with _progress_bar(image.size) as update:
        res = flash_module(args.port, image, erase=args.erase, timeout_s=args.timeout,
                           boot_timeout_s=args.boot_timeout, progress=update)
    text = (f"written and verified by the ROM (CRC32 at CLOSE): {res.bytes_written} bytes in {res.chunks} chunks, "
            f"{res.seconds:.1f} s\n")
    if res.firmware_line is None:
        text += (f"the module did not come up in functional mode within {args.boot_timeout:g} s: open SOP2 "
                 f"(SOP[2:0] = 001) and power-cycle it, then: cardioradar module version --port {args.port}")
    else:
        text += f"rebooted into functional mode: {res.firmware_line}"
    return print_result(args, text, {"port": res.port, "image": res.image, "bytes": res.bytes_written,
                                     "chunks": res.chunks, "rom_version": res.rom_version,
                                     "rebooted": res.firmware_line is not None, "firmware": res.firmware_line,
                                     "seconds": round(res.seconds, 3)})


def _image(args: argparse.Namespace) -> int:
    from host.module.image import build_image

    out = out_path(args.out, f"{args.firmware}-{args.version}.bin")
    refuse_overwrite([out], f"--out {out}", force=args.force)
    out.parent.mkdir(parents=True, exist_ok=True)  # --out a new folder
    name = args.name
    if name is None:
        name = _default_name(args.firmware)
    img = build_image(out, firmware=args.firmware, name=name, version=args.version,
                      payload_kib=int(args.payload_kib), seed=args.seed)
    return print_result(args, f"{img.path}: {img.describe()}, CRC32 0x{img.crc32:08X}",
                        {"image": str(img.path), "firmware": args.firmware, "name": name, "version": args.version,
                         "size_bytes": img.size, "crc32": f"0x{img.crc32:08X}"})


def _default_name(firmware: str) -> str:
    if firmware == "cardioradar":
        from hardware_sim.firmware.cli import FIRMWARE_NAME

        return FIRMWARE_NAME
    return f"{firmware} firmware"


def _version(args: argparse.Namespace) -> int:
    from host.module.flash import module_version

    lines = module_version(args.port)
    return print_result(args, "\n".join(lines), {"lines": lines})


class _progress_bar:
    """tqdm where the host extra brings it, else a percentage on stderr every 10 %."""

    def __init__(self, total: int):
        self.total = total
        self._bar = None
        self._last = -1

    def __enter__(self):
        try:
            import tqdm  # noqa: F401
        except ModuleNotFoundError:
            return self._text
        return self._tqdm

    def _tqdm(self, done: int, total: int) -> None:
        if self._bar is None:  # made at the first chunk: no bar when the port does not answer
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, unit="B", unit_scale=True, desc="module flash", file=sys.stderr)
        self._bar.update(done - self._bar.n)

    def _text(self, done: int, total: int) -> None:
        pct = 100 * done // max(total, 1)
        if pct // 10 != self._last // 10:
            self._last = pct
            print(f"module flash: {pct:3d} % ({done}/{total} bytes)", file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
