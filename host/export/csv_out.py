"""CSV: ``NAME.csv`` (time_s + 12 leads in mV), ``NAME_beats.csv``, ``NAME_events.csv``,
``NAME_vitals.csv``.

Every sample of the grid gets a row (the time axis stays regular); samples without a
value (gaps, see plan.py) have empty lead cells, which pandas, numpy.genfromtxt, R and
spreadsheets read as missing. Gaps are also rows of NAME_events.csv (kind "gap").
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from edge.store import SessionReader
from edge.types import LEADS
from host.export.plan import ExportPlan

log = logging.getLogger(__name__)

ROWS_PER_WRITE = 500


def write_csv(reader: SessionReader, plan: ExportPlan, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        f.write(",".join(("time_s",) + LEADS) + "\n")
        row = ",".join(["%.6f"] * (1 + len(LEADS))) + "\n"
        for series in plan.chunks(reader):
            table = np.column_stack([series.t_s(), series.ecg_mv.astype(np.float64)])
            # Format ROWS_PER_WRITE rows at a time: np.savetxt over a night fragments the
            # heap (peak RSS grew ~3 MB per minute of ECG); small strings are reused.
            for a in range(0, len(table), ROWS_PER_WRITE):
                part = table[a:a + ROWS_PER_WRITE]
                text = row * len(part) % tuple(part.ravel().tolist())
                f.write(text.replace(",nan", ","))  # time_s is never NaN
    stem = out.with_suffix("")
    with open(f"{stem}_beats.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("t_s", "rr_s", "hr_bpm", "quality"))
        w.writerows((b.t_s, b.rr_s, b.hr_bpm, b.quality) for b in reader.beats())
    with open(f"{stem}_vitals.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("t_s", "hr_bpm", "br_bpm", "quality", "source"))
        w.writerows((v.t_s, v.hr_bpm, v.br_bpm, v.quality, v.source) for v in reader.vitals())
    with open(f"{stem}_events.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("t_s", "kind", "detail", "count", "duration_s"))
        rows = [(e.t_s, e.kind, e.detail, e.count, e.duration_s) for e in reader.events()]
        rows += [(plan.origin_s + g.start / plan.fs_hz, "gap", g.reason, g.n, g.n / plan.fs_hz)
                 for g in plan.gaps]
        w.writerows(sorted(rows, key=lambda r: r[0]))
    log.info("CSV %s: %d rows", out, plan.n_samples)
    return out
