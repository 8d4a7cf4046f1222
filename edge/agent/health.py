"""Health check of a booted slot: run the slot's own check command, pass = exit 0 in time.

A slot names its check in ``health.json``: ``{"argv": [...], "timeout_s": 30}``, with the
placeholders ``{python}`` (this interpreter), ``{slot}`` (the slot folder, also the
working directory and first on PYTHONPATH) and ``{root}`` (the agent's root). A slot
without one gets the agent's default, `default_check`: the slot's own
``python -m edge.agent.selfcheck`` (imports, model file check + load + one inference,
the radar's config port only when no session is being recorded), whose JSON summary gives
the verdict and the timing of each step. (The default used to be ``edge run`` for 5 s,
which a healthy board failed: its first ECG block needs about 7 s, and it opened the radar
ports under a running recording.) Tests give tiny scripts that pass or fail.
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
    expect_summary: bool = False  # the last stdout line is `edge.agent.selfcheck`'s JSON summary


@dataclass(frozen=True)
class HealthResult:
    ok: bool
    detail: str
    duration_s: float
    timing_s: dict | None = None  # per step, from the selfcheck's summary

    def as_dict(self, slot: str) -> dict:
        return {"slot": slot, "ok": self.ok, "detail": self.detail, "duration_s": round(self.duration_s, 2),
                "timing_s": self.timing_s or {}, "at": round(time.time(), 1)}


def default_check(timeout_s: float = 120.0) -> HealthSpec:
    """The default check: the slot's own `edge.agent.selfcheck` (see its docstring)."""
    return HealthSpec(("{python}", "-m", "edge.agent.selfcheck", "--root", "{root}"), timeout_s,
                      expect_summary=True)


def load_spec(slot_dir: Path, default: HealthSpec) -> HealthSpec:
    path = Path(slot_dir) / HEALTH_FILE
    if not path.exists():
        return default
    try:
        d = json.loads(path.read_text())
        argv = d["argv"]
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise ConfigError(f"{path}: argv: expected a non-empty list of strings, got {argv!r}")
        return HealthSpec(tuple(argv), float(d.get("timeout_s", default.timeout_s)), bool(d.get("expect_ecg", False)),
                          bool(d.get("expect_summary", False)))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: expected {{\"argv\": [...], \"timeout_s\": s}}: {e!r}") from e


def run_check(spec: HealthSpec, slot_dir: Path, root: Path | None = None) -> HealthResult:
    slot_dir = Path(slot_dir).resolve()
    root_s = str(Path(root).resolve()) if root is not None else str(slot_dir.parent.parent)
    argv = [a.replace("{python}", sys.executable).replace("{slot}", str(slot_dir)).replace("{root}", root_s)
            for a in spec.argv]
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
    if spec.expect_summary:
        return _summary_result(proc, dt)
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


def _summary_result(proc: subprocess.CompletedProcess, dt: float) -> HealthResult:
    lines = proc.stdout.strip().splitlines()
    try:
        summary = json.loads(lines[-1])
        ok, detail, timing = bool(summary["ok"]), str(summary["detail"]), dict(summary.get("timing_s", {}))
    except (IndexError, ValueError, KeyError, TypeError):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        why = (f"killed by signal {-proc.returncode}" if proc.returncode < 0
               else f"exit code {proc.returncode}" if proc.returncode else "no JSON summary")
        return HealthResult(False, f"selfcheck: {why}: {tail[0][:200]}", dt)
    if ok and proc.returncode != 0:
        ok, detail = False, f"exit code {proc.returncode} after a passing summary: {detail}"
    return HealthResult(ok, f"passed in {dt:.1f} s: {detail}" if ok else detail, dt, timing)
