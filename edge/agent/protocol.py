"""The board agent's wire format: a pure, incremental frame codec (bytes in, frames out).

Frame (little-endian)::

    0   2  magic  0xC5 0x7A
    2   1  op     (Op)
    3   1  flags  bit0 response, bit1 blob is zlib-compressed, bit2 notice (unsolicited),
                  bit3 blob byte-shuffled (stride 2) before zlib
    4   2  seq    u16, a retry reuses the request's seq; the answer echoes it
    6   4  length u32, payload bytes (<= MAX_PAYLOAD)
    10  2  header check: low 16 bits of CRC32(bytes 2..9)
    12  N  payload: u16 JSON length, JSON object (UTF-8), blob (raw bytes)
    12+N 4 CRC32 of bytes 2..12+N-1

Length prefix with resynchronisation: the header has its own check, so a corrupted length
is caught at once instead of stalling the decoder on bytes that never come; after a bad
header or a bad CRC the decoder drops one byte and scans for the next magic. A frame cut
short (its sender died mid-write) would hold the decoder until as many later bytes came
in as its length claims; the reader calls `FrameDecoder.drop_partial` after a quiet gap,
since a live sender writes a frame in one go. No I/O here: `FrameDecoder.feed` takes
whatever the transport read and returns complete frames.

A notice is a frame nobody asked for: the agent sends one (op HELLO) when it has booted,
so a host that was waiting on a request the dead agent never read resends it at once.
"""

from __future__ import annotations

import enum
import json
import struct
import zlib
from dataclasses import dataclass, field

from cardioradar.errors import FramingError

MAGIC = b"\xc5\x7a"
HEADER = struct.Struct("<2sBBHIH")  # magic, op, flags, seq, length, header check
CRC = struct.Struct("<I")
JSON_LEN = struct.Struct("<H")
MAX_PAYLOAD = 256 * 1024
OVERHEAD = HEADER.size + CRC.size

FLAG_RESPONSE = 0x01
FLAG_ZLIB = 0x02
FLAG_NOTICE = 0x04
FLAG_SHUFFLE = 0x08  # the blob was byte-shuffled (stride 2) before zlib: int16 data compresses better


def shuffle2(b: bytes) -> bytes:
    """Even bytes, then odd bytes (an odd last byte stays last): the low and high bytes of
    little-endian int16 samples (radar I/Q) each in one run, which zlib compresses better."""
    h = len(b) // 2
    return b[0:2 * h:2] + b[1:2 * h:2] + b[2 * h:]


def unshuffle2(s: bytes) -> bytes:
    h = len(s) // 2
    out = bytearray(len(s))
    out[0:2 * h:2] = s[:h]
    out[1:2 * h:2] = s[h:2 * h]
    out[2 * h:] = s[2 * h:]
    return bytes(out)


class Op(enum.IntEnum):
    HELLO = 1
    UPLOAD_BEGIN = 2
    UPLOAD_DATA = 3
    UPLOAD_STATUS = 4
    VERIFY = 5
    INSTALL = 6
    ACTIVATE = 7
    HEALTH = 8
    CONFIRM = 9
    LIST = 10
    PULL_BEGIN = 11
    PULL_DATA = 12
    REBOOT = 13
    HAVE = 14  # which of these file SHA-256s the board holds (delta uploads)


@dataclass(frozen=True)
class Frame:
    """One decoded frame; ``payload`` is still the encoded message body."""

    op: int
    seq: int
    flags: int
    payload: bytes


@dataclass(frozen=True)
class Message:
    """A request or an answer: JSON ``fields`` plus an optional binary ``blob``."""

    op: int
    seq: int
    response: bool = False
    fields: dict = field(default_factory=dict)
    blob: bytes = b""
    notice: bool = False  # unsolicited (the agent's boot notice); seq is 0


def _header_check(b: bytes) -> int:
    return zlib.crc32(b) & 0xFFFF


