"""Interrupted flashes at seeded moments placed by progress, each followed by a resume.

Each round flashes a new bundle (security counter = 100 + round) over a pty paced at
921600 baud and interrupts it once, at a point of a seeded schedule:

- ``host``: the host process is SIGKILLed once the agent has *persisted* a seeded fraction
  of the bundle (or once the flash reached a later stage: verify, install, test boot);
  a rerun must continue at exactly the persisted offset and send only the rest;
- ``agent``: the agent is SIGKILLed at such a point and restarted while the host runs on;
  the surviving host must finish without starting over (its first-try chunk bytes add up
  to the bundle exactly) and the restarted agent's upload log must start at the offset
  persisted at the kill and write only the rest;
- ``link``: bytes dropped and corrupted for a stretch of the upload; the host retries.

After every interruption the board has a bootable confirmed slot; after every round the
new bundle is confirmed and the slot's files hash to the bundle's. The second test copies
the agent's root while the agent is frozen (SIGSTOP) -- the state a power cut would find
if every write so far had reached the disk -- and boots a fresh agent on each copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest
from agent_rig import MODEL_BYTES, AgentRig

from host.bench.flash import make_bundle
from host.flash import CHUNK_BYTES, FlashResult, flash, hello

pytestmark = pytest.mark.timeout(400)

SEED = 20240611
# (side, stage, count): >= 6 cuts mid-upload, both sides, some after the upload
PLAN = (("host", "upload", 4), ("agent", "upload", 4), ("host", "after", 2), ("agent", "after", 2),
        ("link", "upload", 2))
STAGES = ("upload", "verify", "install", "installed", "test_boot", "confirmed")
AFTER_UPLOAD = ("verify", "install", "test_boot")
CHUNK_LOG = re.compile(r"upload ([0-9a-f]{12}): wrote (\d+) bytes at (\d+)")


@dataclass(frozen=True)
class Point:
    side: str  # "host" killed, "agent" killed and restarted, "link" faults
    stage: str  # the stage the interruption waits for (STAGES)
    fraction: float  # upload: the share of the bundle the agent persisted first
    delay_s: float  # after the stage is reached (after the upload); agent: also its down time


def schedule(seed: int) -> list[Point]:
    rng = np.random.default_rng(seed)
    after = [str(s) for s in rng.permutation(AFTER_UPLOAD)] * 2  # every later stage gets a kill
    pts = []
    for side, where, n in PLAN:
        for _ in range(n):
            stage = after.pop(0) if where == "after" else "upload"
            # verify and install take tens of ms here: kill at first sight; the test boot ~0.5 s
            delay_s = float(rng.uniform(0.0, 0.3)) if stage == "test_boot" else 0.0
            pts.append(Point(side, stage, float(rng.uniform(0.05, 0.85)), delay_s))
    return [pts[i] for i in rng.permutation(len(pts))]


def _progress(rig: AgentRig, sha: str, size: int) -> tuple[str, int]:
    """(stage, persisted upload offset) of the flash of bundle ``sha``, from the agent's files."""
    st = rig.state()
    slot = next((s for s, info in st.slots.items() if info and info.sha256 == sha), None)
    off = 0
    try:
        up = json.loads((rig.root / "upload" / "upload.json").read_text())
        off = up["offset"] if up["sha256"] == sha else 0
    except FileNotFoundError:
        pass
    if slot is not None:
        stage = ("confirmed" if st.confirmed == slot else "test_boot" if st.tentative == slot else "installed")
        return stage, size
    if any(p.name.startswith(".") for p in (rig.root / "slots").iterdir()):
        return "install", off
    return ("verify" if off == size else "upload"), off


