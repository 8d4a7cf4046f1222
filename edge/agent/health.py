"""Health check of a booted slot: run the slot's own check command, pass = exit 0 in time.

A slot names its check in ``health.json``: ``{"argv": [...], "timeout_s": 30}``, with the
placeholders ``{python}`` (this interpreter) and ``{slot}`` (the slot folder, also the
working directory and first on PYTHONPATH). A slot without one gets the agent's default:
the real runtime, ``cardioradar edge run`` for a few seconds against the configured radar,
which must configure the module and write ECG blocks (its ``--json`` summary is checked).
Tests give tiny scripts that pass or fail.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cardioradar.errors import ConfigError

log = logging.getLogger(__name__)

HEALTH_FILE = "health.json"


@dataclass(frozen=True)
class HealthSpec:
    argv: tuple[str, ...]
    timeout_s: float = 60.0
    expect_ecg: bool = False  # the last stdout line is the runtime's JSON summary with ecg_blocks > 0


@dataclass(frozen=True)
class HealthResult:
    ok: bool
    detail: str
    duration_s: float


def runtime_check(board: str, seconds: float = 5.0, timeout_s: float = 60.0) -> HealthSpec:
    """The default check: the runtime starts, configures the radar, produces ECG in time."""
    return HealthSpec(("{python}", "-m", "cardioradar", "edge", "run", "--board", board,
                       "--seconds", f"{seconds:g}", "--quiet", "--json"), timeout_s, expect_ecg=True)


def load_spec(slot_dir: Path, default: HealthSpec) -> HealthSpec:
    path = Path(slot_dir) / HEALTH_FILE
    if not path.exists():
        return default
    try:
        d = json.loads(path.read_text())
        argv = d["argv"]
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise ConfigError(f"{path}: argv: expected a non-empty list of strings, got {argv!r}")
        return HealthSpec(tuple(argv), float(d.get("timeout_s", default.timeout_s)), bool(d.get("expect_ecg", False)))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: expected {{\"argv\": [...], \"timeout_s\": s}}: {e!r}") from e


def run_check(spec: HealthSpec, slot_dir: Path) -> HealthResult:
    slot_dir = Path(slot_dir).resolve()
    argv = [a.replace("{python}", sys.executable).replace("{slot}", str(slot_dir)) for a in spec.argv]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(slot_dir), env.get("PYTHONPATH", "")) if p)
    env["CARDIORADAR_SLOT"] = str(slot_dir)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(argv, cwd=slot_dir, env=env, capture_output=True, text=True,
                              timeout=spec.timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return HealthResult(False, f"no result within {spec.timeout_s:g} s", time.monotonic() - t0)
    except OSError as e:
        return HealthResult(False, f"cannot start {argv[0]}: {e}", time.monotonic() - t0)
    dt = time.monotonic() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        return HealthResult(False, f"exit code {proc.returncode}: {tail[0][:200]}", dt)
    if spec.expect_ecg:
        lines = proc.stdout.strip().splitlines()
        try:
            blocks = int(json.loads(lines[-1])["ecg_blocks"])
        except (IndexError, ValueError, KeyError, TypeError):
            return HealthResult(False, "the runtime printed no JSON summary", dt)
        if blocks <= 0:
            return HealthResult(False, "the runtime produced no ECG", dt)
    return HealthResult(True, f"passed in {dt:.1f} s", dt)
