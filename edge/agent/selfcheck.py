"""The default health check of a freshly booted slot: ``python -m edge.agent.selfcheck``.

Run by the agent in a child process with the slot first on ``PYTHONPATH`` and as working
directory, so every import below is the slot's own code. Steps, each timed:

1. imports: every runtime module the slot ships (``edge``, ``fixedpoint``, ``bundleformat``,
   ``boards``, ``cardioradar``) imports;
2. model: the slot's board profile loads, its ``.tflite`` passes `edge.modelfile` (before
   any interpreter sees it), `edge.infer.EcgModel` loads it and accepts the board's DSP
   settings, and one inference on a stored window (``<model>.window.npy`` beside the model,
   int8 in the input shape; else a seeded one) gives finite outputs of the right shapes;
3. radar: only when no session is being recorded (`edge run`'s lock on a radar port is
   held, see `edge.runtime.portlock`; a session's ``-wal`` in the agent's ``sessions/``
   folder changed in the last `LIVE_WINDOW_S`; or a process holds the radar's device
   path open), the config port is opened and asked ``queryDemoStatus``. The radar
   being absent or silent is reported, not failed: it is the board's wiring, not the new
   software, and rolling back would not bring it back; a crash of the slot's link code fails.

The radar ports are never opened while a recording runs (the old default, ``edge run``,
did, and a live session lost frames at every check). The last stdout line is a JSON
summary ``{"ok", "detail", "timing_s": {...}, "modules", "radar"}``; exit 0 = pass.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

LIVE_WINDOW_S = 10.0  # a live session commits at least every second (DESIGN.md contract 5)
# What `bundle build` ships (host.bundle.collect.RUNTIME_PACKAGES is this tuple).
PACKAGES = ("edge", "fixedpoint", "bundleformat", "boards", "cardioradar")
WINDOW_SEED = 20261206


class CheckFailed(Exception):
    pass


def slot_modules(slot: Path) -> list[str]:
    """Dotted names of the slot's runtime modules (``__main__`` files are scripts, not imported)."""
    out = []
    for pkg in PACKAGES:
        for p in sorted((slot / pkg).glob("**/*.py")):
            rel = p.relative_to(slot).with_suffix("")
            if rel.name == "__main__":
                continue
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out.append(".".join(parts))
    return out


def check_imports(slot: Path) -> int:
    mods = slot_modules(slot)
    if not mods:
        raise CheckFailed(f"slot {slot}: no runtime modules found")
    for m in mods:
        try:
            importlib.import_module(m)
        except Exception as e:  # noqa: BLE001 -- any import failure is the verdict
            raise CheckFailed(f"import {m}: {type(e).__name__}: {e}") from e
    return len(mods)


def _profile_path(slot: Path, board: str | None) -> Path:
    man = slot / "manifest.json"
    if man.is_file():
        return slot / json.loads(man.read_text())["profile"]
    return slot / "boards" / f"{board or 'sim'}.toml"


def check_model(profile) -> str:
    import numpy as np

    from edge.infer import EcgModel, metadata_path
    from edge.modelfile import validate_model_file

    path = profile.model_path
    meta = json.loads(metadata_path(path).read_text())
    validate_model_file(path, meta)
    model = EcgModel(path)
    model.check_against(profile.dsp)
    shape = tuple(int(s) for s in model.meta.input.shape)
    stored = path.with_suffix(".window.npy")
    if stored.is_file():
        x = np.load(stored)
        if x.dtype != np.int8 or x.size != int(np.prod(shape)):
            raise CheckFailed(f"{stored}: expected int8 {shape}, got {x.dtype} {x.shape}")
        src = stored.name
    else:
        x = np.random.default_rng(WINDOW_SEED).integers(-128, 128, shape, dtype=np.int8)
        src = f"seeded window {WINDOW_SEED}"
    out = model.predict_int8(x)
    if not (np.isfinite(out.ecg_mv).all() and np.isfinite(out.anchors).all() and np.isfinite(out.cycle_s)):
        raise CheckFailed(f"model {path}: one inference ({src}) gave non-finite outputs")
    return f"{path.name} ({model.backend}) ran one window ({src})"


