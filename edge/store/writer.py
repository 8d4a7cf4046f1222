"""SessionWriter: append a session to one SQLite database, crash-safe.

Durability (see docs/session-store.md):
- WAL journal, ``synchronous=FULL``: every COMMIT fsyncs the WAL, so a committed
  transaction survives a power cut, and an interrupted one is rolled back whole.
- Rows go into an open transaction as they are added (no Python-side buffer; SQLite
  spills a large transaction to the WAL, so memory stays bounded). The transaction is
  committed once its oldest row is ``commit_interval_s`` old (default 0.5 s), checked
  on every add and by a timer thread, so a power cut loses at most the rows added in
  the last ``commit_interval_s`` + timer tick + one fsync (< 1 s on a healthy card).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import threading
import zlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cardioradar import __version__
from cardioradar.errors import ConfigError, InputDataError
from cardioradar.jsonvalues import json_clean
from edge.store.schema import APPLICATION_ID, DDL, SCHEMA_VERSION, TABLES
from edge.types import BeatRecord, EcgBlock, RawFrame, SessionEvent, VitalsRecord

log = logging.getLogger(__name__)

SYNCHRONOUS = "FULL"
WAL_AUTOCHECKPOINT_PAGES = 1000  # SQLite's default: checkpoint when the WAL passes ~4 MB
JOURNAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024  # truncate a grown WAL back after a checkpoint


@dataclass(frozen=True)
class CommitInfo:
    """Reported to ``on_commit`` after each commit: what is now durable.

    clock_s: the writer's clock when the commit returned.
    rows: total rows committed so far per table (frames, ecg_blocks, beats, vitals, events).
    """

    index: int
    clock_s: float
    rows: dict[str, int]


def _utc_now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def _checked_metadata(metadata: dict) -> dict:
    if not isinstance(metadata, dict):
        raise ConfigError(f"session metadata: expected a dict, got {type(metadata).__name__}")
    out = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"session metadata: keys must be non-empty strings, got {key!r}")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"session metadata[{key!r}]: expected a JSON value, got {value!r}") from e
        out[key] = value
    start = out.setdefault("start_time_utc", _utc_now_iso())
    try:
        parsed = dt.datetime.fromisoformat(start)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"session metadata['start_time_utc']: expected ISO 8601, got {start!r}") from e
    if parsed.tzinfo is None:
        raise ConfigError(f"session metadata['start_time_utc']: expected a UTC offset, got {start!r}")
    out.setdefault("software_version", __version__)
    out["schema_version"] = SCHEMA_VERSION
    out["closed_cleanly"] = False
    return out


class SessionWriter:
    """Write one session. Not re-entrant per call, but thread-safe (one lock).

    path: the new session file (must not exist). metadata: JSON-able dict (board,
    model, model_sha256, firmware_version, settings, start_time_utc, ...).
    clock: seconds, monotonic; drives the commit cadence (tests pass a fake one).
    timer: run a daemon thread that commits pending rows when the caller goes quiet.
    on_commit: called (under the writer's lock, from the committing thread) after each commit.
    """

    def __init__(
        self,
        path: str | Path,
        metadata: dict,
        *,
        commit_interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        timer: bool = True,
        on_commit: Callable[[CommitInfo], None] | None = None,
    ):
        if not 0 < commit_interval_s <= 1.0:
            raise ConfigError(f"commit_interval_s: expected 0 < x <= 1.0 s, got {commit_interval_s!r}")
        self.path = Path(path)
        if self.path.exists():
            raise InputDataError(f"{self.path}: session file already exists; a writer never appends to one")
        self.commit_interval_s = commit_interval_s
        self._clock = clock
        self._on_commit = on_commit
        self._lock = threading.Lock()
        self._added = dict.fromkeys(TABLES, 0)
        self._pending_since: float | None = None  # clock time of the oldest uncommitted row
        self._n_commits = 0
        self._closed = False
        meta = _checked_metadata(metadata)
        self._conn = self._create(meta)
        self._stop = threading.Event()
        self._thread = None
        if timer:
            self._thread = threading.Thread(target=self._timer_loop, name="session-commit", daemon=True)
            self._thread.start()

    # -- setup -------------------------------------------------------------------------
    def _create(self, meta: dict) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise InputDataError(f"{self.path}: the file system refused WAL mode (got {mode!r})")
            conn.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT_BYTES}")
            conn.execute("BEGIN")
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            for stmt in DDL:
                conn.execute(stmt)
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                             [(k, json.dumps(v)) for k, v in meta.items()])
            conn.execute("COMMIT")
            # Put schema + metadata into the main file at once, so even a copy of the .db
            # taken without its -wal is recognisable as a session.
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as e:
            raise InputDataError(f"{self.path}: cannot create session database: {e}") from e
        log.info("session %s created (WAL, synchronous=%s)", self.path, SYNCHRONOUS)
        return conn

    # -- adding --------------------------------------------------------------------------
    def add_frame(self, frame: RawFrame) -> None:
        """Archive one module packet exactly as received."""
        _expect(frame, RawFrame, "add_frame")
        self._insert("frames", "INSERT INTO frames (frame_number, time_cpu_cycles, host_time_s, packet)"
                     " VALUES (?, ?, ?, ?)",
                     [(int(frame.frame_number), int(frame.time_cpu_cycles), float(frame.host_time_s),
                       bytes(frame.packet))])

    def add_ecg_block(self, block: EcgBlock) -> None:
        _expect(block, EcgBlock, "add_ecg_block")
        blob = np.ascontiguousarray(block.ecg_mv, dtype="<f4").tobytes()
        self._insert("ecg_blocks", "INSERT INTO ecg_blocks (t0_s, t1_s, fs_hz, n_samples, excluded, ecg, crc32)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [(float(block.t0_s), float(block.t1_s), float(block.fs_hz), block.n_samples,
                       int(bool(block.excluded)), blob, zlib.crc32(blob))])

    def add_beats(self, beats: Iterable[BeatRecord]) -> None:
        rows = []
        for b in beats:
            _expect(b, BeatRecord, "add_beats")
            rows.append((float(b.t_s), json_clean(b.rr_s), json_clean(b.hr_bpm), json_clean(b.quality)))
        self._insert("beats", "INSERT INTO beats (t_s, rr_s, hr_bpm, quality) VALUES (?, ?, ?, ?)", rows)

    def add_vitals(self, vitals: Iterable[VitalsRecord]) -> None:
        rows = []
        for v in vitals:
            _expect(v, VitalsRecord, "add_vitals")
            rows.append((float(v.t_s), json_clean(v.hr_bpm), json_clean(v.br_bpm),
                         json_clean(v.quality), v.source))
        self._insert("vitals", "INSERT INTO vitals (t_s, hr_bpm, br_bpm, quality, source)"
                     " VALUES (?, ?, ?, ?, ?)", rows)

    def add_event(self, event: SessionEvent) -> None:
        _expect(event, SessionEvent, "add_event")
        self._insert("events", "INSERT INTO events (t_s, kind, detail, count, duration_s)"
                     " VALUES (?, ?, ?, ?, ?)",
                     [(float(event.t_s), event.kind, str(event.detail), int(event.count),
                       float(event.duration_s))])

    # -- committing ----------------------------------------------------------------------
    def tick(self) -> None:
        """Commit if the oldest pending row is due. Call it when driving a fake clock."""
        with self._lock:
            self._commit_if_due()

    def commit(self) -> None:
        """Commit now (e.g. before a planned stop of the board)."""
        with self._lock:
            self._commit()

    def close(self) -> None:
        """Commit everything, mark the session closed cleanly, close the database."""
        if self._closed:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._begin()
            self._exec("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                       [("end_time_utc", json.dumps(_utc_now_iso())), ("closed_cleanly", "true")])
            self._commit()
            self._closed = True
            self._conn.close()
        log.info("session %s closed: %s", self.path, self._added)

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def rows_added(self) -> dict[str, int]:
        return dict(self._added)

    # -- internals -----------------------------------------------------------------------
    def _insert(self, table: str, sql: str, rows: list[tuple]) -> None:
        if not rows:
            return
        with self._lock:
            if self._closed:
                raise InputDataError(f"{self.path}: session writer is closed")
            self._begin()
            self._exec(sql, rows)
            self._added[table] += len(rows)
            self._commit_if_due()

    def _begin(self) -> None:
        if self._pending_since is None:
            self._exec("BEGIN")
            self._pending_since = self._clock()

    def _commit_if_due(self) -> None:
        if self._pending_since is not None and self._clock() - self._pending_since >= self.commit_interval_s:
            self._commit()

    def _commit(self) -> None:
        if self._pending_since is None:
            return
        try:
            self._exec("COMMIT")
        except InputDataError:
            if not self._conn.in_transaction:  # SQLite rolled back (disk full): nothing left to commit
                self._pending_since = None
            raise
        self._pending_since = None
        self._n_commits += 1
        if self._on_commit is not None:
            self._on_commit(CommitInfo(self._n_commits, self._clock(), dict(self._added)))

    def _exec(self, sql: str, rows: list[tuple] | None = None) -> None:
        try:
            if rows is None:
                self._conn.execute(sql)
            else:
                self._conn.executemany(sql, rows)
        except sqlite3.Error as e:
            raise InputDataError(f"{self.path}: session write failed ({sql.split()[0]}): {e}") from e

    def _timer_loop(self) -> None:
        # Wakes 4x per interval so a quiet caller's rows are committed at most
        # interval * 1.25 after they were added.
        while not self._stop.wait(self.commit_interval_s / 4):
            try:
                self.tick()
            except InputDataError as e:  # one line: a full disk is no bug (the next add raises it too)
                log.error("session %s: timed commit failed: %s", self.path, e)


def _expect(value: object, kind: type, where: str) -> None:
    if not isinstance(value, kind):
        raise InputDataError(f"SessionWriter.{where}: expected {kind.__name__}, got {type(value).__name__}")
