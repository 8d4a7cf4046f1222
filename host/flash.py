"""Host side of the board agent protocol: flash a bundle, read the board's status, pull sessions.

    >>> with open_agent("/dev/ttyUSB0") as client:
    ...     result = flash(client, "cardioradar-sim.bundle")

Every job resumes: an upload continues at the offset the board persisted, a pull at the
size of the partial file (same snapshot, checked by SHA-256). Requests are retried on
timeouts and damaged frames, and at once when the agent announces that it (re)booted; a
retry that reaches a restarted agent continues from its persisted state (an upload chunk
is answered with the persisted offset). A job that does not finish raises (so the CLI
exits non-zero).
The port is passed in (`AgentClient(transport)`), so tests and scripts can give their own.
Requests and answers are the typed pairs of `edge.agent.messages` (`AgentClient.call`);
`AgentClient.request` and `hello` keep the raw JSON fields for scripts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cardioradar.errors import DeviceTimeout, InputDataError
from edge.agent import messages as msgs
from edge.agent.errors import Refused
from edge.agent.port import DEFAULT_BAUD, open_link
from edge.agent.protocol import FLAG_NOTICE, FrameDecoder, Message, Op, decode_message, encode_message
from edge.agent.slots import BootState

log = logging.getLogger(__name__)

CHUNK_BYTES = 16 * 1024
STALE_FRAME_S = 0.3  # an answer's bytes come in one go; a gap this long means the agent died mid-frame
SLOW_OP_S = 60.0  # VERIFY / INSTALL may take this long on a slow board (retried every timeout_s meanwhile)
_BOOTED = object()  # _await: the agent announced a boot, so our request may be lost


class AgentClient:
    """Request/answer over a transport: seq numbers, timeouts, retries, typed refusals."""

    def __init__(self, port, *, timeout_s: float = 3.0, retries: int = 6, compress: bool = True,
                 token: str | None = None):
        self.port = port
        self.token = token  # sent in every request when set (an agent on the network asks for it)
        self.timeout_s = timeout_s
        self.retries = retries
        self.compress = compress
        self._seq = int(time.monotonic() * 1000) & 0xFFFF  # differs across runs: no stale match
        self._decoder = FrameDecoder()
        self.wire_bytes_sent = 0
        self.blob_bytes_sent = 0  # request blobs (upload chunks) before compression, every try
        self.blob_bytes_resent = 0  # the part of blob_bytes_sent that went in retries

    def call(self, req: msgs.Body, *, timeout_s: float | None = None, retries: int | None = None):
        """The typed answer to a typed request (`edge.agent.messages`); `Refused` when the board says no."""
        answer = self._exchange(req.OP, req.to_fields(), getattr(req, "blob", b""), timeout_s, retries)
        return msgs.RESPONSES[req.OP].from_fields(answer.fields, answer.blob)

    def request(self, op: Op, fields: dict | None = None, blob: bytes = b"", *,
                timeout_s: float | None = None, retries: int | None = None) -> dict:
        """The answer's raw fields (plus ``"_blob"``), for scripts; `Refused` when the board says no."""
        answer = self._exchange(op, fields or {}, blob, timeout_s, retries)
        return {**answer.fields, "_blob": answer.blob}

    def _exchange(self, op: Op, fields: dict, blob: bytes, timeout_s: float | None, retries: int | None) -> Message:
        self._seq = (self._seq + 1) & 0xFFFF
        fields = {**fields, **({"token": self.token} if self.token else {})}
        wire = encode_message(Message(op, self._seq, False, fields, blob), compress=self.compress)
        tries = retries or self.retries
        attempt = boots = 0
        while attempt < tries:
            if attempt or boots:
                log.debug("%s seq %d: retry %d (%d after a boot notice)", op.name, self._seq, attempt, boots)
                self.blob_bytes_resent += len(blob)
            self.port.write(wire)
            self.wire_bytes_sent += len(wire)
            self.blob_bytes_sent += len(blob)
            answer = self._await(op, self._seq, timeout_s or self.timeout_s)
            if answer is _BOOTED and boots < tries:  # resend now, not after the timeout
                boots += 1
                continue
            attempt += 1
            if isinstance(answer, Message):
                if not answer.fields.get("ok"):
                    no = msgs.Refusal.from_fields({"error": "unknown", **answer.fields})
                    raise Refused(no.error, no.message)
                return answer
        st = self._decoder.stats
        noise = (f"; got {st.skipped_bytes} bytes that were not agent frames (wrong port or baud?)"
                 if st.skipped_bytes and not st.frames else "")
        raise DeviceTimeout(f"port {self.port.name}: no answer to {op.name} after {tries} tries of "
                            f"{timeout_s or self.timeout_s:g} s{noise}",
                            hint="is `cardioradar agent` running on the board, on this port?")

    def _await(self, op: Op, seq: int, timeout_s: float) -> Message | object | None:
        """The answer, `_BOOTED` when the agent announced a boot, None at the timeout."""
        deadline = time.monotonic() + timeout_s
        heard = time.monotonic()
        while time.monotonic() < deadline:
            data = self.port.read(65536)
            if data:
                heard = time.monotonic()
                frames = self._decoder.feed(data)
            elif self._decoder.pending and time.monotonic() - heard > STALE_FRAME_S:
                frames = self._decoder.drop_partial()  # the agent died mid-answer
            else:
                continue
            for frame in frames:
                if frame.flags & FLAG_NOTICE:
                    log.info("the agent (re)booted")
                    return _BOOTED
                if frame.seq != seq or frame.op != op:
                    continue  # a stale answer to an earlier try
                try:
                    msg = decode_message(frame)
                except Exception as e:  # noqa: BLE001 -- a damaged answer is a lost answer
                    log.debug("bad answer: %s", e)
                    continue
                if msg.response:
                    return msg
        return None