def recording_in_progress(root: Path | None, ports: list[str]) -> str | None:
    """Why the radar must not be touched now, or None."""
    try:
        from edge.runtime import portlock  # the runtime's port locks (absent in older slots)
    except ImportError:
        portlock = None
    for p in ports if portlock is not None else ():
        pid = portlock.holder(p)
        if pid is not None:
            return f"a session (PID {pid}) holds the radar port {p}"
    if root is not None:
        now = time.time()
        for wal in sorted((root / "sessions").glob("*.db-wal")):
            try:
                age = now - wal.stat().st_mtime
            except OSError:
                continue
            if age < LIVE_WINDOW_S:
                return f"session {wal.name[:-4]} is being recorded"
    devices = {os.path.realpath(p) for p in ports if "://" not in p}
    if devices and Path("/proc").is_dir():
        me = str(os.getpid())
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or pid == me:
                continue
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in devices:
                        return f"process {pid} holds the radar port open"
                except OSError:
                    continue
    return None


def check_radar(profile, root: Path | None) -> str:
    from cardioradar.errors import CardioRadarError
    from edge.link.configure import _CliSession
    from edge.link.transport import open_config_port

    busy = recording_in_progress(root, [profile.ports.config, profile.ports.data])
    if busy:
        return f"not touched: {busy}"
    try:
        port = open_config_port(profile, read_timeout_s=0.1)
    except CardioRadarError as e:
        return f"not reachable ({e}); not held against the slot"
    try:
        cli = _CliSession(port)
        cli.drain(max_s=0.3)
        answer = cli.command("queryDemoStatus", 2.0, "health check")
        return f"config port answered queryDemoStatus: {' / '.join(answer)[:80]}"
    except CardioRadarError as e:
        return f"no usable answer ({e}); not held against the slot"
    finally:
        port.close()


def run(slot: Path, root: Path | None, board: str | None) -> dict:
    from cardioradar.errors import CardioRadarError

    timing: dict[str, float] = {}
    res = {"ok": False, "detail": "", "timing_s": timing, "modules": 0, "radar": ""}
    step = "imports"
    t0 = time.monotonic()
    try:
        res["modules"] = check_imports(slot)
        timing["imports"] = round(time.monotonic() - t0, 3)
        step, t = "model", time.monotonic()
        from boards import load_profile

        profile = load_profile(_profile_path(slot, board))
        model = check_model(profile)
        timing["model"] = round(time.monotonic() - t, 3)
        step, t = "radar", time.monotonic()
        res["radar"] = check_radar(profile, root)
        timing["radar"] = round(time.monotonic() - t, 3)
    except CheckFailed as e:
        res["detail"] = f"{step}: {e}"
    except CardioRadarError as e:  # the product's own one-line errors (a damaged model file, ...)
        res["detail"] = f"{step}: {e}"[:400]
    except Exception as e:  # noqa: BLE001 -- the verdict names whatever broke
        line = str(e).splitlines()[0] if str(e) else ""
        res["detail"] = f"{step}: {type(e).__name__}: {line}"[:300]
        traceback.print_exc(file=sys.stderr)
    else:
        res["ok"] = True
        res["detail"] = f"{res['modules']} modules import; {model}; radar {res['radar']}"
    timing["total"] = round(time.monotonic() - t0, 3)
    return res


def main(argv: list[str] | None = None) -> int:
    """``[--slot DIR] [--root DIR] [--board NAME]`` (pairs only: the agent builds this line)."""
    argv = sys.argv[1:] if argv is None else argv
    opts = dict(zip(argv[::2], argv[1::2]))
    unknown = set(opts) - {"--slot", "--root", "--board"}
    if len(argv) % 2 or unknown:
        print(f"usage: python -m edge.agent.selfcheck [--slot DIR] [--root DIR] [--board NAME]; got {argv}",
              file=sys.stderr)
        return 2
    slot = Path(opts.get("--slot") or os.environ.get("CARDIORADAR_SLOT", ".")).resolve()
    res = run(slot, Path(opts["--root"]) if "--root" in opts else None, opts.get("--board"))
    print(json.dumps(res))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
