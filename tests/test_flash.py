"""Host client <-> board agent over pseudo-terminals: flash, confirm, refusals, rollback, pull.

The agent runs as a real process (`cardioradar agent`) on a temporary root; the link is a
`host.cable.line.PtyLine` (a pty null modem, its host end a ``cable://`` URL: the CLI calls
below take it as ``--port``), run by `agent_rig.AgentRig`. No sleeps: each wait is on a state.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from cardioradar.errors import DeviceTimeout, TransportError
from host.bench.flash import TFLITE_HEAD, make_bundle
from edge.agent.errors import Refused
from cardioradar.ptys import NullModem
from edge.agent.protocol import Op
from edge.store import SessionReader
from host.flash import CHUNK_BYTES, board_status, flash, hello, open_agent, pull
from agent_rig import BAD_HEALTH_COUNTER, MODEL_BYTES, AgentRig, write_live_session

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, signing_keys):
    d = tmp_path_factory.mktemp("bundles")
    from host.bundle import build_bundle
    key, other_key = signing_keys.key, signing_keys.other_key
    out = {f"c{c}": make_bundle(d, "sim", MODEL_BYTES, seed=c, security_counter=c, key=key) for c in (1, 2, 3)}
    out["bad_health"] = make_bundle(d, "sim", MODEL_BYTES, seed=99, security_counter=BAD_HEALTH_COUNTER, key=key)
    out["wrong_board"] = make_bundle(d, "rpi4-iwr6843isk", MODEL_BYTES, seed=5, security_counter=4, key=key)
    out["other_key"] = make_bundle(d / "o", "sim", MODEL_BYTES, seed=6, security_counter=4, key=other_key)
    data = bytearray(out["c3"].read_bytes())
    data[data.index(TFLITE_HEAD) + 4000] ^= 0x01  # one bit of the model's weights
    (d / "tampered.bundle").write_bytes(bytes(data))
    out["tampered"] = d / "tampered.bundle"
    out["unsigned"] = _strip_signature(out["c3"], d / "unsigned.bundle")
    out["keys"] = key.parent
    assert build_bundle  # the real builder made all of these
    return out


def _strip_signature(src: Path, dst: Path) -> Path:
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for m in tin.getmembers():
            if m.name != "manifest.sig":
                tout.addfile(m, tin.extractfile(m))
    return dst


@pytest.fixture
def rig(tmp_path, bundles):
    r = AgentRig(tmp_path, bundles["keys"])
    r.start_agent()
    yield r
    r.close()


def test_flash_activate_confirm_then_already_installed(rig, bundles):
    with rig.client() as c:
        res = flash(c, bundles["c1"])
        assert res.outcome == "confirmed" and res.slot == "b" and res.resumed_from_bytes == 0
        assert res.wire_bytes < res.size_bytes  # compressed on the wire
        h = board_status(c)
        assert h["running"] == "b" and h["state"]["confirmed"] == "b" and h["state"]["security_counter"] == 1
        assert h["state"]["slots"]["b"]["sha256"] == hashlib.sha256(bundles["c1"].read_bytes()).hexdigest()
        assert flash(c, bundles["c1"]).outcome == "already-installed"
        res = flash(c, bundles["c2"])  # and the next one goes to the other slot
        assert res.slot == "a" and board_status(c)["state"]["confirmed"] == "a"
    p = rig.cli("board", "status", "--port", rig.link.host_port)
    assert p.returncode == 0 and "slot a: version" in p.stdout and "confirmed" in p.stdout, p.stderr


@pytest.mark.parametrize("name,reason", [("tampered", "altered_file"), ("unsigned", "unsigned"),
                                         ("other_key", "unknown_key"), ("wrong_board", "wrong_board")])
def test_bad_bundles_are_refused_with_the_reason(rig, bundles, name, reason):
    with rig.client() as c:
        with pytest.raises(Refused) as e:
            flash(c, bundles[name])
        assert e.value.reason == reason, e.value
        h = board_status(c)
        assert h["state"]["confirmed"] == "a" and h["state"]["slots"]["b"] is None and h["upload"] is None


def test_downgrade_refused_and_cli_exit_code(rig, bundles):
    with rig.client() as c:
        flash(c, bundles["c2"])
    p = rig.cli("flash", "--port", rig.link.host_port, "--no-progress", str(bundles["c1"]))
    assert p.returncode == 5 and "downgrade" in p.stderr, p.stderr
    assert rig.state().confirmed == "b"


def test_failing_health_check_rolls_back_by_itself(rig, bundles):
    p = rig.cli("flash", "--port", rig.link.host_port, "--no-progress", str(bundles["bad_health"]))
    assert p.returncode == 5 and "rolled back" in p.stderr and "exit code 1" in p.stderr, p.stderr
    st = rig.state()
    assert st.confirmed == "a" and st.tentative is None and st.last_event["kind"] == "rollback"
    assert st.security_counter == 0  # the failed bundle did not raise the downgrade floor
    with rig.client() as c:
        assert board_status(c)["running"] == "a"
        assert flash(c, bundles["c1"]).outcome == "confirmed"  # the board still takes a good one


def test_pull_a_session_while_it_is_written_and_resume(rig, tmp_path, wait_until):
    sessions = rig.root / "sessions"
    sessions.mkdir(parents=True, exist_ok=True)
    stop, written = threading.Event(), [0]
    t = threading.Thread(target=write_live_session, args=(sessions / "night.db", stop), daemon=True,
                         kwargs=dict(seed=3, frame_bytes=256, period_s=0.005, written=written))
    t.start()
    try:
        wait_until(lambda: written[0] >= 100, "100 frames in the live session")
        with rig.client() as c:
            r = pull(c, "night.db", tmp_path / "out")
        n_live = written[0]
    finally:
        stop.set()
        t.join(10)
    reader = SessionReader(r.path, verify=True)
    n = reader.counts()["frames"]
    assert 0 < n <= n_live, (n, n_live)
    # resume: a partial copy of the (now closed) session continues where it stopped
    with rig.client() as c:
        full = pull(c, "night.db", tmp_path / "full")
        part = tmp_path / "again" / "night.db.part"
        part.parent.mkdir()
        part.write_bytes(full.path.read_bytes()[:40000])
        (tmp_path / "again" / "night.db.part.json").write_text(json.dumps({"sha256": full.sha256, "size": full.size_bytes}))
        again = pull(c, "night.db", tmp_path / "again")
    assert again.resumed_from_bytes == 40000 and again.path.read_bytes() == full.path.read_bytes()
    assert SessionReader(again.path).counts()["frames"] == written[0]
    p = rig.cli("pull", "--port", rig.link.host_port, "--all", "--out", str(tmp_path / "cli"), "--no-progress")
    assert p.returncode == 0 and (tmp_path / "cli" / "night.db").exists(), p.stderr


def test_port_errors_exit_non_zero(tmp_path, bundles):
    p = subprocess.run([sys.executable, "-m", "cardioradar", "flash", "--port", str(tmp_path / "nope"),
                        str(bundles["c1"])], capture_output=True, text=True, timeout=60)
    assert p.returncode == 4 and "cannot open port" in p.stderr
    with NullModem() as link:  # nobody serves the other end: a silent board
        with pytest.raises(DeviceTimeout, match="no answer to HELLO"):
            with open_agent(link.host_port, timeout_s=0.5) as c:
                board_status(c)
        with open_agent(link.host_port):  # busy: someone else holds the port
            with pytest.raises(TransportError, match="busy"):
                with open_agent(link.host_port):
                    pass
        with pytest.raises(DeviceTimeout, match="not agent frames"):  # a radar module, not the agent
            with open_agent(link.host_port, timeout_s=0.5) as c:
                fd = os.open(link.board_port, os.O_WRONLY | os.O_NOCTTY)
                os.write(fd, b"sensorStart\r\nDone\r\n" * 20)
                os.close(fd)
                board_status(c)


def test_a_frame_cut_by_a_killed_host_does_not_stall_the_agent(rig, wait_until):
    """A host killed mid-write leaves the start of a big frame in the agent's decoder; its
    length field claims ~9 kB more. The agent drops it after a quiet gap, and the next
    host's HELLO is answered at its first try."""
    from edge.agent.protocol import Message, Op, encode_message

    wire = encode_message(Message(Op.UPLOAD_DATA, 7, False, {"offset": 0}, np.random.default_rng(1).bytes(9000)))
    with rig.client() as c:
        board_status(c)  # the agent is up and reading
    log_at = rig.agent_log.stat().st_size
    fd = os.open(rig.link.host_path, os.O_WRONLY | os.O_NOCTTY)  # the bare pty: bytes as a dying host left them
    try:
        os.write(fd, wire[:600])
    finally:
        os.close(fd)
    wait_until(lambda: "of a frame cut short" in rig.agent_log.read_text()[log_at:], "the agent to drop the cut frame")
    with rig.client() as c:
        h = hello(c, tries=1)  # one try: answered, or DeviceTimeout
    assert h["running"] == "a"


