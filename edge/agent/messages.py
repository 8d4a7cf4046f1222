"""Typed agent messages: one request and one response dataclass per op (docs/agent.md).

Both ends use these: the host builds a request and gets its typed response
(`host.flash.AgentClient.call`), the agent decodes the typed request and answers with a
typed response (`edge.agent.server`). A message's dataclass fields are its JSON keys, in
wire order; a field marked `OMIT` is left off the wire while it holds its default (the
frames stay what they were before these types); the field named ``blob`` travels as the
frame's binary blob, not in the JSON. Decoding ignores keys it does not know (a newer peer
may add some) and names the op and the field of a missing or mistyped one (`FramingError`).

Runs on the board: standard library and ``edge.agent`` only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from cardioradar.errors import FramingError, InputDataError
from edge.agent.protocol import Op
from edge.agent.slots import BootState
from edge.agent.staging import Upload

OMIT = {"omit": True}  # field metadata: not sent while equal to its default
_SCALARS = {"int": int, "str": str, "bool": bool, "float": float}


def _plain(v):
    """A field value as JSON-ready data."""
    if hasattr(v, "as_dict"):
        return v.as_dict()
    if dataclasses.is_dataclass(v):
        return dataclasses.asdict(v)
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v


class Body:
    """JSON fields <-> dataclass fields; ``NESTED`` names the decoder of a structured field."""

    OP: ClassVar[Op | None] = None
    NESTED: ClassVar[dict] = {}

    def to_fields(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "blob" or (f.metadata.get("omit") and v == _default(f)):
                continue
            out[f.name] = _plain(v)
        return out

    as_dict = to_fields

    @classmethod
    def from_fields(cls, d: dict, blob: bytes = b""):
        kw = {}
        for f in dataclasses.fields(cls):
            if f.name == "blob":
                kw["blob"] = blob
            elif f.name in d:
                kw[f.name] = cls._decode(f, d[f.name])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise FramingError(f"{cls._where()}: field {f.name!r} missing (got {sorted(d)})")
        return cls(**kw)

    @classmethod
    def _decode(cls, f: dataclasses.Field, v):
        ann = str(f.type)
        if v is None and ann.endswith("| None"):
            return None
        base = ann.split(" |")[0]
        try:
            if f.name in cls.NESTED:
                return cls.NESTED[f.name](v)
            if base in _SCALARS:
                return _SCALARS[base](v)
            return tuple(v) if base.startswith("tuple") else v
        except (KeyError, TypeError, ValueError, AttributeError, InputDataError, FramingError) as e:
            raise FramingError(f"{cls._where()}: field {f.name!r}: expected {ann}, got {v!r:.80} ({e})") from e

    @classmethod
    def _where(cls) -> str:
        return f"{cls.OP.name} {cls.__name__}" if cls.OP is not None else cls.__name__


def _default(f: dataclasses.Field):
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


_msg = dataclass(frozen=True, kw_only=True)  # keywords only: fields keep their wire order, defaults anywhere


# -- parts of answers ------------------------------------------------------------------------


@_msg
class HealthRecord(Body):
    """The last health check (``ROOT/boot/health.json``, `edge.agent.health.HealthResult.as_dict`)."""

    slot: str
    ok: bool
    detail: str
    duration_s: float
    timing_s: dict = field(default_factory=dict)  # per step, from the selfcheck's summary
    at: float | None = None  # unix time of the verdict

    def to_fields(self) -> dict:  # keys sorted, as `atomic.write_json` stored them (the wire carried the file)
        return dict(sorted(super().to_fields().items()))

    as_dict = to_fields


@_msg
class SessionEntry(Body):
    name: str
    size_bytes: int  # the database plus its -wal
    live: bool  # a -wal beside it: still being written


# -- requests and responses, per op ----------------------------------------------------------


@_msg
class HelloRequest(Body):
    OP = Op.HELLO


@_msg
class HelloResponse(Body):
    OP = Op.HELLO
    NESTED = {"state": lambda d: BootState.from_dict(d, "HELLO answer: state"),
              "health": HealthRecord.from_fields, "upload": lambda d: Upload(**d)}
    protocol: int
    agent_version: str
    board: str
    running: str  # the slot running now ("-" when none may boot)
    auto_confirm: bool = True
    state: BootState
    max_chunk: int | None = None  # largest upload blob the agent takes per frame
    health: HealthRecord | None = None
    features: tuple[str, ...] = ()  # "delta", "early_refusal"
    upload: Upload | None = None  # the staged upload, if any


@_msg
class BootNotice(Body):
    """Unsolicited (op HELLO, flag notice, seq 0): the agent has booted this slot."""

    OP = Op.HELLO
    booted: str


@_msg
class UploadBeginRequest(Body):
    OP = Op.UPLOAD_BEGIN
    size: int
    sha256: str


@_msg
class UploadBeginResponse(Body):
    OP = Op.UPLOAD_BEGIN
    offset: int  # what the board holds of this bundle: 0, or where to resume


@_msg
class UploadDataRequest(Body):
    OP = Op.UPLOAD_DATA
    offset: int
    pieces: list | None = field(default=None, metadata=OMIT)  # delta: literal lengths and [sha256, size] copies
    blob: bytes = b""


@_msg
class UploadDataResponse(Body):
    OP = Op.UPLOAD_DATA
    offset: int
    resync: bool = field(default=False, metadata=OMIT)  # the chunk was not at the board's offset: go on here


@_msg
class UploadStatusRequest(Body):
    OP = Op.UPLOAD_STATUS


@_msg
class UploadStatusResponse(Body):
    OP = Op.UPLOAD_STATUS
    NESTED = {"upload": lambda d: Upload(**d)}
    upload: Upload | None = None


@_msg
class VerifyRequest(Body):
    OP = Op.VERIFY


@_msg
class VerifyResponse(Body):
    OP = Op.VERIFY
    sha256: str
    version: str
    security_counter: int
    board: str


@_msg
class InstallRequest(Body):
    OP = Op.INSTALL
    sha256: str | None = field(default=None, metadata=OMIT)  # lets a retry find the bundle already in a slot


@_msg
class InstallResponse(Body):
    OP = Op.INSTALL
    slot: str
    already: bool = field(default=False, metadata=OMIT)


@_msg
class ActivateRequest(Body):
    OP = Op.ACTIVATE
    sha256: str


@_msg
class ActivateResponse(Body):
    OP = Op.ACTIVATE
    slot: str
    already: bool = field(default=False, metadata=OMIT)


@_msg
class HealthRequest(Body):
    OP = Op.HEALTH


@_msg
class HealthResponse(Body):
    OP = Op.HEALTH
    slot: str
    healthy: bool
    detail: str


@_msg
class ConfirmRequest(Body):
    OP = Op.CONFIRM


@_msg
class ConfirmResponse(Body):
    OP = Op.CONFIRM
    slot: str
    confirmed: bool


@_msg
class ListRequest(Body):
    OP = Op.LIST


@_msg
class ListResponse(Body):
    OP = Op.LIST
    NESTED = {"sessions": lambda v: tuple(SessionEntry.from_fields(s) for s in v)}
    sessions: tuple[SessionEntry, ...] = ()


@_msg
class PullBeginRequest(Body):
    OP = Op.PULL_BEGIN
    name: str
    sha256: str | None = None  # a snapshot the host holds part of: reuse it if it is still there


@_msg
class PullBeginResponse(Body):
    OP = Op.PULL_BEGIN
    name: str
    size: int
    sha256: str


@_msg
class PullDataRequest(Body):
    OP = Op.PULL_DATA
    name: str
    sha256: str
    offset: int
    length: int
    level: int = 6  # zlib level of the answer's blob (0: none)
    shuffle: bool = False  # byte-shuffle (stride 2) before zlib


@_msg
class PullDataResponse(Body):
    OP = Op.PULL_DATA
    offset: int
    blob: bytes = b""


@_msg
class RebootRequest(Body):
    OP = Op.REBOOT


@_msg
class RebootResponse(Body):
    OP = Op.REBOOT


@_msg
class HaveRequest(Body):
    OP = Op.HAVE
    sha256: tuple[str, ...] = ()


@_msg
class HaveResponse(Body):
    OP = Op.HAVE
    have: tuple[str, ...] = ()  # those of the asked SHA-256s an installed slot holds


@_msg
class Refusal(Body):
    """A refusal's body: ``{"ok": false, "error": CODE, "message": TEXT}`` (codes: docs/agent.md)."""

    error: str
    message: str = ""


def answer_fields(body: Body) -> dict:
    """The JSON of an answer: ``ok`` first, then the body (a refusal: ``ok`` false)."""
    return {"ok": not isinstance(body, Refusal), **body.to_fields()}


def _by_op(suffix: str) -> dict[Op, type[Body]]:
    return {c.OP: c for n, c in globals().items() if n.endswith(suffix) and isinstance(c, type) and c.OP}


REQUESTS: dict[Op, type[Body]] = _by_op("Request")  # one per op (tests/test_agent_messages.py)
RESPONSES: dict[Op, type[Body]] = _by_op("Response")
