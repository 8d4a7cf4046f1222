"""Pure incremental decoder of the module's data-UART stream: bytes in, frames and events out.

No I/O and no clock: the transport reads, then calls ``feed(chunk, host_time_s)``. The
decoder resynchronises on the magic word (``bytes.find``, no per-byte Python loop),
checks every length before trusting it, validates the heatmap against the range
window, and tracks the device's frame counter so that gaps become ``drop`` events.

Wire format (little-endian, `docs/radar-module.md`): magic ``02 01 04 03 06 05 08 07``,
then 8 x uint32 (version, totalPacketLen, platform, frameNumber, timeCpuCycles,
numDetectedObj, numTLVs, subFrameNumber), then numTLVs x {uint32 type, uint32 length
(payload only), payload}, then padding (garbage) up to a multiple of 32 bytes.

Frame-number sequencing. A frame numbered ``last + 1`` is delivered at once. A gap is
delivered at once (with a ``drop`` event) when the decoder has seen damage that explains
it (skipped bytes, a rejected packet, a disconnect). Otherwise the frame might carry a
corrupted number, so it is held until its successor confirms it (one frame of latency,
only after an unexplained break in the sequence).
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

import numpy as np

from edge.link.types import (
    DROP,
    FORMAT,
    LENGTH,
    RESYNC,
    SEQUENCE,
    LinkEvent,
    RadarFrame,
)

log = logging.getLogger(__name__)

MAGIC = bytes.fromhex("0201040306050807")
HEADER_BYTES = 40
TLV_HEADER_BYTES = 8
PACKET_ALIGN_BYTES = 32
TLV_HEATMAP = 8  # azimuth/elevation static heatmap: all virtual antennas, complex int16, Im first
# Vendor-range TLV: the range window the heatmap carries (must match hardware_sim/firmware/tlv.py).
TLV_RANGE_WINDOW = 0x4352  # 'CR'
# first bin, bin count, virtual antenna count, range step (10 um units, unused here)
RANGE_WINDOW_STRUCT = struct.Struct("<4H")
_HEADER = struct.Struct("<8I")
_TLV = struct.Struct("<2I")
_COUNTER_MOD = 1 << 32
_MIN_PACKET_BYTES = 64  # 40-byte header padded to 32: bounds how many frames skipped bytes can hide
_UNBOUNDED = 1 << 62

Item = RadarFrame | LinkEvent


@dataclass(frozen=True)
class DecoderConfig:
    """Limits and the expected heatmap size (``None`` = take it from the range-window TLV)."""

    range_bins: int | None = 15
    n_virtual: int | None = 12
    max_packet_bytes: int = 16384  # larger claimed lengths are corruption, not frames
    max_tlvs: int = 32
    # The largest gap taken on trust (after a disconnect or seen damage) without the next
    # frame confirming the new number: 10 s at 100 frames/s.
    max_unconfirmed_gap: int = 1000

    @classmethod
    def from_profile(cls, profile) -> "DecoderConfig":
        """Expected sizes from a `boards.BoardProfile` (dsp.range_bins, virtual antennas)."""
        return cls(range_bins=profile.dsp.range_bins, n_virtual=profile.antennas.n_virtual)


@dataclass
class DecoderStats:
    bytes_in: int = 0
    frames: int = 0
    bytes_skipped: int = 0
    packets_rejected: int = 0
    frames_lost: int = 0


@dataclass(frozen=True)
class _Packet:
    """A structurally valid packet (lengths checked), before heatmap validation."""

    frame_number: int
    time_cpu_cycles: int
    tlvs: dict  # type -> (offset, length) into the decoder buffer (first TLV of each type)
    tlv_end: int  # buffer offset where the TLVs end and the padding starts
    start: int  # buffer offset of the magic word
    total: int  # totalPacketLen


class FrameDecoder:
    """Incremental decoder. ``feed`` never raises on any input bytes."""

    def __init__(self, config: DecoderConfig | None = None):
        self.config = config or DecoderConfig()
        self.stats = DecoderStats()
        self._buf = bytearray()
        self._skipped = 0  # bytes skipped since the last magic word found
        self._pad_end = 0  # buffer offset where the last packet's padding ends
        self._last: int | None = None  # last delivered frame number
        self._pending: RadarFrame | None = None
        self._loss_budget = 0  # frames that damage seen since the last frame could have hidden

    # ------------------------------------------------------------------ public
    def feed(self, data: bytes, host_time_s: float) -> list[Item]:
        """Decode as much as possible of the stream so far; keep the incomplete tail."""
        self.stats.bytes_in += len(data)
        self._buf += data
        out: list[Item] = []
        pos = self._scan(out, host_time_s)
        del self._buf[:pos]
        return out

    def note_disconnect(self, host_time_s: float) -> list[Item]:
        """The port went away: what is buffered cannot complete; any gap is now explained."""
        out: list[Item] = []
        p, self._pending = self._pending, None
        if p is not None:
            d = (p.frame_number - self._last) % _COUNTER_MOD if self._last is not None else 1
            if 0 < d <= 1 + self.config.max_unconfirmed_gap:
                out += self._accept(p, host_time_s)  # plausible: do not lose a frame already read
            else:
                out.append(LinkEvent(SEQUENCE, host_time_s, p.frame_number, 1,
                                     f"discarded frame numbered {p.frame_number}: unconfirmed, after {self._last}"))
        start = self._buf.find(MAGIC)
        self._skip(0, start if start >= 0 else len(self._buf))
        if start >= 0:
            out.append(self._reject(host_time_s, f"packet cut by the disconnect after {len(self._buf) - start} bytes"))
        self._flush_skipped(out, host_time_s, "before the disconnect")
        self._buf.clear()
        self._pad_end = 0
        self._loss_budget = _UNBOUNDED
        return out

    def flush(self, host_time_s: float) -> list[Item]:
        """End of stream: deliver a held frame, report what is left in the buffer."""
        out = self.note_disconnect(host_time_s)
        self._loss_budget = 0
        return out

    @property
    def last_frame_number(self) -> int | None:
        return self._last

    # ------------------------------------------------------------------ framing
    def _scan(self, out: list[Item], t: float) -> int:
        buf = self._buf
        pos = 0
        while True:
            i = buf.find(MAGIC, pos)
            if i < 0:
                # Keep a possible magic prefix at the end; everything before it is garbage.
                keep_from = max(pos, len(buf) - (len(MAGIC) - 1))
                self._skip(pos, keep_from)
                self._pad_end = max(0, self._pad_end - keep_from)
                return keep_from
            self._skip(pos, i)
            self._pad_end = 0
            self._flush_skipped(out, t, "")
            if len(buf) - i < HEADER_BYTES:
                return i  # (_pad_end is 0 here: nothing to shift)
            _ver, total, _plat, number, cycles, _nobj, ntlv, _sub = _HEADER.unpack_from(buf, i + 8)
            problem = self._check_header(total, ntlv)
            if problem:
                out.append(self._reject(t, problem))
                pos = i + len(MAGIC)
                continue
            # The search end lets a magic word start anywhere inside the claimed packet.
            j = buf.find(MAGIC, i + len(MAGIC), min(len(buf), i + total + len(MAGIC) - 1))
            if j - i >= total:
                j = -1
            # A magic word that cannot be padding means this packet was cut short.
            if j >= 0 and j - i < total - (PACKET_ALIGN_BYTES - 1):
                out.append(self._reject(t, f"truncated: next magic word {j - i} bytes into a {total}-byte packet"))
                pos = j
                continue
            if len(buf) - i < total:
                return i
            packet, problem = self._walk_tlvs(i, total, ntlv, number, cycles)
            if problem is None and 0 <= j < packet.tlv_end:
                problem = f"truncated: next magic word {j - i} bytes into the TLVs"
            if problem:
                out.append(self._reject(t, problem))
                pos = i + len(MAGIC)
                continue
            self._deliver(packet, out, t)
            # Scan on from the padding, not from totalPacketLen: padding cut short must not
            # cost the next packet its magic word. Padding bytes are not counted as skipped.
            pos, self._pad_end = packet.tlv_end, i + total

    def _skip(self, start: int, stop: int) -> None:
        n = stop - max(start, min(self._pad_end, stop))
        if n > 0:
            self._skipped += n
            self.stats.bytes_skipped += n
    def _check_header(self, total: int, ntlv: int) -> str | None:
        cfg = self.config
        if total % PACKET_ALIGN_BYTES or total < HEADER_BYTES or total > cfg.max_packet_bytes:
            return (
                f"totalPacketLen {total}: expected a multiple of {PACKET_ALIGN_BYTES} "
                f"in {HEADER_BYTES}..{cfg.max_packet_bytes}"
            )
        if ntlv > cfg.max_tlvs or HEADER_BYTES + ntlv * TLV_HEADER_BYTES > total:
            return f"numTLVs {ntlv}: more than {cfg.max_tlvs} or more than a {total}-byte packet can hold"
        return None

    def _walk_tlvs(self, i: int, total: int, ntlv: int, number: int, cycles: int):
        buf, end = self._buf, i + total
        off = i + HEADER_BYTES
        tlvs: dict = {}
        for k in range(ntlv):
            if off + TLV_HEADER_BYTES > end:
                return None, f"TLV {k} of {ntlv}: header at byte {off - i} runs past totalPacketLen {total}"
            typ, length = _TLV.unpack_from(buf, off)
            off += TLV_HEADER_BYTES
            if length > end - off:
                return None, f"TLV {k} (type {typ}): length {length} runs past totalPacketLen {total}"
            tlvs.setdefault(typ, (off, length))
            off += length
        if end - off >= PACKET_ALIGN_BYTES:
            return None, f"TLVs end at byte {off - i} but totalPacketLen is {total}: more than padding"
        return _Packet(number, cycles, tlvs, off, i, total), None

    def _reject(self, t: float, problem: str) -> LinkEvent:
        self.stats.packets_rejected += 1
        self._loss_budget += 1
        log.debug("rejected packet: %s", problem)
        return LinkEvent(LENGTH, t, None, 1, problem)

    def _flush_skipped(self, out: list[Item], t: float, where: str) -> None:
        if self._skipped:
            n = self._skipped
            self._skipped = 0
            self._loss_budget += -(-n // _MIN_PACKET_BYTES)
            detail = f"skipped {n} bytes to find the magic word" + (f" ({where})" if where else "")
            out.append(LinkEvent(RESYNC, t, None, n, detail))

    # ------------------------------------------------------------------ heatmap
    def _deliver(self, p: _Packet, out: list[Item], t: float) -> None:
        frame, problem = self._heatmap(p, t)
        if problem:
            self._loss_budget += 1
            out.append(LinkEvent(FORMAT, t, p.frame_number, 1, problem))
            return
        out += self._sequence(frame, t)

    def _heatmap(self, p: _Packet, t: float):
        cfg, buf = self.config, self._buf
        first_bin, bins, ants = 0, cfg.range_bins, cfg.n_virtual
        if TLV_RANGE_WINDOW in p.tlvs:
            off, length = p.tlvs[TLV_RANGE_WINDOW]
            if length < RANGE_WINDOW_STRUCT.size:
                return None, f"frame {p.frame_number}: range-window TLV has {length} bytes, expected {RANGE_WINDOW_STRUCT.size}"
            first_bin, w_bins, w_ants, _step = RANGE_WINDOW_STRUCT.unpack_from(buf, off)
            for name, want, got in (("bin count", bins, w_bins), ("antenna count", ants, w_ants)):
                if want is not None and want != got:
                    return None, f"frame {p.frame_number}: range window {name}: expected {want}, got {got}"
            bins, ants = w_bins, w_ants
        if TLV_HEATMAP not in p.tlvs:
            return None, f"frame {p.frame_number}: no heatmap TLV (type {TLV_HEATMAP}); check guiMonitor"
        if bins is None or ants is None:
            return None, f"frame {p.frame_number}: no range-window TLV and no expected heatmap size"
        off, length = p.tlvs[TLV_HEATMAP]
        if length != bins * ants * 4 or bins == 0 or ants == 0:
            return None, (
                f"frame {p.frame_number}: heatmap TLV has {length} bytes, expected "
                f"{bins} bins x {ants} antennas x 4 = {bins * ants * 4}"
            )
        wire = np.frombuffer(buf, dtype="<i2", count=bins * ants * 2, offset=off).reshape(bins, ants, 2)
        iq = wire[..., ::-1].astype(np.int16)  # wire is (Im, Re); ours is (Re, Im)
        iq.flags.writeable = False
        raw = bytes(buf[p.start:p.start + p.total])
        return RadarFrame(p.frame_number, p.time_cpu_cycles, t, iq, int(first_bin), raw), None

    # ------------------------------------------------------------------ sequence
    def _sequence(self, f: RadarFrame, t: float) -> list[Item]:
        out: list[Item] = []
        if self._pending is not None:
            p, self._pending = self._pending, None
            if (f.frame_number - p.frame_number) % _COUNTER_MOD == 1:
                out += self._accept(p, t)  # confirmed by its successor
            elif self._last is not None and (f.frame_number - self._last) % _COUNTER_MOD == 2:
                self._last = (self._last + 1) % _COUNTER_MOD
                self._lost(out, t, self._last, 1, f"frame number corrupted (read {p.frame_number})")
            else:
                out.append(LinkEvent(SEQUENCE, t, p.frame_number, 1,
                                     f"discarded frame numbered {p.frame_number}: next frame is {f.frame_number}"))
        if self._last is None:
            out += self._accept(f, t)
            return out
        d = (f.frame_number - self._last) % _COUNTER_MOD
        if d == 1 or 1 < d <= 1 + min(self._loss_budget, self.config.max_unconfirmed_gap):
            out += self._accept(f, t)
        else:
            self._pending = f
        return out

    def _accept(self, f: RadarFrame, t: float) -> list[Item]:
        out: list[Item] = []
        if self._last is not None:
            d = (f.frame_number - self._last) % _COUNTER_MOD
            if d == 0:
                return [LinkEvent(SEQUENCE, t, f.frame_number, 1, f"duplicate frame {f.frame_number} discarded")]
            if d > _COUNTER_MOD // 2:
                out.append(LinkEvent(SEQUENCE, t, f.frame_number, 0,
                                     f"frame counter went back from {self._last} to {f.frame_number} (module restarted?)"))
            elif d > 1:
                self._lost(out, t, (self._last + 1) % _COUNTER_MOD, d - 1, "")
        self._last = f.frame_number
        self._loss_budget = 0
        self.stats.frames += 1
        out.append(f)
        return out

    def _lost(self, out: list[Item], t: float, first: int, count: int, detail: str) -> None:
        self.stats.frames_lost += count
        last = (first + count - 1) % _COUNTER_MOD
        what = f"frames {first}..{last} missing" if count > 1 else f"frame {first} missing"
        out.append(LinkEvent(DROP, t, first, count, f"{what}: {detail}" if detail else what))

