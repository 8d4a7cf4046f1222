"""A deterministic transcript of the agent link, for the golden wire-bytes test.

The host API (`host.flash`) talks to an in-process `Agent` through `DirectPort`, which
answers each request synchronously the way `edge.agent.server._serve_link` does (answer,
then reboot and boot notice). Everything that would vary is pinned: the agent's version,
the health check and its clock, the bundle checks (a stub that reads a plain tar's
manifest; the real `host.bundle` needs sources that change with every commit), the
request seq, and the session snapshot (pre-made, reused by its SHA-256).

`tests/data/agent/golden_frames.json` was written by `record` from the code before the
messages became typed (issue 15); `tests/test_agent_messages.py` checks the same run
still gives the same frames.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import types
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import numpy as np

from edge.agent import health, server
from edge.agent.errors import Refused
from edge.agent.protocol import FLAG_ZLIB, FrameDecoder, Message, Op, decode_message, encode_message

GOLDEN = Path(__file__).parent / "data" / "agent" / "golden_frames.json"
TOKEN = "golden-token"


class DirectPort:
    """The host's end of a link whose other end is ``agent``, answered in-line."""

    name = "direct://golden"

    def __init__(self, agent, log: list[bytes]):
        self.agent = agent
        self.log = log
        self._out = bytearray()
        self._dec = FrameDecoder()

    def write(self, data: bytes) -> int:
        self.log.append(bytes(data))
        for frame in self._dec.feed(data):
            answer, reboot = self.agent.handle(decode_message(frame))
            level, shuffle = self.agent.encoding
            self._emit(encode_message(answer, compress=True, level=level, shuffle=shuffle))
            if reboot:
                self.agent.boot()
                self._emit(server._boot_notice(self.agent))
        return len(data)

    def _emit(self, wire: bytes) -> None:
        self.log.append(wire)
        self._out += wire

    def read(self, n: int) -> bytes:
        out, self._out = bytes(self._out), bytearray()
        return out

    def close(self) -> None:
        pass


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode = len(data), 0, 0o644
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def make_bundle(counter: int, model_seed: int) -> bytes:
    """A plain tar laid out like a bundle (manifest first); the stub below trusts it."""
    code = b"".join(b"def f%d(x):\n    return x + %d\n" % (i, i) for i in range(120))
    model = np.random.default_rng(model_seed).bytes(3000)
    files = {"edge/golden.py": code, "model.tflite": model}
    man = {"version": f"1.{counter}", "security_counter": counter, "board": "sim",
           "files": [{"path": p, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for p, d in files.items()]}
    return _tar({"manifest.json": json.dumps(man).encode(), "manifest.sig": b"\0" * 64, **files})


def _stub_bundle_api():
    from host.bundle import BundleError, Downgrade

    def manifest(path):
        with tarfile.open(path) as tar:
            d = json.loads(tar.extractfile("manifest.json").read())
        return types.SimpleNamespace(**d)

    def verify_bundle(path, pubkeys, *, board, installed_counter, agent_version):
        man = manifest(path)
        if man.security_counter < installed_counter:
            raise Downgrade(Path(path).name, installed_counter, man.security_counter)
        return man

    def extract_bundle(path, dest, pubkeys, **kw):
        with tarfile.open(path) as tar:
            tar.extractall(dest, filter="data")

    return types.SimpleNamespace(BundleError=BundleError, check_header=lambda *a, **k: None,
                                 verify_bundle=verify_bundle, extract_bundle=extract_bundle)


def _agent(root: Path, token: str | None = None):
    cfg = server.AgentConfig(root, "sim", (), health.HealthSpec(("{python}", "-c", "pass"), 30.0), token=token)
    agent = server.Agent(cfg)
    agent.bundle = _stub_bundle_api()
    agent.boot()
    return agent


def _client(agent, log, token=None):
    from host.flash import AgentClient

    c = AgentClient(DirectPort(agent, log), timeout_s=0.5, retries=1, token=token)
    c._seq = 4000  # otherwise taken from the clock
    return c


def _session(root: Path) -> str:
    """A session and its snapshot, made by hand so the snapshot's bytes do not depend on SQLite."""
    (root / "sessions").mkdir(parents=True, exist_ok=True)
    (root / "sessions" / "night.db").write_bytes(b"\0" * 4096)
    (root / "sessions" / "live.db").write_bytes(b"\0" * 2048)
    (root / "sessions" / "live.db-wal").write_bytes(b"\0" * 512)
    iq = (np.arange(50_000) % 700 - 350).astype("<i2").tobytes()  # 100 kB of int16-like samples
    sha = hashlib.sha256(iq).hexdigest()
    (root / "pull").mkdir(parents=True, exist_ok=True)
    (root / "pull" / "night.db.snap").write_bytes(iq)
    (root / "pull" / "night.db.json").write_text(json.dumps({"sha256": sha, "size": len(iq)}))
    return sha


def _expect_refused(fn, reason: str) -> None:
    try:
        fn()
    except Refused as e:
        assert e.reason == reason, (e.reason, reason)
        return
    raise AssertionError(f"expected a refusal {reason}")


def record(tmp: Path) -> list[bytes]:
    """Every frame both ends wrote, in order, for one run of the script below."""
    from host import flash as hf

    tmp = Path(tmp)
    root, out = tmp / "root", tmp / "out"
    b1, b2 = tmp / "c2.bundle", tmp / "c3.bundle"
    b1.write_bytes(make_bundle(2, 1))
    b2.write_bytes(make_bundle(3, 2))
    log: list[bytes] = []
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(server, "__version__", "9.9.9"))
        stack.enter_context(mock.patch.object(health, "run_check", lambda spec, d, root: health.HealthResult(
            True, "golden check passed", 0.5, {"imports": 0.25, "total": 0.5})))
        stack.enter_context(mock.patch.object(health, "time", types.SimpleNamespace(time=lambda: 1.8e9)))
        agent = _agent(root)
        sha = _session(root)
        c = _client(agent, log)
        hf.board_status(c)
        hf.flash(c, b1, chunk_bytes=2048)  # HAVE (nothing), chunks, VERIFY, INSTALL, ACTIVATE, reboot
        hf.flash(c, b2, chunk_bytes=2048)  # delta: the code file is copied from slot b
        hf.flash(c, b2)  # already the confirmed software
        c.request(Op.UPLOAD_STATUS)
        c.request(Op.HEALTH)
        c.request(Op.CONFIRM)
        c.request(Op.HAVE, {"sha256": ["00" * 32]})
        c.request(Op.REBOOT)
        _expect_refused(lambda: c.request(Op.ACTIVATE, {"sha256": "0" * 64}), "not_installed")
        _expect_refused(lambda: c.request(Op.UPLOAD_DATA, {"offset": 0}, b"x"), "no_upload")
        data = b1.read_bytes()
        c.request(Op.UPLOAD_BEGIN, {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        c.request(Op.UPLOAD_DATA, {"offset": 512}, data[512:1024])  # resync to 0
        c.request(Op.UPLOAD_DATA, {"offset": 0}, data)
        _expect_refused(lambda: c.request(Op.VERIFY), "downgrade")  # counter 2 under the floor 3
        _expect_refused(lambda: c.request(Op.PULL_BEGIN, {"name": "gone.db", "sha256": None}), "no_session")
        _expect_refused(lambda: c.request(Op.PULL_BEGIN, {"name": "../x", "sha256": None}), "bad_name")
        hf.list_sessions(c)
        out.mkdir()
        (out / "night.db.part").write_bytes(b"")
        (out / "night.db.part.json").write_text(json.dumps({"sha256": sha, "size": 0}))
        hf.pull(c, "night.db", out)  # serial settings: 64 KiB pieces, zlib 9, shuffled
        _expect_refused(lambda: hf.pull(c, "night.db", out / "again", chunk_bytes=60_000, level=0),
                        "snapshot_failed")  # a fresh snapshot: these bytes are no SQLite database
        c.port.write(encode_message(Message(99, 7, False, {})))  # an op the agent does not know
        guarded = _agent(root, TOKEN)
        _expect_refused(lambda: hf.board_status(_client(guarded, log)), "unauthorized")
        hf.board_status(_client(guarded, log, TOKEN))
    return log


def canonical(wire: bytes) -> dict:
    """A frame as compared: all its bytes, except that a zlib'd blob is compared by the
    SHA-256 of what it inflates to (another zlib build may pack the same blob differently)."""
    (frame,) = FrameDecoder().feed(wire)
    if not frame.flags & FLAG_ZLIB:
        return {"hex": wire.hex()}
    msg = decode_message(frame)
    js = int.from_bytes(frame.payload[:2], "little")
    return {"op": frame.op, "seq": frame.seq, "flags": frame.flags, "head_json": frame.payload[:2 + js].hex(),
            "blob_sha256": hashlib.sha256(msg.blob).hexdigest()}


def describe(c: dict) -> str:
    """A canonical frame for a failure message: op, seq, flags and the JSON it carries."""
    if "hex" in c:
        (frame,) = FrameDecoder().feed(bytes.fromhex(c["hex"]))
        return f"op {frame.op} seq {frame.seq} flags {frame.flags}: {json.dumps(decode_message(frame).fields)}"
    return f"op {c['op']} seq {c['seq']} flags {c['flags']}: {bytes.fromhex(c['head_json'])[2:].decode()}"


def write_golden(tmp: Path) -> None:
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    frames = [canonical(w) for w in record(tmp)]
    GOLDEN.write_text(json.dumps(frames, indent=0) + "\n")
