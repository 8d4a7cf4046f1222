"""The session database's schema: one place for table layouts and the version.

A session file is a SQLite database marked with ``application_id`` = APPLICATION_ID
and ``user_version`` = SCHEMA_VERSION. Readers refuse a file without the mark (not a
session) or with a newer version (written by newer software).

Tables (rowid order = the order things were added):
- meta(key TEXT PRIMARY KEY, value TEXT)        JSON value per key
- frames(frame_number, time_cpu_cycles, host_time_s, packet BLOB)   packets as received
- ecg_blocks(t0_s, t1_s, fs_hz, n_samples, excluded, ecg BLOB)
      ecg = float32 little-endian, C order, shape (n_samples, 12), mV, lead order LEADS
      crc32 = zlib.crc32 of the ecg bytes (a damaged block is found, never used as ECG).
      Added within version 1 as a nullable column: files written before it have no such
      column (or NULL) and are read without the check.
- beats(t_s, rr_s, hr_bpm, quality)
- vitals(t_s, hr_bpm, br_bpm, quality, source)
- events(t_s, kind, detail, count, duration_s)
"""

from __future__ import annotations

APPLICATION_ID = 0x43525331  # "CRS1": CardioRadar Session
SCHEMA_VERSION = 1

DDL = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)",
    "CREATE TABLE frames (id INTEGER PRIMARY KEY, frame_number INTEGER NOT NULL,"
    " time_cpu_cycles INTEGER NOT NULL, host_time_s REAL NOT NULL, packet BLOB NOT NULL)",
    "CREATE TABLE ecg_blocks (id INTEGER PRIMARY KEY, t0_s REAL NOT NULL, t1_s REAL NOT NULL,"
    " fs_hz REAL NOT NULL, n_samples INTEGER NOT NULL, excluded INTEGER NOT NULL, ecg BLOB NOT NULL,"
    " crc32 INTEGER)",
    "CREATE INDEX ecg_blocks_t0 ON ecg_blocks (t0_s)",
    "CREATE TABLE beats (id INTEGER PRIMARY KEY, t_s REAL NOT NULL, rr_s REAL,"
    " hr_bpm REAL, quality REAL)",
    "CREATE TABLE vitals (id INTEGER PRIMARY KEY, t_s REAL NOT NULL, hr_bpm REAL,"
    " br_bpm REAL, quality REAL, source TEXT NOT NULL)",
    "CREATE TABLE events (id INTEGER PRIMARY KEY, t_s REAL NOT NULL, kind TEXT NOT NULL,"
    " detail TEXT NOT NULL, count INTEGER NOT NULL, duration_s REAL NOT NULL)",
)

TABLES = ("frames", "ecg_blocks", "beats", "vitals", "events")

# SQLite stores NaN as NULL; these columns may legitimately be NaN.
NULLABLE_FLOATS = {"rr_s", "hr_bpm", "br_bpm", "quality"}
