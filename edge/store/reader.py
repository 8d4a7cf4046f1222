"""SessionReader: open a session read-only, also while it is still being written.

Works on the live file (the writer keeps going), on a copy of the ``.db`` with its
``-wal`` (SQLite replays the committed part of the WAL; a torn tail is ignored) and on
a ``.db`` alone (then only what was checkpointed into it is seen). A file that was not
closed cleanly and has no ``-wal`` beside it is checked (``PRAGMA quick_check``) before
use, because a ``.db`` copied mid-checkpoint without its WAL can be inconsistent.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cardioradar.errors import InputDataError
from edge.store.schema import APPLICATION_ID, SCHEMA_VERSION, TABLES
from edge.types import N_LEADS, BeatRecord, EcgBlock, RawFrame, SessionEvent, VitalsRecord

log = logging.getLogger(__name__)

SQLITE_MAGIC = b"SQLite format 3\x00"

# EcgSeries.status values
VALID = 0  # a sample from a block that was not excluded
EXCLUDED = 1  # inside a block that artifact exclusion marked unreliable
MISSING = 2  # no block covers this sample (disconnect, drop, not started, ...)
DAMAGED = 3  # a stored block whose bytes fail their check (size, CRC-32): no value, never used


@dataclass(frozen=True)
class EcgSeries:
    """ECG on a regular grid t_s = t0_s + i / fs_hz.

    ecg_mv: float32, shape (n, 12), mV, lead order LEADS; NaN where status != VALID
        (and wherever the stored block itself had NaN).
    status: uint8, shape (n,): VALID, EXCLUDED, MISSING or DAMAGED.
    """

    t0_s: float
    fs_hz: float
    ecg_mv: np.ndarray
    status: np.ndarray

    @property
    def n_samples(self) -> int:
        return int(self.ecg_mv.shape[0])

    def t_s(self) -> np.ndarray:
        """float64, shape (n,): the session time of each sample."""
        return self.t0_s + np.arange(self.n_samples) / self.fs_hz


def _none_to_nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


class SessionReader:
    """Read a session. ``verify``: True = always quick_check, False = never, None = when
    the file was not closed cleanly and has no -wal beside it."""

    def __init__(self, path: str | Path, *, verify: bool | None = None):
        self.path = Path(path)
        self._warned: set[float] = set()
        self._seen_id, self._rates, self._max_dur = 0, set(), 0.0  # see _blocks_seen
        self._conn = self._open()
        try:
            self.schema_version = self._check_mark()
            meta = self.metadata()
            if verify is None:
                verify = not meta.get("closed_cleanly", False) and not Path(f"{self.path}-wal").exists()
            if verify:
                self._quick_check()
        except BaseException:
            self._conn.close()
            raise

    # -- opening -------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise InputDataError(f"{self.path}: no such session file")
        with open(self.path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
        if head != SQLITE_MAGIC:
            raise InputDataError(f"{self.path}: not a session (expected a SQLite database, got {head[:16]!r})")
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            raise InputDataError(f"{self.path}: cannot open session read-only: {e}",
                                 hint="a WAL database needs a writable folder for its -shm file") from e

    def _check_mark(self) -> int:
        try:
            app = self._conn.execute("PRAGMA application_id").fetchone()[0]
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise InputDataError(f"{self.path}: not a readable session database: {e}") from e
        if app != APPLICATION_ID:
            raise InputDataError(f"{self.path}: not a CardioRadar session "
                                 f"(application_id expected {APPLICATION_ID:#x}, got {app:#x})")
        if version > SCHEMA_VERSION:
            raise InputDataError(f"{self.path}: session schema version {version} is newer than this "
                                 f"software reads (up to {SCHEMA_VERSION})", hint="update cardioradar")
        if version < 1:
            raise InputDataError(f"{self.path}: session schema version expected 1..{SCHEMA_VERSION}, got {version}")
        return version

    def _quick_check(self) -> None:
        try:
            rows = self._conn.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as e:
            rows = [(str(e),)]
        if rows != [("ok",)]:
            raise InputDataError(f"{self.path}: session failed its consistency check: {rows[:3]}",
                                 hint="copy the -wal file together with the .db (or copy after the writer closed)")

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as e:
            raise InputDataError(f"{self.path}: session read failed ({sql.split()[0]} ...): {e}") from e

    # -- whole-session values -------------------------------------------------------------
    def metadata(self) -> dict:
        """The session's metadata (re-read each call: a live writer adds end_time_utc at close)."""
        return {k: json.loads(v) for k, v in self._query("SELECT key, value FROM meta")}

    def counts(self) -> dict[str, int]:
        """Committed rows per table."""
        return {t: self._query(f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}

    # -- ECG -----------------------------------------------------------------------------
    def _block_rows(self, t0_s: float, t1_s: float) -> list[tuple]:
        """(t0_s, fs_hz, n_samples, excluded, ecg, crc32 or None) of the blocks overlapping
        [t0_s, t1_s), in the order they were added."""
        if not hasattr(self, "_has_crc"):  # sessions written before the CRC column have none
            self._has_crc = any(r[1] == "crc32" for r in self._query("PRAGMA table_info(ecg_blocks)"))
        max_dur = self._blocks_seen()[1]
        return self._query(
            f"SELECT t0_s, fs_hz, n_samples, excluded, ecg, {'crc32' if self._has_crc else 'NULL'} FROM ecg_blocks"
            " WHERE t0_s >= ? AND t0_s < ? AND t1_s > ? ORDER BY id",
            (t0_s - max_dur - 1.0, t1_s, t0_s))

    @staticmethod
    def _damage(n: int, blob: bytes, crc: int | None) -> str | None:
        """Why a stored block cannot be trusted (None: it can)."""
        if not isinstance(blob, bytes) or len(blob) != n * N_LEADS * 4:
            return f"expected {n * N_LEADS * 4} bytes, got {len(blob) if isinstance(blob, bytes) else 'none'}"
        if crc is not None and zlib.crc32(blob) != crc:
            return f"CRC-32 expected {crc:#010x}, got {zlib.crc32(blob):#010x}"
        return None

    def ecg_blocks(self, t0_s: float = -math.inf, t1_s: float = math.inf) -> Iterator[EcgBlock]:
        """Stored blocks overlapping [t0_s, t1_s), in the order they were added. A damaged
        block raises ``InputDataError`` (``ecg`` marks its samples ``DAMAGED`` instead)."""
        for b_t0, fs, n, excluded, blob, crc in self._block_rows(t0_s, t1_s):
            why = self._damage(n, blob, crc)
            if why is not None:
                raise InputDataError(f"{self.path}: ECG block at t0_s={b_t0}: damaged ({why})",
                                     hint="`cardioradar export` writes it as a gap with an annotation")
            ecg = np.frombuffer(blob, dtype="<f4").reshape(n, N_LEADS).astype(np.float32)
            yield EcgBlock(t0_s=b_t0, fs_hz=fs, ecg_mv=ecg, excluded=bool(excluded))

    def _blocks_seen(self) -> tuple[set, float]:
        """(sample rates, longest block duration) over all blocks, kept up to date by reading
        only the rows added since the last call (rowid range): a full scan per ``ecg`` call
        made reading a night in 60-s pieces quadratic (8 h: 19 of the export's 22 s)."""
        rows = self._query("SELECT max(id), max(t1_s - t0_s) FROM ecg_blocks WHERE id > ?", (self._seen_id,))
        if rows[0][0] is not None:
            self._rates.update(r[0] for r in self._query("SELECT DISTINCT fs_hz FROM ecg_blocks WHERE id > ?",
                                                        (self._seen_id,)))
            self._max_dur = max(self._max_dur, rows[0][1] or 0.0)
            self._seen_id = rows[0][0]
        return self._rates, self._max_dur

    def ecg_fs_hz(self) -> float | None:
        """The ECG sample rate shared by all blocks (None when there are none)."""
        rates = list(self._blocks_seen()[0])
        if len(rates) > 1:
            raise InputDataError(f"{self.path}: ECG blocks expected one sample rate, got {sorted(rates)}")
        return rates[0] if rates else None

    def ecg_time_range(self) -> tuple[float, float] | None:
        """(first t0_s, last t1_s) over all blocks, or None."""
        lo, hi = self._query("SELECT min(t0_s), max(t1_s) FROM ecg_blocks")[0]
        return None if lo is None else (lo, hi)

    def ecg(self, t0_s: float, n_samples: int) -> EcgSeries:
        """``n_samples`` samples on the grid t0_s + i / fs. A block lands on the nearest
        grid sample (at most half a sample of shift); later blocks win where they overlap."""
        fs = self.ecg_fs_hz()
        if fs is None:
            raise InputDataError(f"{self.path}: the session holds no ECG blocks")
        ecg = np.full((n_samples, N_LEADS), np.nan, dtype=np.float32)
        status = np.full(n_samples, MISSING, dtype=np.uint8)
        t1_s = t0_s + n_samples / fs
        for b_t0, _fs, n, excluded, blob, crc in self._block_rows(t0_s, t1_s):
            k0 = int(round((b_t0 - t0_s) * fs))
            a, b = max(k0, 0), min(k0 + int(n), n_samples)
            if a >= b:
                continue
            why = self._damage(n, blob, crc)
            if why is not None:
                if b_t0 not in self._warned:  # once per block, however often it is read
                    self._warned.add(b_t0)
                    log.warning("%s: ECG block at t0_s=%s damaged (%s): marked DAMAGED", self.path, b_t0, why)
                ecg[a:b] = np.nan
                status[a:b] = DAMAGED
            elif excluded:
                ecg[a:b] = np.nan
                status[a:b] = EXCLUDED
            else:
                ecg[a:b] = np.frombuffer(blob, dtype="<f4").reshape(n, N_LEADS)[a - k0:b - k0]
                status[a:b] = VALID
        return EcgSeries(t0_s=t0_s, fs_hz=fs, ecg_mv=ecg, status=status)

    # -- beats, vitals, events ------------------------------------------------------------
    def beats(self, t0_s: float = -math.inf, t1_s: float = math.inf) -> list[BeatRecord]:
        rows = self._query("SELECT t_s, rr_s, hr_bpm, quality FROM beats WHERE t_s >= ? AND t_s < ?"
                           " ORDER BY t_s, id", (t0_s, t1_s))
        return [BeatRecord(t, _none_to_nan(rr), _none_to_nan(hr), _none_to_nan(q)) for t, rr, hr, q in rows]

    def vitals(self, t0_s: float = -math.inf, t1_s: float = math.inf) -> list[VitalsRecord]:
        rows = self._query("SELECT t_s, hr_bpm, br_bpm, quality, source FROM vitals WHERE t_s >= ? AND t_s < ?"
                           " ORDER BY t_s, id", (t0_s, t1_s))
        return [VitalsRecord(t, _none_to_nan(hr), _none_to_nan(br), _none_to_nan(q), s) for t, hr, br, q, s in rows]

    def events(self, t0_s: float = -math.inf, t1_s: float = math.inf) -> list[SessionEvent]:
        rows = self._query("SELECT t_s, kind, detail, count, duration_s FROM events WHERE t_s >= ? AND t_s < ?"
                           " ORDER BY t_s, id", (t0_s, t1_s))
        return [SessionEvent(t, k, d, c, dur) for t, k, d, c, dur in rows]

    # -- raw frames ----------------------------------------------------------------------
    def frames(self, batch: int = 512) -> Iterator[RawFrame]:
        """Every archived packet in arrival order. Reads in batches (keyset paging), so it
        holds no long read transaction on a live session and little memory."""
        last_id = 0
        while True:
            rows = self._query("SELECT id, frame_number, time_cpu_cycles, host_time_s, packet FROM frames"
                               " WHERE id > ? ORDER BY id LIMIT ?", (last_id, batch))
            for row_id, fn, cyc, ht, packet in rows:
                yield RawFrame(fn, cyc, ht, bytes(packet))
            if len(rows) < batch:
                return
            last_id = rows[-1][0]

    # -- lifetime ------------------------------------------------------------------------
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SessionReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
