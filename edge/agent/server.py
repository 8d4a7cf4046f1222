"""The board agent: answers the host's requests on a serial port (see docs/updates.md).

`Agent.handle` turns one request `Message` into its answer (no port involved, so tests
call it directly); `serve` is the loop that reads the port, decodes frames, answers, and
"reboots" (runs `slots.boot` again) after ACTIVATE and REBOOT. A request repeated with the
same seq (its answer was lost) gets the remembered answer instead of running twice; that
memory is RAM and is lost on a restart, where the persisted state answers instead (an
UPLOAD_DATA retry gets a resync to the persisted offset, an INSTALL retry finds its bundle
already in a slot). After each boot the agent sends a notice, so a host whose request was
lost while the agent was down resends it at once instead of after its timeout.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cardioradar import __version__, atomic
from cardioradar.errors import CardioRadarError
from edge.agent import bundles, health, slots
from edge.agent import messages as m
from edge.agent.errors import Refused
from edge.agent.protocol import MAX_PAYLOAD, FrameDecoder, Message, Op, decode_message, encode_message
from edge.agent.sessions import SessionShelf
from edge.agent.staging import Staging

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
MAX_CHUNK = 64 * 1024  # largest upload blob the agent takes per frame
MAX_PULL_CHUNK = 192 * 1024  # largest session piece per answer (a frame carries 256 KiB)
STALE_FRAME_S = 0.3  # a frame's bytes come in one go; a gap this long means its sender died
MAX_DELTA_BYTES = 16 << 20  # what one delta chunk may expand to (copies of files the board holds)
HEAD_CHECK_BYTES = (4 << 20) + 4096 + 8192  # manifest + signature caps + their tar headers
BACKOFF_S = (0.2, 5.0)  # reopening a lost link: first and longest wait


@dataclass(frozen=True)
class AgentConfig:
    root: Path
    board: str
    pubkeys: tuple[Path, ...]
    default_health: health.HealthSpec
    attempts: int = slots.DEFAULT_ATTEMPTS
    auto_confirm: bool = True
    token: str | None = None  # when set, every request must carry it (TCP off loopback)


@dataclass
class _Reply:
    """An op's answer and how to send it."""

    body: m.Body
    reboot: bool = False
    level: int = 6  # zlib level of the answer's blob (0: none)
    shuffle: bool = False


class _RefusedThenReboot(Refused):
    """A refusal after which the board reboots (a failed CONFIRM, like a failed boot check)."""


