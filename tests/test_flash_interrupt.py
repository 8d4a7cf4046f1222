"""Interrupted flashes at seeded random moments, each followed by a rerun.

Each round flashes a new bundle (security counter = round + 1) over a pty paced at
921600 baud, and interrupts that run once: the host killed (SIGKILL), the agent killed and
restarted, or the link dropping / corrupting bytes. Then a plain rerun must finish. After
every step the board has a bootable confirmed slot; after every round it runs the new
bundle; a rerun after an upload was cut resumes at the offset the board persisted.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from test_flash import MODEL_BYTES, AgentRig

from edge.agent.bench import make_bundle

pytestmark = pytest.mark.timeout(300)

ROUNDS = 10
KINDS = ("host_killed", "agent_killed", "link_faults")


def _persisted_offset(rig: AgentRig, sha: str) -> int:
    p = rig.root / "upload" / "upload.json"
    if not p.exists():
        return 0
    d = json.loads(p.read_text())
    return d["offset"] if d["sha256"] == sha else 0


def _flash_proc(rig: AgentRig, bundle) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cardioradar", "flash", "--port", rig.link.host_port,
                             "--no-progress", "--json", "--confirm-timeout", "60", str(bundle)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_interrupted_flashes_resume_and_always_leave_a_bootable_board(tmp_path):
    from host.bundle import generate_keys

    key, _ = generate_keys(tmp_path / "keys")
    rig = AgentRig(tmp_path, tmp_path / "keys", baud=921600, seed=11, attempts=2)
    rig.start_agent()
    rng = np.random.default_rng(20240611)
    resumes, log = [], []
    try:
        for r in range(ROUNDS):
            bundle = make_bundle(tmp_path / "b", "sim", MODEL_BYTES, seed=100 + r, security_counter=r + 1, key=key)
            sha = hashlib.sha256(bundle.read_bytes()).hexdigest()
            kind, t_s = KINDS[r % 3], float(rng.uniform(0.4, 2.6))
            if kind == "link_faults":
                rig.link.set_faults(drop_per_kb=0.03, corrupt_per_kb=0.03)
            host = _flash_proc(rig, bundle)
            time.sleep(t_s)
            if kind == "host_killed":
                host.send_signal(signal.SIGKILL)
            elif kind == "agent_killed":
                rig.kill_agent()
                time.sleep(float(rng.uniform(0.0, 0.5)))
                rig.start_agent()
            else:
                rig.link.set_faults()
            out, err = host.communicate(timeout=120)
            rig.assert_bootable()
            before = _persisted_offset(rig, sha)
            log.append((r, kind, round(t_s, 2), host.returncode, before))
            if kind != "host_killed":
                # a run that lived through the fault either finished or said why not
                assert host.returncode == 0 or "error:" in err, (kind, host.returncode, err)
            t0 = time.monotonic()
            rerun = _flash_proc(rig, bundle)
            out, err = rerun.communicate(timeout=120)
            log[-1] += (round(time.monotonic() - t0, 2),)
            assert rerun.returncode == 0, (log[-1], err, (rig.agent_log.read_text()[-2000:]))
            res = json.loads(out.strip().splitlines()[-1])
            if before and res["outcome"] == "confirmed" and res["size_bytes"] > before:
                # >=: the killed host's last chunk may still land after we read the offset
                assert res["resumed_from_bytes"] >= before, (log[-1], res)
                resumes.append(res["resumed_from_bytes"])
            st = rig.state()
            assert st.tentative is None and st.slots[st.confirmed].sha256 == sha, (log[-1], st)
            rig.assert_bootable()
    finally:
        rig.close()
        print("interruptions (round, kind, t_s, rc, persisted offset, rerun s):", log)
    assert resumes, f"no rerun resumed a cut upload: {log}"