def encode_frame(op: int, seq: int, flags: int, payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise FramingError(f"frame payload: expected at most {MAX_PAYLOAD} bytes, got {len(payload)}")
    head = struct.pack("<BBHI", op, flags, seq & 0xFFFF, len(payload))
    body = head + struct.pack("<H", _header_check(head)) + payload
    return MAGIC + body + CRC.pack(zlib.crc32(body))


def encode_message(msg: Message, *, compress: bool = False, level: int = 6, shuffle: bool = False) -> bytes:
    """A message as one frame; with ``compress`` the blob goes zlib'd (``shuffle``: byte-shuffled
    first) only when that is smaller; ``level`` 0 sends it as it is."""
    flags = (FLAG_RESPONSE if msg.response else 0) | (FLAG_NOTICE if msg.notice else 0)
    blob = msg.blob
    if compress and blob and level > 0:
        packed = zlib.compress(shuffle2(blob) if shuffle else blob, level)
        if len(packed) < len(blob):
            blob, flags = packed, flags | FLAG_ZLIB | (FLAG_SHUFFLE if shuffle else 0)
    js = json.dumps(msg.fields, separators=(",", ":")).encode()
    return encode_frame(int(msg.op), msg.seq, flags, JSON_LEN.pack(len(js)) + js + blob)


def decode_message(frame: Frame) -> Message:
    """The message inside a frame whose CRC already checked; ``FramingError`` when malformed."""
    p = frame.payload
    if len(p) < JSON_LEN.size:
        raise FramingError(f"message op {frame.op}: payload shorter than its JSON length field ({len(p)} bytes)")
    (n,) = JSON_LEN.unpack_from(p)
    if JSON_LEN.size + n > len(p):
        raise FramingError(f"message op {frame.op}: JSON length {n} runs past the payload ({len(p)} bytes)")
    try:
        fields = json.loads(p[JSON_LEN.size:JSON_LEN.size + n] or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FramingError(f"message op {frame.op}: bad JSON: {e}") from e
    if not isinstance(fields, dict):
        raise FramingError(f"message op {frame.op}: expected a JSON object, got {type(fields).__name__}")
    blob = p[JSON_LEN.size + n:]
    if frame.flags & FLAG_ZLIB:
        try:
            blob = zlib.decompress(blob)
        except zlib.error as e:
            raise FramingError(f"message op {frame.op}: bad zlib blob: {e}") from e
        if frame.flags & FLAG_SHUFFLE:
            blob = unshuffle2(blob)
    return Message(frame.op, frame.seq, bool(frame.flags & FLAG_RESPONSE), fields, blob,
                   bool(frame.flags & FLAG_NOTICE))


@dataclass
class DecoderStats:
    frames: int = 0
    bad_header: int = 0
    bad_crc: int = 0
    skipped_bytes: int = 0


class FrameDecoder:
    """Incremental decoder: ``feed(bytes) -> [Frame]``; noise and damaged frames are skipped."""

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        self._buf = bytearray()
        self._max = max_payload
        self.stats = DecoderStats()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        out: list[Frame] = []
        while True:
            frame = self._next()
            if frame is None:
                return out
            out.append(frame)

    def reset(self) -> None:
        self._buf.clear()

    @property
    def pending(self) -> int:
        """Bytes held back: the start of a frame not complete yet (or a lone magic byte)."""
        return len(self._buf)

    def drop_partial(self) -> list[Frame]:
        """Give up on the frame at the head of the buffer (its sender stopped mid-frame);
        the complete frames found in the bytes after it."""
        if not self._buf:
            return []
        self._skip(1)
        return self.feed(b"")

    def _skip(self, n: int) -> None:
        del self._buf[:n]
        self.stats.skipped_bytes += n

    def _next(self) -> Frame | None:
        buf = self._buf
        while True:
            i = buf.find(MAGIC)
            if i < 0:
                # keep a trailing first magic byte: its partner may be in the next read
                self._skip(len(buf) - 1 if buf[-1:] == MAGIC[:1] else len(buf))
                return None
            if i:
                self._skip(i)
            if len(buf) < HEADER.size:
                return None
            _, op, flags, seq, length, check = HEADER.unpack_from(buf)
            if check != _header_check(bytes(buf[2:10])) or length > self._max:
                self.stats.bad_header += 1
                self._skip(1)
                continue
            end = HEADER.size + length + CRC.size
            if len(buf) < end:
                return None
            (crc,) = CRC.unpack_from(buf, end - CRC.size)
            if crc != zlib.crc32(bytes(buf[2:end - CRC.size])):
                self.stats.bad_crc += 1
                self._skip(1)
                continue
            payload = bytes(buf[HEADER.size:end - CRC.size])
            del buf[:end]
            self.stats.frames += 1
            return Frame(op, seq, flags, payload)