class Agent:
    def __init__(self, cfg: AgentConfig):
        self.cfg = cfg
        self.store = slots.SlotStore(cfg.root, cfg.board)
        self.staging = Staging(cfg.root)
        self.shelf = SessionShelf(cfg.root)
        self.bundle = bundles.api()
        self.running = "?"
        self._head_ok: str | None = None  # the upload whose manifest passed `check_header`
        self.encoding = (6, False)  # (zlib level, shuffle) of the last answer's blob
        self.health_path = Path(cfg.root) / "boot" / "health.json"

    def last_health(self) -> m.HealthRecord | None:
        try:
            return m.HealthRecord.from_fields(json.loads(self.health_path.read_text()))
        except (OSError, ValueError, CardioRadarError):  # FramingError: a file this agent did not write
            return None

    # -- boot ---------------------------------------------------------------------------
    def boot(self) -> str:
        self.running = slots.boot(self.store, self._health, auto_confirm=self.cfg.auto_confirm)
        return self.running

    def _health(self, slot: str) -> tuple[bool, str]:
        d = self.store.slot_dir(slot)
        try:
            spec = health.load_spec(d, self.cfg.default_health)
        except CardioRadarError as e:
            return False, str(e)
        res = health.run_check(spec, d, self.cfg.root)
        log.info("health check of slot %s: %s (%s)", slot, "pass" if res.ok else "FAIL", res.detail)
        try:  # the verdict and its timing for `board status`
            atomic.write_json(self.health_path, res.as_dict(slot))
        except OSError as e:
            log.warning("cannot record the health verdict: %s", e)
        return res.ok, res.detail

    # -- requests -----------------------------------------------------------------------
    def handle(self, req: Message) -> tuple[Message, bool]:
        """The answer to ``req`` and whether to reboot once it is sent."""
        try:
            r = self._answer(req)
        except Refused as e:
            r = _Reply(m.Refusal(error=e.reason, message=e.detail), reboot=isinstance(e, _RefusedThenReboot))
        except self.bundle.BundleError as e:
            r = _Reply(m.Refusal(error=bundles.refusal_code(e), message=str(e)))
            self.staging.discard()  # these bytes can never pass: do not resume them
        except (CardioRadarError, OSError, KeyError, TypeError, ValueError) as e:
            log.exception("op %s failed", req.op)
            r = _Reply(m.Refusal(error="agent_error", message=f"{type(e).__name__}: {e}"))
        self.encoding = (r.level, r.shuffle)
        return Message(req.op, req.seq, True, m.answer_fields(r.body), getattr(r.body, "blob", b"")), r.reboot

    def _answer(self, req: Message) -> _Reply:
        try:
            op = Op(req.op)
        except ValueError:
            raise Refused("unknown_op", f"unknown op {req.op}") from None
        if self.cfg.token is not None and not hmac.compare_digest(str(req.fields.get("token", "")), self.cfg.token):
            raise Refused("unauthorized", "this agent needs its token (--token / $CARDIORADAR_AGENT_TOKEN)")
        try:
            typed = m.REQUESTS[op].from_fields(req.fields, req.blob)
        except CardioRadarError as e:  # FramingError: a field missing or of the wrong type
            raise Refused("bad_request", str(e)) from e
        r = getattr(self, f"_op_{op.name.lower()}")(typed)
        return r if isinstance(r, _Reply) else _Reply(r)

    def _op_hello(self, q: m.HelloRequest) -> m.HelloResponse:
        return m.HelloResponse(protocol=PROTOCOL_VERSION, agent_version=__version__, board=self.cfg.board,
                               running=self.running, auto_confirm=self.cfg.auto_confirm, state=self.store.load(),
                               max_chunk=MAX_CHUNK, health=self.last_health(), features=("delta", "early_refusal"),
                               upload=self.staging.current())

    def _op_upload_status(self, q: m.UploadStatusRequest) -> m.UploadStatusResponse:
        return m.UploadStatusResponse(upload=self.staging.current())

    def _op_upload_begin(self, q: m.UploadBeginRequest) -> m.UploadBeginResponse:
        return m.UploadBeginResponse(offset=self.staging.begin(q.size, q.sha256).offset)

    def _op_upload_data(self, q: m.UploadDataRequest) -> m.UploadDataResponse:
        blob = q.blob if q.pieces is None else self._assemble(list(q.pieces), q.blob)
        try:
            up = self.staging.write(q.offset, blob)
        except Refused as e:  # tell the host where to continue
            cur = self.staging.current()
            if e.reason == "offset" and cur is not None:
                return m.UploadDataResponse(offset=cur.offset, resync=True)
            raise
        self._check_head(up)
        return m.UploadDataResponse(offset=up.offset)

    def _content(self) -> dict[str, tuple[Path, int]]:
        """sha256 -> (file, size) of every file in an installed slot: what a delta upload may
        reference instead of sending (content-addressed, from the slots' signed manifests)."""
        st = self.store.load()
        out: dict[str, tuple[Path, int]] = {}
        for s in slots.SLOTS:
            if st.slots[s] is None:
                continue
            d = self.store.slot_dir(s)
            try:
                files = json.loads((d / "manifest.json").read_text())["files"]
                for f in files:
                    out.setdefault(str(f["sha256"]), (d / str(f["path"]), int(f["size"])))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # the factory slot has no manifest
        return out

    def _op_have(self, q: m.HaveRequest) -> m.HaveResponse:
        have = self._content()
        return m.HaveResponse(have=tuple(h for h in q.sha256 if h in have))

    def _assemble(self, pieces: list, blob: bytes) -> bytes:
        """A delta chunk's bytes: ``pieces`` is a list of literal lengths (taken from ``blob``
        in order) and ``[sha256, size]`` copies of a file the board holds (hash re-checked)."""
        out, pos, total, content = [], 0, 0, None
        for p in pieces:
            if isinstance(p, int):
                if p < 0 or pos + p > len(blob):
                    raise Refused("bad_request", f"literal piece of {p} bytes runs past the {len(blob)}-byte blob")
                out.append(blob[pos:pos + p])
                pos += p
            else:
                sha, size = str(p[0]), int(p[1])
                content = content if content is not None else self._content()
                src = content.get(sha)
                data = src[0].read_bytes() if src is not None and src[1] == size else None
                if data is None or hashlib.sha256(data).hexdigest() != sha:
                    raise Refused("unknown_content", f"no intact file with sha256 {sha[:12]} ({size} bytes) on the board")
                out.append(data)
            total += len(out[-1])
            if total > MAX_DELTA_BYTES:
                raise Refused("too_large", f"one delta chunk expands to more than {MAX_DELTA_BYTES} bytes")
        if pos != len(blob):
            raise Refused("bad_request", f"blob has {len(blob) - pos} bytes no piece names")
        return b"".join(out)

    def _check_head(self, up) -> None:
        """Refuse early: once the manifest and its signature (the tar's first two entries) are
        in, check signature, key, board, agent version and counter before the payload comes;
        a `BundleError` here discards the upload (see `handle`)."""
        if self._head_ok == up.sha256:
            return
        with open(self.staging.part, "rb") as fh:
            head = fh.read(min(up.offset, HEAD_CHECK_BYTES))
        man = self.bundle.check_header(head, list(self.cfg.pubkeys), total_size=up.size, board=self.cfg.board,
                                       installed_counter=self.store.load().security_counter,
                                       agent_version=__version__, where=f"upload {up.sha256[:12]}")
        if man is not None:
            self._head_ok = up.sha256
            log.info("upload %s: signed manifest checked after %d of %d bytes (version %s, counter %d)",
                     up.sha256[:12], up.offset, up.size, man.version, man.security_counter)

    def _verify(self) -> tuple[object, object]:
        up = self.staging.check_complete()
        st = self.store.load()
        man = self.bundle.verify_bundle(self.staging.part, list(self.cfg.pubkeys), board=self.cfg.board,
                                        installed_counter=st.security_counter, agent_version=__version__)
        return up, man

    def _op_verify(self, q: m.VerifyRequest) -> m.VerifyResponse:
        up, man = self._verify()
        return m.VerifyResponse(sha256=up.sha256, version=man.version, security_counter=man.security_counter,
                                board=man.board)

    def _op_install(self, q: m.InstallRequest) -> m.InstallResponse:
        st = self.store.load()
        sha = q.sha256
        done = next((s for s in slots.SLOTS if s != st.confirmed and st.slots[s] and st.slots[s].sha256 == sha), None)
        if done is not None:  # a retry after a restart lost the answer: it is installed
            slots.check_floor(st, done, f"installing bundle {sha[:12]}: already in")
            up = self.staging.current()
            if up is not None and up.sha256 == sha:
                self.staging.discard()
            return m.InstallResponse(slot=done, already=True)
        up, man = self._verify()
        target = slots.install_target(st, self.running)
        info = slots.SlotInfo(str(man.version), up.sha256, int(man.security_counter), str(man.board))
        with self.store.writing_slot(target) as tmp:
            self.bundle.extract_bundle(self.staging.part, tmp, list(self.cfg.pubkeys), board=self.cfg.board,
                                       installed_counter=st.security_counter, agent_version=__version__)
            atomic.write_json(tmp / "slot.json", info.as_dict())
        self.store.save(slots.finish_install(self.store.load(), target, info))
        self.staging.discard()
        log.info("installed %s (version %s) into slot %s", up.sha256[:12], info.version, target)
        return m.InstallResponse(slot=target)

    def _op_activate(self, q: m.ActivateRequest) -> m.ActivateResponse | _Reply:
        st = self.store.load()
        sha = q.sha256
        if st.slots[st.confirmed] and st.slots[st.confirmed].sha256 == sha:
            return m.ActivateResponse(slot=st.confirmed, already=True)
        slot = next((s for s in slots.SLOTS if st.slots[s] and st.slots[s].sha256 == sha), None)
        if slot is None:
            raise Refused("not_installed", f"no slot holds bundle {sha[:12]}")
        self.store.save(slots.activate(st, slot, self.cfg.attempts))
        return _Reply(m.ActivateResponse(slot=slot), reboot=True)

    def _op_health(self, q: m.HealthRequest) -> m.HealthResponse:
        ok, detail = self._health(self.running)
        return m.HealthResponse(slot=self.running, healthy=ok, detail=detail)

    def _op_confirm(self, q: m.ConfirmRequest) -> m.ConfirmResponse:
        st = self.store.load()
        if st.tentative != self.running:
            return m.ConfirmResponse(slot=st.confirmed, confirmed=st.confirmed == self.running)
        ok, detail = self._health(self.running)
        self.store.save(slots.after_health(st, self.running, ok, detail))
        if not ok:  # as at boot: reboot, i.e. the next test boot or the rollback
            raise _RefusedThenReboot("health_failed", f"slot {self.running}: {detail} (rebooting)")
        return m.ConfirmResponse(slot=self.running, confirmed=True)

    def _op_list(self, q: m.ListRequest) -> m.ListResponse:
        return m.ListResponse(sessions=tuple(m.SessionEntry(**s) for s in self.shelf.list()))

    def _op_pull_begin(self, q: m.PullBeginRequest) -> m.PullBeginResponse:
        snap = self.shelf.snapshot(q.name, q.sha256)
        return m.PullBeginResponse(name=snap.name, size=snap.size, sha256=snap.sha256)

    def _op_pull_data(self, q: m.PullDataRequest) -> _Reply:
        data = self.shelf.read(q.name, q.sha256, q.offset, min(q.length, MAX_PULL_CHUNK))
        # the host picks the compression for its link: strong on serial, light on a network
        return _Reply(m.PullDataResponse(offset=q.offset, blob=data), level=max(0, min(9, q.level)), shuffle=q.shuffle)

    def _op_reboot(self, q: m.RebootRequest) -> _Reply:
        return _Reply(m.RebootResponse(), reboot=True)