@contextmanager
def open_agent(url: str, baud: int = DEFAULT_BAUD, **client_kw):
    port = open_link(url, baud)
    try:
        yield AgentClient(port, **client_kw)
    finally:
        port.close()


def read_status(client: AgentClient, *, tries: int = 5) -> msgs.HelloResponse:
    """HELLO: the board's slots, versions, boot state, last health check, upload in progress."""
    return client.call(msgs.HelloRequest(), timeout_s=min(client.timeout_s, 1.5), retries=tries)


def hello(client: AgentClient, *, tries: int = 5) -> dict:
    """HELLO's raw answer fields, for scripts (`read_status` is the typed form)."""
    return client.request(Op.HELLO, timeout_s=min(client.timeout_s, 1.5), retries=tries)


@dataclass(frozen=True)
class FlashResult:
    sha256: str
    size_bytes: int
    resumed_from_bytes: int
    wire_bytes: int  # frame bytes sent during the upload (after compression)
    upload_s: float  # begin .. verify answered
    slot: str
    outcome: str  # "confirmed", "already-installed"
    sent_bytes: int = 0  # bundle bytes sent in upload chunks, retries included
    resent_bytes: int = 0  # of sent_bytes, those in retries: sent - resent + copied = size - resumed_from
    copied_bytes: int = 0  # delta upload: bundle bytes the board took from files it already had

    @property
    def effective_kbps(self) -> float:
        sent = self.size_bytes - self.resumed_from_bytes
        return sent * 8 / 1000 / self.upload_s if self.upload_s > 0 else 0.0

    def as_dict(self) -> dict:
        return {"sha256": self.sha256, "size_bytes": self.size_bytes, "resumed_from_bytes": self.resumed_from_bytes,
                "wire_bytes": self.wire_bytes, "upload_s": round(self.upload_s, 3), "slot": self.slot,
                "outcome": self.outcome, "effective_kbps": round(self.effective_kbps, 1),
                "sent_bytes": self.sent_bytes, "resent_bytes": self.resent_bytes, "copied_bytes": self.copied_bytes}


