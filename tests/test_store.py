"""Session store: round trips, commit cadence, live reading, copies, clear errors."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
import time

import numpy as np
import pytest

from cardioradar.errors import ConfigError, InputDataError
from edge.store import EXCLUDED, MISSING, SCHEMA_VERSION, VALID, SessionReader, SessionWriter
from edge.types import BeatRecord, EcgBlock, RawFrame, SessionEvent, VitalsRecord


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _ecg(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.5, (n, 12)).astype(np.float32)


def _frame(i: int) -> RawFrame:
    return RawFrame(i, (i * 2_000_000) % 2**32, 10.0 + i / 100, bytes([i % 256]) * (40 + i % 7))


def test_round_trip_every_record_kind(tmp_path):
    path = tmp_path / "s.db"
    ecg = _ecg(500, 1)
    with SessionWriter(path, {"board": "sim", "model_sha256": "ab" * 32, "settings": {"fs_hz": 500}},
                       timer=False) as w:
        for i in range(1100):  # crosses the reader's 512-row batches twice
            w.add_frame(_frame(i))
        w.add_ecg_block(EcgBlock(2.0, 500.0, ecg))
        w.add_ecg_block(EcgBlock(3.0, 500.0, ecg[:250], excluded=True))
        w.add_beats([BeatRecord(2.1, math.nan, math.nan, 0.9), BeatRecord(2.9, 0.8, 75.0, 1.0)])
        w.add_vitals([VitalsRecord(3.0, 75.0, 14.0, 0.8, "model")])
        w.add_event(SessionEvent(2.5, "drop", "3 frames lost", count=3))
        w.add_event(SessionEvent(3.0, "movement", "rolled over", duration_s=0.5))
    with SessionReader(path) as r:
        meta = r.metadata()
        assert meta["board"] == "sim" and meta["settings"] == {"fs_hz": 500}
        assert meta["closed_cleanly"] is True and meta["schema_version"] == SCHEMA_VERSION
        assert "start_time_utc" in meta and "end_time_utc" in meta and "software_version" in meta
        assert r.counts() == {"frames": 1100, "ecg_blocks": 2, "beats": 2, "vitals": 1, "events": 2}
        frames = list(r.frames())
        assert frames == [_frame(i) for i in range(1100)]
        blocks = list(r.ecg_blocks())
        assert np.array_equal(blocks[0].ecg_mv, ecg) and not blocks[0].excluded and blocks[1].excluded
        beats = r.beats()
        assert math.isnan(beats[0].rr_s) and beats[1] == BeatRecord(2.9, 0.8, 75.0, 1.0)
        assert r.vitals() == [VitalsRecord(3.0, 75.0, 14.0, 0.8, "model")]
        assert r.events()[0] == SessionEvent(2.5, "drop", "3 frames lost", 3, 0.0)
        assert r.events(2.9, 4.0) == [SessionEvent(3.0, "movement", "rolled over", 0, 0.5)]
        assert r.ecg_time_range() == (2.0, 3.5)


def test_ecg_grid_marks_gaps_and_exclusions(tmp_path):
    path = tmp_path / "s.db"
    a, b = _ecg(100, 2), _ecg(100, 3)
    with SessionWriter(path, {}, timer=False) as w:
        w.add_ecg_block(EcgBlock(1.0, 100.0, a))
        w.add_ecg_block(EcgBlock(2.5, 100.0, b, excluded=True))
        w.add_ecg_block(EcgBlock(3.5 + 0.004, 100.0, a))  # 0.4 sample off the grid -> nearest
    with SessionReader(path) as r:
        s = r.ecg(0.5, 450)  # 0.5 .. 5.0 s
    assert s.fs_hz == 100.0 and s.ecg_mv.shape == (450, 12) and s.ecg_mv.dtype == np.float32
    assert (s.status[:50] == MISSING).all() and np.isnan(s.ecg_mv[:50]).all()
    assert (s.status[50:150] == VALID).all() and np.array_equal(s.ecg_mv[50:150], a)
    assert (s.status[150:200] == MISSING).all()
    assert (s.status[200:300] == EXCLUDED).all() and np.isnan(s.ecg_mv[200:300]).all()
    assert (s.status[300:400] == VALID).all() and np.array_equal(s.ecg_mv[300:400], a)
    assert (s.status[400:] == MISSING).all()
    assert np.allclose(s.t_s()[[0, 449]], [0.5, 4.99])


def test_commits_follow_the_clock_not_the_caller(tmp_path):
    path, clock = tmp_path / "s.db", FakeClock()
    commits = []
    w = SessionWriter(path, {}, clock=clock, timer=False, commit_interval_s=0.5, on_commit=commits.append)
    r = SessionReader(path)  # opened while the writer is live
    w.add_frame(_frame(0))
    clock.t += 0.4
    w.add_frame(_frame(1))
    assert r.counts()["frames"] == 0 and commits == []  # not due yet: still one open transaction
    clock.t += 0.1
    w.tick()
    assert r.counts()["frames"] == 2 and commits[-1].rows["frames"] == 2 and commits[-1].clock_s == clock.t
    clock.t += 5.0
    w.tick()  # nothing pending: no empty commit
    assert len(commits) == 1
    w.add_frame(_frame(2))
    clock.t += 0.6
    w.add_beats([BeatRecord(1.0, 1.0, 60.0, 1.0)])  # the add itself commits once due
    assert r.counts()["frames"] == 3 and r.counts()["beats"] == 1
    assert r.metadata()["closed_cleanly"] is False
    w.close()
    assert r.metadata()["closed_cleanly"] is True
    r.close()


def test_timer_commits_when_the_caller_goes_quiet(tmp_path):
    path = tmp_path / "s.db"
    w = SessionWriter(path, {}, commit_interval_s=0.1)
    try:
        w.add_frame(_frame(0))
        with SessionReader(path) as r:
            deadline = time.monotonic() + 2.0
            while r.counts()["frames"] == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert r.counts()["frames"] == 1
    finally:
        w.close()


def test_copies_open_with_and_without_wal(tmp_path):
    path = tmp_path / "s.db"
    w = SessionWriter(path, {"board": "sim"}, timer=False)
    for i in range(50):
        w.add_frame(_frame(i))
    w.commit()
    (tmp_path / "with").mkdir()
    (tmp_path / "alone").mkdir()
    shutil.copyfile(path, tmp_path / "with" / "s.db")
    shutil.copyfile(f"{path}-wal", tmp_path / "with" / "s.db-wal")
    shutil.copyfile(path, tmp_path / "alone" / "s.db")
    with SessionReader(tmp_path / "with" / "s.db") as r:
        assert r.counts()["frames"] == 50
    # Without the WAL only what was checkpointed is there; the schema and metadata always are.
    with SessionReader(tmp_path / "alone" / "s.db") as r:
        assert r.metadata()["board"] == "sim" and r.counts()["frames"] == 0
    w.close()
    assert not (tmp_path / f"{path.name}-wal").exists()  # a clean close folds the WAL in
    with SessionReader(path) as r:
        assert r.counts()["frames"] == 50


def test_not_a_session_and_newer_schema_are_refused(tmp_path):
    with pytest.raises(InputDataError, match="no such session file"):
        SessionReader(tmp_path / "missing.db")
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a database at all\n")
    with pytest.raises(InputDataError, match="not a session"):
        SessionReader(text)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE t (x)")
    with pytest.raises(InputDataError, match="not a CardioRadar session"):
        SessionReader(other)
    newer = tmp_path / "newer.db"
    SessionWriter(newer, {}, timer=False).close()
    with sqlite3.connect(newer) as c:
        c.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(InputDataError, match="newer") as e:
        SessionReader(newer)
    assert e.value.hint == "update cardioradar"


def test_damaged_file_fails_its_check(tmp_path):
    path = tmp_path / "s.db"
    with SessionWriter(path, {}, timer=False) as w:
        for i in range(2000):
            w.add_frame(_frame(i))
    raw = bytearray(path.read_bytes())
    page = 4096
    for p in range(12, len(raw) // page, 2):  # scribble on frame pages (past schema + meta)
        raw[p * page:p * page + 16] = b"\xa5" * 16
    path.write_bytes(bytes(raw))
    with pytest.raises(InputDataError, match="consistency check"):
        SessionReader(path, verify=True)


def test_writer_refuses_bad_input(tmp_path):
    path = tmp_path / "s.db"
    with pytest.raises(ConfigError, match=r"metadata\['when'\]"):
        SessionWriter(path, {"when": object()})
    with pytest.raises(ConfigError, match="start_time_utc"):
        SessionWriter(path, {"start_time_utc": "yesterday"})
    with pytest.raises(ConfigError, match="commit_interval_s"):
        SessionWriter(path, {}, commit_interval_s=2.0)
    with SessionWriter(path, {}, timer=False) as w:
        with pytest.raises(InputDataError, match="expected BeatRecord"):
            w.add_beats([(1.0, 1.0, 60.0, 1.0)])
        with pytest.raises(InputDataError, match="expected EcgBlock"):
            w.add_ecg_block(_ecg(10, 0))
    with pytest.raises(InputDataError, match="already exists"):
        SessionWriter(path, {})
    with pytest.raises(InputDataError, match="closed"):
        w.add_frame(_frame(0))


def test_records_validate_themselves():
    with pytest.raises(InputDataError, match=r"shape \(n>0, 12\)"):
        EcgBlock(0.0, 500.0, np.zeros((10, 8), np.float32))
    with pytest.raises(InputDataError, match="float32"):
        EcgBlock(0.0, 500.0, np.zeros((10, 12)))
    with pytest.raises(InputDataError, match="fs_hz"):
        EcgBlock(0.0, 0.0, np.zeros((10, 12), np.float32))
    with pytest.raises(InputDataError, match="source"):
        VitalsRecord(0.0, 60.0, 12.0, 1.0, "guess")
    with pytest.raises(InputDataError, match="uint32"):
        RawFrame(-1, 0, 0.0, b"")
    with pytest.raises(InputDataError, match="t_s"):
        SessionEvent(math.nan, "drop", "")
    assert json.dumps(SessionEvent(1.0, "drop", "x").__dict__)  # plain values only