def _wait_for(rig: AgentRig, sha: str, size: int, pt: Point, timeout_s: float = 60.0) -> str:
    """Wait until the flash reached ``pt``; the stage seen then."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stage, off = _progress(rig, sha, size)
        if stage != "upload" or (pt.stage == "upload" and off >= pt.fraction * size):
            if STAGES.index(stage) >= STAGES.index(pt.stage):
                time.sleep(pt.delay_s if pt.stage != "upload" else 0.0)
                return stage
        time.sleep(0.002)
    raise AssertionError(f"flash never reached {pt}")


def _chunks_written(rig: AgentRig, since: int, sha: str) -> list[tuple[int, int]]:
    """(offset, bytes) of every chunk the agent wrote, from its log after byte ``since``."""
    with open(rig.agent_log, "rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    return [(int(o), int(n)) for s, n, o in CHUNK_LOG.findall(text) if s == sha[:12]]


def _assert_slot_holds(rig: AgentRig, bundle) -> None:
    """The confirmed slot's files are the bundle's files, byte for byte."""
    slot = rig.root / "slots" / rig.state().confirmed
    with tarfile.open(bundle) as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
        assert members
        for m in members:
            want = hashlib.sha256(tar.extractfile(m).read()).hexdigest()
            assert hashlib.sha256((slot / m.name).read_bytes()).hexdigest() == want, m.name


def _host_thread(rig: AgentRig, bundle, box: dict, timeout_s: float) -> threading.Thread:
    def run():
        try:
            with rig.client(timeout_s=timeout_s) as c:
                box["result"] = flash(c, bundle, confirm_timeout_s=90.0, delta=False)
        except Exception as e:  # noqa: BLE001 -- reported by the test
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _join(t: threading.Thread, box: dict, what) -> FlashResult:
    t.join(150)
    assert not t.is_alive(), f"{what}: host still running"
    assert "error" not in box, f"{what}: the surviving host failed: {box['error']!r}"
    return box["result"]


def _kill_host(rig: AgentRig, bundle, sha: str, size: int, pt: Point) -> dict:
    host = subprocess.Popen([sys.executable, "-m", "cardioradar", "flash", "--port", rig.link.host_port,
                             "--no-progress", "--no-delta", "--confirm-timeout", "60", str(bundle)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        seen = _wait_for(rig, sha, size, pt)
    finally:
        host.kill()
        host.wait(10)
    rig.assert_bootable()
    with rig.client() as c:
        h = hello(c)  # answered once the agent is done with what the dead host sent last
        stage, _ = _progress(rig, sha, size)
        up = h["upload"] if h["upload"] and h["upload"]["sha256"] == sha else None
        persisted = up["offset"] if up else (0 if stage == "upload" else size)
        res = flash(c, bundle, delta=False)
    # the rerun goes on at the offset the board persisted and sends only the rest
    assert res.outcome == ("already-installed" if stage == "confirmed" else "confirmed"), (pt, seen, stage, res)
    if up:
        assert res.resumed_from_bytes == up["offset"], (pt, seen, stage, up, res)
    assert res.sent_bytes - res.resent_bytes == size - persisted, (pt, stage, persisted, res)
    assert res.sent_bytes <= size - persisted + 2 * CHUNK_BYTES, (pt, res)
    return {"seen": seen, "stage": stage, "persisted": persisted, "sent": res.sent_bytes, "resent": res.resent_bytes}


def _kill_agent(rig: AgentRig, bundle, sha: str, size: int, pt: Point) -> dict:
    box: dict = {}
    t = _host_thread(rig, bundle, box, 3.0)
    seen = _wait_for(rig, sha, size, pt)
    rig.kill_agent()
    rig.assert_bootable()
    stage, persisted = _progress(rig, sha, size)
    log_at = rig.agent_log.stat().st_size
    time.sleep(pt.delay_s)
    rig.start_agent()
    res = _join(t, box, pt)
    # the surviving host never started over: each bundle byte went once on a first try
    assert res.resumed_from_bytes == 0 and res.sent_bytes - res.resent_bytes == size, (pt, res)
    chunks = _chunks_written(rig, log_at, sha)
    if stage == "upload":  # the restarted agent took up exactly where its files said
        assert chunks and chunks[0][0] == persisted, (pt, persisted, chunks[:3])
    assert sum(n for _, n in chunks) == size - persisted, (pt, stage, persisted, chunks)
    return {"seen": seen, "stage": stage, "persisted": persisted, "sent": res.sent_bytes, "resent": res.resent_bytes,
            "after_restart": sum(n for _, n in chunks)}


def _link_faults(rig: AgentRig, bundle, sha: str, size: int, pt: Point) -> dict:
    box: dict = {}
    before = rig.link.faults_injected
    t = _host_thread(rig, bundle, box, 1.5)
    _wait_for(rig, sha, size, pt)
    rig.link.set_faults(drop_per_kb=0.05, corrupt_per_kb=0.05)
    try:  # a stretch of >= 15% of the bundle with >= 2 damaged bytes, or up to the upload's end
        end = pt.fraction + 0.15
        while True:
            stage, off = _progress(rig, sha, size)
            if stage != "upload" or (off >= end * size and rig.link.faults_injected - before >= 2):
                break
            time.sleep(0.005)
    finally:
        rig.link.set_faults()
    res = _join(t, box, pt)
    assert rig.link.faults_injected > before
    assert res.sent_bytes - res.resent_bytes == size, (pt, res)
    return {"stage": "upload", "faults": rig.link.faults_injected - before, "sent": res.sent_bytes,
            "resent": res.resent_bytes}


def test_interrupted_flashes_resume_at_the_persisted_offset(tmp_path):
    from host.bundle import generate_keys

    key, _ = generate_keys(tmp_path / "keys")
    rig = AgentRig(tmp_path, tmp_path / "keys", baud=921600, seed=11, attempts=2, health_s=0.5)
    rig.start_agent()
    points = schedule(SEED)
    done = []
    try:
        for r, pt in enumerate(points):
            # counters 100+: clear of test_flash's BAD_HEALTH_COUNTER
            bundle = make_bundle(tmp_path / "b", "sim", MODEL_BYTES, seed=100 + r, security_counter=100 + r, key=key)
            data = bundle.read_bytes()
            sha, size = hashlib.sha256(data).hexdigest(), len(data)
            t0 = time.monotonic()
            run = {"host": _kill_host, "agent": _kill_agent, "link": _link_faults}[pt.side]
            out = run(rig, bundle, sha, size, pt)
            done.append((r, pt.side, pt.stage, round(pt.fraction, 2), out, round(time.monotonic() - t0, 1)))
            if pt.stage == "upload" and pt.side != "link":  # it really cut an upload mid-way
                assert out["seen"] == out["stage"] == "upload" and 0 < out["persisted"] < size, done[-1]
            elif pt.side != "link":  # after the upload, before the board confirmed the new slot
                assert out["seen"] in AFTER_UPLOAD + ("installed",), done[-1]
            st = rig.state()
            assert st.tentative is None and st.slots[st.confirmed].sha256 == sha, (done[-1], st)
            rig.assert_bootable()
            _assert_slot_holds(rig, bundle)
    finally:
        rig.close()
        print("interruptions (round, side, stage, fraction, outcome, s):", *done, sep="\n  ")
    mid = [d for d in done if d[1] != "link" and d[4]["stage"] == "upload"]
    assert len(mid) >= 6 and {d[1] for d in mid} == {"host", "agent"}, done
    assert len(done) >= 12 and {d[1] for d in done if d[2] != "upload"} == {"host", "agent"}, done


def test_root_copied_at_frozen_moments_boots_and_resumes(tmp_path):
    """Freeze the agent (SIGSTOP) at seeded moments, copy its root, let it go on. Then a
    fresh agent on each copy boots its confirmed slot and finishes the flash, resuming the
    upload at the offset in the copy."""
    from host.bundle import generate_keys

    key, _ = generate_keys(tmp_path / "keys")
    rig = AgentRig(tmp_path, tmp_path / "keys", baud=921600, seed=12, attempts=2, health_s=0.5)
    rig.start_agent()
    rng = np.random.default_rng(SEED + 1)
    moments = [Point("agent", "upload", float(f), 0.0) for f in np.sort(rng.uniform(0.05, 0.85, 2))]
    stage = str(rng.choice(AFTER_UPLOAD))
    moments.append(Point("agent", stage, 1.0, float(rng.uniform(0.0, 0.3)) if stage == "test_boot" else 0.0))
    bundle = make_bundle(tmp_path / "b", "sim", MODEL_BYTES, seed=7, security_counter=1, key=key)
    data = bundle.read_bytes()
    sha, size = hashlib.sha256(data).hexdigest(), len(data)
    copies = []
    try:
        box: dict = {}
        t = _host_thread(rig, bundle, box, 3.0)
        for i, pt in enumerate(moments):
            _wait_for(rig, sha, size, pt)
            os.kill(rig.agent.pid, signal.SIGSTOP)
            try:
                copies.append((tmp_path / f"copy{i}", _progress(rig, sha, size)))
                shutil.copytree(rig.root, copies[-1][0], symlinks=True)
            finally:
                os.kill(rig.agent.pid, signal.SIGCONT)
        assert _join(t, box, "original").outcome == "confirmed"
        rig.kill_agent()
        log = []
        for root, (stage, off) in copies:
            rig.root = root
            meta = root / "upload" / "upload.json"
            up = json.loads(meta.read_text()) if meta.exists() else None
            rig.start_agent()
            with rig.client() as c:
                h = hello(c)
                st = h["state"]
                assert h["running"] == st["confirmed"] and st["slots"][st["confirmed"]] is not None, h
                rig.assert_bootable()
                res = flash(c, bundle, delta=False)
            rig.kill_agent()
            log.append((stage, off, res.resumed_from_bytes, res.sent_bytes, res.outcome))
            if up is not None:  # resumed from the copied state, sent only the rest
                assert res.resumed_from_bytes == up["offset"], log
                assert res.sent_bytes - res.resent_bytes == size - up["offset"], log
            else:
                assert res.sent_bytes == 0, log
            st = rig.state()
            assert st.tentative is None and st.slots[st.confirmed].sha256 == sha, (log, st)
            _assert_slot_holds(rig, bundle)
        print("frozen copies (stage, offset, resumed at, sent, outcome):", log)
        assert [c[1][0] for c in copies[:2]] == ["upload", "upload"] and 0 < copies[0][1][1] < size, log
    finally:
        rig.close()