def _slot_with(state: BootState, sha: str) -> str | None:
    return next((s for s, info in state.slots.items() if info and info.sha256 == sha), None)


def flash(client: AgentClient, bundle: str | Path, *, chunk_bytes: int = CHUNK_BYTES,
          confirm_timeout_s: float = 180.0, progress: bool = False, delta: bool = True) -> FlashResult:
    """Upload (resuming), verify, install, activate, and wait until the board confirms.

    With ``delta`` (and an agent that offers it) files the board already holds, by SHA-256,
    are not sent: the chunk names them and the board copies them from its slot."""
    try:
        data = Path(bundle).read_bytes()
    except OSError as e:
        raise InputDataError(f"bundle {bundle}: cannot read: {e}") from e
    sha, size = hashlib.sha256(data).hexdigest(), len(data)
    h = read_status(client)
    st = h.state
    slot = _slot_with(st, sha)
    resumed, wire0, upload_s, copied = 0, client.wire_bytes_sent, 0.0, [0]
    sent0, resent0 = client.blob_bytes_sent, client.blob_bytes_resent
    if slot is not None and slot == st.confirmed and st.tentative is None:
        log.info("bundle %s is already the confirmed software (slot %s)", sha[:12], slot)
        return FlashResult(sha, size, size, 0, 0.0, slot, "already-installed")
    if slot is None:
        t0 = time.monotonic()
        have = _board_has(client, data) if delta and "delta" in h.features else {}
        resumed = _upload(client, data, sha, chunk_bytes, min(chunk_bytes, h.max_chunk or chunk_bytes),
                          progress, have, copied)
        # short tries over a long span: the agent answers a repeat of a request it is still
        # working on once it is done, and a restarted agent gets the repeat soon
        slow = {"retries": max(2, math.ceil(SLOW_OP_S / client.timeout_s))}
        man = client.call(msgs.VerifyRequest(), **slow)
        upload_s = time.monotonic() - t0
        log.info("board verified bundle %s: version %s, board %s, counter %s",
                 sha[:12], man.version, man.board, man.security_counter)
        slot = client.call(msgs.InstallRequest(sha256=sha), **slow).slot
    if st.tentative != slot:
        slot = client.call(msgs.ActivateRequest(sha256=sha), timeout_s=10.0).slot
    _await_confirm(client, sha, slot, confirm_timeout_s)
    return FlashResult(sha, size, resumed, client.wire_bytes_sent - wire0, upload_s, slot, "confirmed",
                       client.blob_bytes_sent - sent0, client.blob_bytes_resent - resent0, copied[0])


MIN_COPY_BYTES = 256  # smaller files are cheaper sent than named (a copy costs ~80 bytes of JSON)
MAX_COPY_PER_CHUNK = 4 << 20  # bytes of copies one delta chunk may name


def _board_has(client: AgentClient, data: bytes) -> dict[int, tuple[int, str]]:
    """Delta plan: data offset -> (size, sha256) of the bundle's files the board already holds."""
    import io
    import tarfile

    files: dict[int, tuple[int, str]] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for m in tar.getmembers():
                if m.isfile() and m.size >= MIN_COPY_BYTES and m.name not in ("manifest.json", "manifest.sig"):
                    piece = data[m.offset_data:m.offset_data + m.size]
                    files[m.offset_data] = (m.size, hashlib.sha256(piece).hexdigest())
    except (tarfile.TarError, EOFError, ValueError) as e:
        log.info("not a readable tar (%s): sending it whole", e)
        return {}
    if not files:
        return {}
    have = set(client.call(msgs.HaveRequest(sha256=tuple(sorted({v[1] for v in files.values()})))).have)
    plan = {off: v for off, v in files.items() if v[1] in have}
    log.info("delta: the board holds %d of %d files (%d bytes)", len(plan), len(files),
             sum(v[0] for v in plan.values()))
    return plan