def serve(agent: Agent, port=None, stop: threading.Event | None = None, *,
          opener: Callable[[], object] | None = None, backoff_s: tuple[float, float] = BACKOFF_S) -> None:
    """Boot, then answer requests until ``stop``.

    ``port`` is an open `edge.link.transport.Transport`; with ``opener`` (a function that
    opens the port) the agent outlives its link: an I/O error or a port that is gone
    closes it, and ``opener`` is retried with exponential back-off (``backoff_s`` = first,
    longest wait) forever, logged once per outage, so a board whose USB gadget, adapter or
    cable comes back later answers again without a restart. Without ``opener`` a link
    error ends `serve` (`TransportError`), as tests and the bench want.
    """
    stop = stop or threading.Event()
    agent.boot()
    if port is None and opener is None:
        raise ValueError("serve: give a port or an opener")
    delay, down_since, reported = backoff_s[0], None, False
    while not stop.is_set():
        if port is None:
            try:
                port = opener()
            except CardioRadarError as e:
                down_since = down_since or time.monotonic()
                if getattr(e, "waiting", False):  # a TCP listener with no host yet: not an outage
                    stop.wait(delay)
                    continue
                if not reported:
                    reported = True
                    log.warning("link down: %s; retrying with back-off up to %g s", e, backoff_s[1])
                else:
                    log.debug("link still down: %s", e)
                stop.wait(delay)
                delay = min(delay * 2, backoff_s[1])
                continue
            if down_since is not None:
                log.warning("link back on %s after %.1f s", port.name, time.monotonic() - down_since)
            down_since, reported = None, False
        up_at = time.monotonic()
        try:
            _serve_link(agent, port, stop)
        except CardioRadarError as e:  # TransportError from the port: the link went away
            if opener is None:
                raise
            log.log(logging.INFO if getattr(e, "closed", False) else logging.WARNING, "link lost on %s: %s",
                    port.name, e)
            port.close()
            port = None
            down_since = time.monotonic()
            # a link that dies at once (a port that opens but cannot be read) backs off too
            delay = backoff_s[0] if down_since - up_at > 2 * backoff_s[1] else min(delay * 2, backoff_s[1])
            stop.wait(delay)
    if opener is not None and port is not None:
        port.close()


