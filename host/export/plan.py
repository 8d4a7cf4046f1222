"""What every export format shares: the sample grid, the gaps, the amplitude range.

The grid is t_s = origin_s + i / fs_hz, i in [0, n_samples), from the whole UTC second
at or before the session start (t_s = 0, or earlier if a block starts before it; to the
nearest sample, so within 1 ms at 500 Hz) to the end of the last ECG block.
Samples without a value are gaps: they are exported as a documented fill value and
listed as annotations with their reason, never glued together:
- "excluded": artifact exclusion marked the block unreliable,
- "no data": no block covers the time (not started yet, disconnect, drops),
- "no value": a block holds NaN there,
- "damaged": the stored block fails its size or CRC-32 check (a bad card sector).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from cardioradar.errors import InputDataError
from edge.store import DAMAGED, EXCLUDED, MISSING, VALID, EcgSeries, SessionReader

CHUNK_S = 60  # the ECG is streamed in chunks of this many seconds: memory stays flat
NO_VALUE = 4  # _reasons' code for a NaN inside a valid block
GAP_REASONS = {EXCLUDED: "excluded", MISSING: "no data", DAMAGED: "damaged", NO_VALUE: "no value"}


@dataclass(frozen=True)
class Gap:
    """Samples [start, start + n) of the grid have no value, for ``reason``."""

    start: int
    n: int
    reason: str


@dataclass(frozen=True)
class ExportPlan:
    origin_s: float  # session time of grid sample 0
    fs_hz: float
    n_samples: int
    start_utc: dt.datetime  # wall-clock time of grid sample 0 (whole second, UTC)
    max_abs_mv: float  # largest |value| among the samples that have one (0 if none)
    gaps: tuple[Gap, ...]

    def chunks(self, reader: SessionReader, chunk_s: int = CHUNK_S) -> Iterator[EcgSeries]:
        step = int(round(chunk_s * self.fs_hz))
        for a in range(0, self.n_samples, step):
            yield reader.ecg(self.origin_s + a / self.fs_hz, min(step, self.n_samples - a))

    def sample_of(self, t_s: float) -> int:
        return int(round((t_s - self.origin_s) * self.fs_hz))


def _reasons(series: EcgSeries) -> np.ndarray:
    """Per sample: 0 = has a value, else 1 excluded / 2 no data / 3 damaged / 4 no value."""
    r = series.status.astype(np.uint8).copy()
    r[(r == VALID) & np.isnan(series.ecg_mv).any(axis=1)] = NO_VALUE
    return r


def make_plan(reader: SessionReader) -> ExportPlan:
    fs = reader.ecg_fs_hz()
    span = reader.ecg_time_range()
    if fs is None or span is None:
        raise InputDataError(f"{reader.path}: the session holds no ECG blocks; nothing to export")
    start = dt.datetime.fromisoformat(reader.metadata()["start_time_utc"]).astimezone(dt.timezone.utc)
    # Start the grid on a whole UTC second (to the nearest sample): EDF's start time has
    # whole seconds (its sub-second field is not written reliably by pyedflib 0.1.42).
    shift_s = round(start.microsecond / 1e6 * fs) / fs
    origin_s = min(0.0, math.floor(span[0])) - shift_s
    n = int(math.ceil((span[1] - origin_s) * fs - 1e-6))
    grid_start = start + dt.timedelta(seconds=origin_s)
    grid_start = (grid_start + dt.timedelta(microseconds=500_000)).replace(microsecond=0)  # round
    plan = ExportPlan(origin_s, fs, n, grid_start, 0.0, ())
    names = GAP_REASONS
    gaps: list[Gap] = []
    max_abs = 0.0
    pos = 0
    for series in plan.chunks(reader):
        reasons = _reasons(series)
        ok = reasons == 0
        if ok.any():
            max_abs = max(max_abs, float(np.abs(series.ecg_mv[ok]).max()))
        # runs of equal reason -> gaps, merged across chunk borders
        edges = np.flatnonzero(np.diff(reasons)) + 1
        for a, b in zip(np.r_[0, edges], np.r_[edges, len(reasons)]):
            code = int(reasons[a])
            if code == 0:
                continue
            if gaps and gaps[-1].start + gaps[-1].n == pos + a and gaps[-1].reason == names[code]:
                gaps[-1] = Gap(gaps[-1].start, gaps[-1].n + int(b - a), names[code])
            else:
                gaps.append(Gap(pos + int(a), int(b - a), names[code]))
        pos += series.n_samples
    return ExportPlan(origin_s, fs, n, plan.start_utc, max_abs, tuple(gaps))


def metadata_text(meta: dict, key: str, default: str = "") -> str:
    """A metadata value as plain ASCII text for format headers."""
    value = meta.get(key, default)
    text = value if isinstance(value, str) else str(value)
    return text.encode("ascii", "replace").decode("ascii")