def _next_chunk(data: bytes, off: int, max_chunk: int, have: dict[int, tuple[int, str]]) -> tuple[list, bytes, int]:
    """(pieces, literal bytes, copied bytes) of the chunk at ``off``: literal runs up to
    ``max_chunk`` bytes, interleaved with copies of files the board holds."""
    pieces, lit, copied = [], bytearray(), 0
    starts = sorted(o for o in have if o >= off)
    i = 0
    while off < len(data) and len(lit) < max_chunk and copied < MAX_COPY_PER_CHUNK:
        while i < len(starts) and starts[i] < off:
            i += 1
        nxt = starts[i] if i < len(starts) else len(data)
        if nxt == off:
            n, sha = have[off]
            pieces.append([sha, n])
            copied += n
            off += n
            continue
        n = min(nxt - off, max_chunk - len(lit))
        lit += data[off:off + n]
        if pieces and isinstance(pieces[-1], int):
            pieces[-1] += n
        else:
            pieces.append(n)
        off += n
    return pieces, bytes(lit), copied


def _upload(client: AgentClient, data: bytes, sha: str, chunk_bytes: int, max_chunk: int, progress: bool,
            have: dict[int, tuple[int, str]] | None = None, copied_total: list | None = None) -> int:
    size = len(data)
    have = dict(have or {})
    off = client.call(msgs.UploadBeginRequest(size=size, sha256=sha), timeout_s=10.0).offset
    start = off
    if off:
        log.info("resuming the upload at %d of %d bytes", off, size)
    bar = _bar(size, off, "flash", progress)
    t0 = time.monotonic()
    try:
        while off < size:
            if have:
                pieces, piece, copied = _next_chunk(data, off, max_chunk, have)
                try:
                    new = client.call(msgs.UploadDataRequest(offset=off, pieces=pieces, blob=piece),
                                      timeout_s=max(client.timeout_s, 10.0)).offset
                except Refused as e:
                    if e.reason != "unknown_content":
                        raise
                    log.warning("%s: sending the rest whole", e.detail)
                    have = {}
                    continue
                if copied_total is not None and new == off + len(piece) + copied:
                    copied_total[0] += copied
            else:
                piece = data[off:off + max_chunk]
                new = client.call(msgs.UploadDataRequest(offset=off, blob=piece)).offset
            if not 0 <= new <= size:
                raise InputDataError(f"board reported upload offset {new}, expected 0..{size}")
            bar.update(new - off)
            off = new
            dt = time.monotonic() - t0
            if dt > 0:
                bar.set_postfix_str(f"{(off - start) * 8 / 1000 / dt:.0f} kbit/s")
    finally:
        bar.close()
    return start


def _bar(total: int, initial: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, desc=desc, disable=not enabled,
                leave=True, dynamic_ncols=True)


def _await_confirm(client: AgentClient, sha: str, slot: str, timeout_s: float) -> None:
    """Poll until the new slot is confirmed (or rolled back: `Refused`); the board reboots meanwhile."""
    deadline = time.monotonic() + timeout_s
    confirmed_attempt = None  # with --no-auto-confirm: one CONFIRM per test boot
    while time.monotonic() < deadline:
        try:
            h = read_status(client, tries=1)
        except DeviceTimeout:
            continue  # booting: the health check runs before the agent answers again
        st = h.state
        ev = st.last_event or {}
        done = st.slots.get(st.confirmed)
        if st.tentative is None and done is not None and done.sha256 == sha:
            log.info("slot %s confirmed", st.confirmed)
            return
        if ev.get("kind") == "rollback" and ev.get("sha256") == sha and st.tentative is None:
            raise Refused("rolled_back", f"the board rolled back from slot {ev['slot']}: {ev['detail']}")
        if (st.tentative == slot and h.running == slot and not h.auto_confirm
                and confirmed_attempt != st.attempts_left):
            confirmed_attempt = st.attempts_left
            try:
                client.call(msgs.ConfirmRequest(), timeout_s=120.0, retries=1)
            except Refused as e:
                if e.reason != "health_failed":
                    raise
                log.warning("slot %s failed its health check (%s); the board reboots", slot, e.detail)
            except DeviceTimeout:
                pass  # the next HELLO shows what happened (confirmed, or the next test boot)
            continue
        time.sleep(0.2)
    raise DeviceTimeout(f"port {client.port.name}: slot {slot} not confirmed within {timeout_s:g} s",
                        hint="see `cardioradar board status`; the board rolls back by itself if it never confirms")