def _upload_install_activate(c, bundle: Path) -> str:
    """The steps of `flash` up to ACTIVATE, by hand; the slot that is now tentative."""
    data = bundle.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    assert c.request(Op.UPLOAD_BEGIN, {"size": len(data), "sha256": sha})["offset"] == 0
    for off in range(0, len(data), CHUNK_BYTES):
        got = c.request(Op.UPLOAD_DATA, {"offset": off}, data[off:off + CHUNK_BYTES])["offset"]
        assert got == min(off + CHUNK_BYTES, len(data))
    assert c.request(Op.VERIFY)["sha256"] == sha
    slot = c.request(Op.INSTALL, {"sha256": sha})["slot"]
    assert c.request(Op.ACTIVATE, {"sha256": sha})["slot"] == slot
    return slot


def test_no_auto_confirm_waits_for_confirm_and_health_answers_on_demand(tmp_path, bundles):
    rig = AgentRig(tmp_path, bundles["keys"], agent_args=("--no-auto-confirm",))
    rig.start_agent()
    try:
        with rig.client() as c:
            slot = _upload_install_activate(c, bundles["c1"])
            # the agent reads the next request only once its reboot into the slot is done, and
            # that boot is where it would confirm by itself: HELLO's answer shows it did not
            h = hello(c)
            st = h["state"]
            assert h["running"] == slot == st["tentative"] and st["confirmed"] == "a" and not h["auto_confirm"], h
            hl = c.request(Op.HEALTH)
            assert hl["healthy"] and hl["slot"] == slot and "passed" in hl["detail"], hl
            assert rig.state().tentative == slot  # HEALTH only reports
            r = c.request(Op.CONFIRM, timeout_s=60.0, retries=1)
            assert r["confirmed"] and r["slot"] == slot
            st = rig.state()
            assert st.confirmed == slot and st.tentative is None and st.last_event["kind"] == "confirmed"
            assert st.security_counter == 1
            assert c.request(Op.CONFIRM)["confirmed"]  # again: nothing under test, still confirmed

            assert flash(c, bundles["c2"]).outcome == "confirmed"  # flash() sends the CONFIRM itself
            assert rig.state().confirmed == "a" and rig.state().security_counter == 2

            bad = _upload_install_activate(c, bundles["bad_health"])
            hl = c.request(Op.HEALTH)  # runs the check now, after the reboot into the slot
            assert hl["slot"] == bad and not hl["healthy"] and "exit code 1" in hl["detail"], hl
            # flash() takes over the test boot: each CONFIRM fails and reboots the board, which
            # rolls back once the attempts are spent
            with pytest.raises(Refused) as e:
                flash(c, bundles["bad_health"])
            assert e.value.reason == "rolled_back" and "exit code 1" in str(e.value), e.value
            h = hello(c)
            assert h["running"] == "a" and h["state"]["tentative"] is None and h["state"]["security_counter"] == 2
            assert c.request(Op.HEALTH)["healthy"]
        log = rig.agent_log.read_text()
        assert log.count("health check of slot b: FAIL") == 3, log[-3000:]  # HEALTH + one CONFIRM per attempt
    finally:
        rig.close()


