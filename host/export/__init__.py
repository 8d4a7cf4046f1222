"""Export a session (edge.store) to EDF+, WFDB or CSV for clinicians' tools.

``export_session(session_path, fmt, out_path=None) -> Path``. Formats and their
conventions (gap fill values, ranges, annotations) are described in each module and in
docs/session-store.md. The ECG is streamed in 60-s chunks, so memory does not grow with
the length of the night (beats/events are held as lists: ~1 MB per night).
"""

from __future__ import annotations

from pathlib import Path

from cardioradar.errors import ConfigError
from edge.store import SessionReader
from host.export.csv_out import write_csv
from host.export.edf_out import write_edf
from host.export.plan import make_plan
from host.export.wfdb_out import write_wfdb

FORMATS = {"edf": (".edf", write_edf), "wfdb": ("", write_wfdb), "csv": (".csv", write_csv)}


def default_out_path(session_path: Path, fmt: str) -> Path:
    """Beside the session: NAME.edf, NAME (WFDB record base, .hea/.dat/...), NAME.csv."""
    base = session_path.with_suffix("")
    return base.with_name(base.name + FORMATS[fmt][0]) if FORMATS[fmt][0] else base


def export_session(session_path: str | Path, fmt: str, out_path: str | Path | None = None) -> Path:
    """Write the session in ``fmt`` ('edf' | 'wfdb' | 'csv'); returns the main file written
    (the .edf, the .hea, the .csv). For WFDB ``out_path`` is the record path without extension."""
    if fmt not in FORMATS:
        raise ConfigError(f"export format: expected one of {sorted(FORMATS)}, got {fmt!r}")
    session_path = Path(session_path)
    out = Path(out_path) if out_path is not None else default_out_path(session_path, fmt)
    if fmt == "wfdb" and out.suffix in (".hea", ".dat"):
        out = out.with_suffix("")
    with SessionReader(session_path) as reader:
        plan = make_plan(reader)
        return FORMATS[fmt][1](reader, plan, out)


__all__ = ["FORMATS", "export_session"]