def _serve_link(agent: Agent, port, stop: threading.Event) -> None:
    decoder = FrameDecoder(MAX_PAYLOAD)
    last: tuple[int, int, bytes] | None = None  # (op, seq, encoded answer)
    log.info("agent serving on %s, running slot %s", port.name, agent.running)
    port.write(_boot_notice(agent))  # also after a reconnect: a waiting host resends at once
    heard = time.monotonic()
    while not stop.is_set():
        data = port.read(65536)
        if data:
            heard = time.monotonic()
            frames = decoder.feed(data)
        elif decoder.pending and time.monotonic() - heard > STALE_FRAME_S:
            log.info("dropping %d bytes of a frame cut short", decoder.pending)
            frames = decoder.drop_partial()
        else:
            continue
        for frame in frames:
            if last is not None and (frame.op, frame.seq) == last[:2]:
                port.write(last[2])  # a retry: our answer was lost
                continue
            try:
                req = decode_message(frame)
            except CardioRadarError as e:
                log.warning("dropping a malformed request: %s", e)
                continue
            if req.response:
                continue
            answer, reboot = agent.handle(req)
            level, shuffle = agent.encoding
            wire = encode_message(answer, compress=True, level=level, shuffle=shuffle)
            last = (frame.op, frame.seq, wire)
            port.write(wire)
            if reboot:
                log.info("rebooting")
                agent.boot()
                decoder.reset()  # a reboot loses RAM: stale requests and the remembered answer
                last = None
                port.write(_boot_notice(agent))
                break
        heard = time.monotonic()  # time spent answering is no gap in the sender's bytes


def _boot_notice(agent: Agent) -> bytes:
    return encode_message(Message(Op.HELLO, 0, True, m.answer_fields(m.BootNotice(booted=agent.running)), notice=True))
