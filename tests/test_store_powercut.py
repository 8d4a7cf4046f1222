"""Power-cut tests of the session store.

A writer subprocess (this file run as a script) writes frames + ECG blocks as fast as
it reasonably can and appends to a log, with plain ``os.write`` (it survives SIGKILL in
the page cache): ``a STEP T`` after each step is added, ``c FRAMES T`` after each commit
(T = ``time.monotonic()``, one clock for all processes on Linux).

1. SIGKILL at seeded random moments: the session opens, is a correct prefix of what was
   written (no hole, no wrong byte), holds every commit the writer logged, and every
   step added more than 1 s before the kill.
2. "As it stands on disk": the writer is frozen (SIGSTOP) at seeded random moments of a
   write-heavy run, .db + -wal copied, then thawed. Each copy is also damaged the way a
   power cut damages it: what was not yet synced (the WAL after its last commit frame;
   with synchronous=FULL everything up to it is synced) is dropped, cut at a random byte,
   or replaced by garbage. Same checks. A .db copied *without* its -wal must open as a
   correct (older) prefix or be refused with a clear InputDataError, never read wrongly.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cardioradar.errors import InputDataError

ROOT = Path(__file__).resolve().parents[1]
BLOCK_EVERY = 10  # one ECG block after every 10th frame
BLOCK_SAMPLES = 50
logger = logging.getLogger(__name__)
SLACK_S = 1.0  # the store's promise: anything added more than this before the cut survives


# -- what the writer writes (deterministic, so the checker can recompute it) -------------------
def packet(step: int) -> bytes:
    return struct.pack("<I", step) * (175 + step % 50)  # 700-896 bytes, like a heatmap packet


def block_ecg(index: int) -> np.ndarray:
    j = np.arange(BLOCK_SAMPLES * 12, dtype=np.float32).reshape(BLOCK_SAMPLES, 12)
    return (np.float32(index) + j / np.float32(1000.0)).astype(np.float32)


def writer_main(db: str, log_path: str, seconds: float) -> None:
    from edge.store import SessionWriter
    from edge.types import EcgBlock, RawFrame, SessionEvent

    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def on_commit(info) -> None:
        os.write(fd, f"c {info.rows['frames']} {time.monotonic():.6f}\n".encode())

    w = SessionWriter(db, {"board": "sim", "test": "powercut"}, on_commit=on_commit)
    os.write(fd, f"ready {time.monotonic():.6f}\n".encode())
    end = time.monotonic() + seconds
    step = 0
    while time.monotonic() < end:
        w.add_frame(RawFrame(step, (step * 2_000_000) % 2**32, time.monotonic(), packet(step)))
        if step % BLOCK_EVERY == BLOCK_EVERY - 1:
            k = step // BLOCK_EVERY
            w.add_ecg_block(EcgBlock(k * 0.1, 500.0, block_ecg(k)))
            if k % 10 == 0:
                w.add_event(SessionEvent(k * 0.1, "drop", f"block {k}", count=k))
        os.write(fd, f"a {step} {time.monotonic():.6f}\n".encode())
        step += 1
        if step % 40 == 0:
            time.sleep(0.004)  # ~8000 frames/s, ~6 MB/s into the WAL: write-heavy, not a spin
    w.close()


# -- the checker -----------------------------------------------------------------------------
def read_log(text: str) -> tuple[dict[int, float], list[tuple[int, float]]]:
    added, commits = {}, []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue  # the last line may be cut mid-write
        if parts[0] == "a":
            added[int(parts[1])] = float(parts[2])
        elif parts[0] == "c":
            commits.append((int(parts[1]), float(parts[2])))
    return added, commits


def check_session(db: Path, log_text: str, cut_s: float, *, complete: bool = True) -> int:
    """Assert the session at ``db`` is a correct prefix; with ``complete``, also that it holds
    every logged commit and every step added before cut_s - SLACK_S. Returns frames found."""
    from edge.store import SessionReader

    added, commits = read_log(log_text)
    with SessionReader(db) as r:
        assert r.metadata()["test"] == "powercut"
        n = 0
        for n, f in enumerate(r.frames(), start=1):
            step = n - 1
            assert (f.frame_number, f.packet) == (step, packet(step)), f"frame row {step} is wrong"
        n_blocks = 0
        for n_blocks, blk in enumerate(r.ecg_blocks(), start=1):
            assert np.array_equal(blk.ecg_mv, block_ecg(n_blocks - 1)), f"ECG block {n_blocks - 1} is wrong"
        # A step writes its frame, then (maybe) its block: blocks trail frames by <= 1.
        assert n // BLOCK_EVERY - 1 <= n_blocks <= (n + BLOCK_EVERY - 1) // BLOCK_EVERY
        # ... and a block's event (every 10th block) may trail its block by one commit.
        events = r.events()
        assert (n_blocks + 9) // 10 - 1 <= len(events) <= (n_blocks + 9) // 10
        assert [e.detail for e in events] == [f"block {10 * i}" for i in range(len(events))]
    if complete:
        durable = max((c for c, t in commits if t <= cut_s), default=0)
        assert n >= durable, f"lost committed frames: have {n}, a commit reported {durable}"
        due = [s for s, t in added.items() if t <= cut_s - SLACK_S]
        if due:
            assert n > max(due), f"lost step {max(due)} added > {SLACK_S} s before the cut (have {n})"
    return n


def start_writer(tmp: Path, seconds: float) -> tuple[subprocess.Popen, Path, Path]:
    db, log = tmp / "s.db", tmp / "s.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, __file__, str(db), str(log), str(seconds)], env=env, cwd=ROOT)
    deadline = time.monotonic() + 30
    while not (log.exists() and log.read_text().startswith("ready")):
        assert proc.poll() is None and time.monotonic() < deadline, "writer did not start"
        time.sleep(0.01)
    return proc, db, log


def last_commit_end(wal: bytes) -> int:
    """Byte offset just past the WAL's last commit frame (header 32 B, frames 24 B + page)."""
    if len(wal) < 32:
        return 0
    page_size = struct.unpack(">I", wal[8:12])[0]
    salts = wal[16:24]
    end, off = 32, 32
    while off + 24 + page_size <= len(wal) and wal[off + 8:off + 16] == salts:
        if struct.unpack(">I", wal[off + 4:off + 8])[0] != 0:  # "db size after commit" marks a commit
            end = off + 24 + page_size
        off += 24 + page_size
    return end