def test_a_request_lost_while_the_agent_restarts_is_resent_on_its_boot_notice(rig, wait_until):
    # a try waits 600 s: an answer within the test's time can only come from the resend
    # that the restarted agent's boot notice triggers
    with rig.client(timeout_s=600.0) as c:
        board_status(c)
        rig.kill_agent()
        box: dict = {}
        t = threading.Thread(target=lambda: box.update(r=c.request(Op.UPLOAD_STATUS, retries=2)), daemon=True)
        sent = c.wire_bytes_sent
        t.start()
        wait_until(lambda: c.wire_bytes_sent > sent, "the request to go out to nobody")
        rig.start_agent()
        wait_until(lambda: "r" in box, "the answer after the agent's restart", timeout_s=120.0)
        assert box["r"]["upload"] is None, box
        assert c.blob_bytes_resent == 0


def test_install_repeated_after_a_restart_finds_its_slot(tmp_path, bundles):
    """The agent installed, then died before its answer left: the host's repeat reaches a
    fresh agent (no remembered answer, upload already discarded) and must still succeed."""
    from edge.agent import health
    from edge.agent.protocol import Message
    from edge.agent.server import Agent, AgentConfig

    cfg = AgentConfig(tmp_path / "root", "sim", (next(bundles["keys"].glob("*.pub")),),
                      health.HealthSpec(("{python}", "-c", "pass"), 30.0))

    def ask(agent, op, fields=None, blob=b""):
        return agent.handle(Message(op, 1, False, fields or {}, blob))[0].fields

    data = bundles["c1"].read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    a = Agent(cfg)
    a.boot()
    assert ask(a, Op.UPLOAD_BEGIN, {"size": len(data), "sha256": sha})["offset"] == 0
    assert ask(a, Op.UPLOAD_DATA, {"offset": 0}, data)["offset"] == len(data)
    first = ask(a, Op.INSTALL, {"sha256": sha})
    assert first["ok"] and first["slot"] == "b", first
    again = Agent(cfg)  # the restart
    again.boot()
    r = ask(again, Op.INSTALL, {"sha256": sha})
    assert r == {"ok": True, "slot": "b", "already": True}, r
    assert ask(again, Op.INSTALL, {})["error"] == "no_upload"  # without the bundle's name: nothing to install
    assert ask(again, Op.ACTIVATE, {"sha256": sha})["slot"] == "b"