# -- status and pull ---------------------------------------------------------------------------


def board_status(client: AgentClient) -> dict:
    """HELLO's answer as plain data (what `board status --json` prints)."""
    return read_status(client).to_fields()


@dataclass(frozen=True)
class PullResult:
    name: str
    path: Path
    size_bytes: int
    sha256: str
    resumed_from_bytes: int


def list_sessions(client: AgentClient) -> tuple[msgs.SessionEntry, ...]:
    read_status(client)
    return client.call(msgs.ListRequest()).sessions


SERIAL_PULL = (64 * 1024, 9, True)  # chunk bytes, zlib level, byte shuffle: the line is the limit
NETWORK_PULL = (192 * 1024, 1, False)  # on a network the CPU is: light compression, big pieces


def pull_settings(client: AgentClient) -> tuple[int, int, bool]:
    from edge.agent.tcp import SocketTransport

    return NETWORK_PULL if isinstance(client.port, SocketTransport) else SERIAL_PULL


def pull(client: AgentClient, name: str, out_dir: str | Path, *, chunk_bytes: int | None = None,
         progress: bool = False, level: int | None = None, shuffle: bool | None = None) -> PullResult:
    """Copy session ``name`` (a consistent snapshot, also of a live one) into ``out_dir``.

    The board compresses each piece as asked: by default zlib 9 over byte-shuffled int16
    samples on a serial link (its bytes are the limit), zlib 1 in 192 KiB pieces over TCP."""
    d_chunk, d_level, d_shuffle = pull_settings(client)
    chunk_bytes = chunk_bytes or d_chunk
    level = d_level if level is None else level
    shuffle = d_shuffle if shuffle is None else shuffle
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    part, meta = out_dir / f"{name}.part", out_dir / f"{name}.part.json"
    known = json.loads(meta.read_text())["sha256"] if meta.exists() and part.exists() else None
    read_status(client)  # sync first with short tries: the snapshot request below may take long
    snap = client.call(msgs.PullBeginRequest(name=name, sha256=known), timeout_s=30.0)
    sha, size = snap.sha256, snap.size
    if sha != known:
        part.write_bytes(b"")
        meta.write_text(json.dumps({"sha256": sha, "size": size}))
    off = min(part.stat().st_size, size)
    start = off
    bar = _bar(size, off, name, progress)
    try:
        with open(part, "r+b") as f:
            f.truncate(off)
            f.seek(off)
            while off < size:
                r = client.call(msgs.PullDataRequest(name=name, sha256=sha, offset=off, length=chunk_bytes,
                                                  level=level, shuffle=shuffle))
                blob = r.blob
                if r.offset != off or not blob:
                    raise InputDataError(f"session {name}: board sent offset {r.offset} ({len(blob)} bytes), "
                                         f"expected {off}")
                f.write(blob)
                off += len(blob)
                bar.update(len(blob))
    finally:
        bar.close()
    h = hashlib.sha256()
    with open(part, "rb") as f:  # a night is gigabytes: hash in blocks
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    got = h.hexdigest()
    if got != sha:
        part.unlink()
        meta.unlink()
        raise InputDataError(f"session {name}: pulled sha256 {got}, board says {sha}; the partial file was removed",
                             hint="run the pull again")
    dest = out_dir / name
    part.replace(dest)
    meta.unlink()
    return PullResult(name, dest, size, sha, start)


def pull_all(client: AgentClient, out_dir: str | Path, *, progress: bool = False) -> list[PullResult]:
    return [pull(client, s.name, out_dir, progress=progress) for s in list_sessions(client)]