def drop_unsynced(wal_path: Path, rng: np.random.Generator) -> str:
    wal = bytearray(wal_path.read_bytes())
    end = last_commit_end(bytes(wal))
    how = ["keep", "truncate", "garbage"][int(rng.integers(3))]
    if how == "truncate":
        wal = wal[:int(rng.integers(end, len(wal) + 1))]
    elif how == "garbage" and len(wal) > end:
        wal[end:] = rng.bytes(len(wal) - end)
    wal_path.write_bytes(bytes(wal))
    return how


# -- tests -----------------------------------------------------------------------------------
def test_sigkill_at_random_moments(tmp_path):
    rng = np.random.default_rng(20240607)
    found = []
    for trial in range(8):
        tmp = tmp_path / f"kill{trial}"
        tmp.mkdir()
        proc, db, log = start_writer(tmp, seconds=30)
        time.sleep(float(rng.uniform(0.05, 2.0)))
        cut_s = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        found.append(check_session(db, log.read_text(), cut_s))
    logger.info("frames found after each kill: %s", found)
    assert sum(n > 0 for n in found) >= len(found) // 2  # most cuts land after data was committed


def test_copy_as_it_stands_with_unsynced_writes_lost(tmp_path):
    rng = np.random.default_rng(7)
    proc, db, log = start_writer(tmp_path, seconds=30)
    snaps = []
    try:
        for i in range(10):
            time.sleep(float(rng.uniform(0.1, 0.5)))
            proc.send_signal(signal.SIGSTOP)  # the instant of the "power cut"
            try:
                cut_s = time.monotonic()
                d = tmp_path / f"snap{i}"
                d.mkdir()
                shutil.copyfile(db, d / "s.db")
                if Path(f"{db}-wal").exists():
                    shutil.copyfile(f"{db}-wal", d / "s.db-wal")
                (d / "alone").mkdir()
                shutil.copyfile(db, d / "alone" / "s.db")
                log_text = log.read_text()
            finally:
                proc.send_signal(signal.SIGCONT)
            snaps.append((d, cut_s, log_text))
    finally:
        proc.kill()
        proc.wait()
    hows, found, refused = [], [], 0
    for d, cut_s, log_text in snaps:
        if (d / "s.db-wal").exists():
            hows.append(drop_unsynced(d / "s.db-wal", rng))
        n = check_session(d / "s.db", log_text, cut_s)
        found.append(n)
        try:  # without its WAL: an older prefix, or a clear refusal
            assert check_session(d / "alone" / "s.db", log_text, cut_s, complete=False) <= n
        except InputDataError as e:  # a copy taken mid-checkpoint can be torn before any table is read
            assert "consistency check" in str(e) or "not a readable session database" in str(e)
            refused += 1
    logger.info("copies: frames %s, WAL tails %s, .db alone refused %d/%d", found, hows, refused, len(snaps))
    assert {"truncate", "garbage"} & set(hows) and found[-1] > 0


if __name__ == "__main__":
    writer_main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
