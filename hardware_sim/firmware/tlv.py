"""The data UART's frame: magic word, 40-byte header, TLVs, padding (``docs/radar-module.md``).

Little-endian throughout. TLVs go out in the SDK's order 1, 7, 2, (4 or 8), then ours,
5, 6, 9: the azimuth/elevation heatmap (type 8) takes the slot of type 4 as in the AOP build,
and our range-window TLV follows the heatmap it describes.

``TLV_RANGE_WINDOW`` (0x4352, 'CR'): 8 bytes, uint16 first range bin, uint16 bin count,
uint16 virtual antenna count, uint16 range step in units of 10 um (saturating). Generic
parsers skip it; with it a recording says which bins the heatmap holds.

The heatmap (type 8) payload: int16 pairs (imaginary, real), range bin major, then virtual
antenna: ``Im(a0,r0) Re(a0,r0) Im(a1,r0) ... Re(aN-1,rR-1)``.

Padding to a multiple of 32 bytes uses seeded non-zero bytes: the device sends whatever its
buffer held, and readers must not rely on zeros.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from cardioradar.errors import FramingError

MAGIC = bytes([0x02, 0x01, 0x04, 0x03, 0x06, 0x05, 0x08, 0x07])
SDK_VERSION = (3 << 24) | (5 << 16) | (0 << 8) | 4  # 03.05.00.04
PLATFORM_IWR6843 = 0xA6843
HEADER_BYTES = 40
PACKET_ALIGN = 32

TLV_DETECTED_POINTS = 1
TLV_RANGE_PROFILE = 2
TLV_STATS = 6
TLV_SIDE_INFO = 7
TLV_AZIMUTH_ELEVATION_HEATMAP = 8
TLV_TEMPERATURE = 9
TLV_RANGE_WINDOW = 0x4352

_HEADER = struct.Struct("<8s8I")
_TLV_HEADER = struct.Struct("<2I")
_RANGE_WINDOW = struct.Struct("<4H")
_STATS = struct.Struct("<6I")
_TEMPERATURE = struct.Struct("<iI10h")
_COUNTERS = struct.Struct("<2I")  # frameNumber, timeCpuCycles at header offset 20
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@dataclass(frozen=True)
class FrameHeader:
    version: int
    total_packet_len: int
    platform: int
    frame_number: int
    time_cpu_cycles: int
    num_detected_obj: int
    num_tlvs: int
    sub_frame_number: int


@dataclass(frozen=True)
class RangeWindow:
    """Which range bins the heatmap carries (our vendor TLV)."""

    first_bin: int
    num_bins: int
    num_virtual: int
    range_step_m: float


@dataclass(frozen=True)
class FrameStats:
    """TLV 6, microseconds and percent, as the SDK reports the previous frame."""

    inter_frame_processing_time_us: int
    transmit_output_time_us: int
    inter_frame_processing_margin_us: int
    inter_chirp_processing_margin_us: int
    active_frame_cpu_load_pct: int
    inter_frame_cpu_load_pct: int


@dataclass(frozen=True)
class Temperature:
    """TLV 9: report valid flag, radar SS time (ms), 10 sensors in degrees C (int16)."""

    valid: int
    time_ms: int
    sensors_c: tuple[int, ...]  # rx0-3, tx0-2, pm, dig0, dig1


@dataclass(frozen=True)
class DecodedFrame:
    """``heatmap``: int16 (num_bins, num_virtual, 2), [..., 0] real, [..., 1] imaginary."""

    header: FrameHeader
    tlv_types: tuple[int, ...]
    heatmap: np.ndarray | None
    range_window: RangeWindow | None
    stats: FrameStats | None
    temperature: Temperature | None
    padding: bytes


def encode_frame(
    *,
    frame_number: int,
    time_cpu_cycles: int,
    pad_rng: np.random.Generator,
    heatmap: np.ndarray | None = None,
    range_window: RangeWindow | None = None,
    stats: FrameStats | None = None,
    temperature: Temperature | None = None,
    detected_points: bool = False,
) -> bytes:
    """One data-UART packet.

    heatmap: int16 (num_bins, num_virtual, 2) with [..., 0] real and [..., 1] imaginary;
    sent as TLV 8 (imaginary first). detected_points: send TLV 1 with zero objects (length 0),
    as the device does when guiMonitor detectedObjects = 1. ``temperature`` goes out only
    with ``stats`` (the SDK sends TLV 9 beside TLV 6). pad_rng draws the padding bytes.
    """
    # One layout code: the template's (the module's hot path), filled once.
    with_temperature = stats is not None and temperature is not None
    t = PacketTemplate(heatmap_shape=None if heatmap is None else tuple(heatmap.shape[:2]), range_window=range_window,
                       stats=stats is not None, temperature=with_temperature, detected_points=detected_points)
    padding = pad_rng.integers(1, 256, size=t.pad_bytes, dtype=np.uint8).tobytes()
    return t.encode(frame_number, time_cpu_cycles, padding,
                    None if heatmap is None else heatmap_payload(heatmap),
                    None if stats is None else t.stats_payload(stats),
                    t.temperature_payload(temperature) if with_temperature else None)


class PacketTemplate:
    """Packets of one fixed TLV layout, built in a preallocated buffer (the module's hot path).

    ``encode`` gives the same bytes as ``encode_frame`` with the same TLVs and padding; only
    the frame number, cycle counter, heatmap, stats, temperature and padding are rewritten
    per packet. ``heatmap_shape`` is (num_bins, num_virtual) or None; ``range_window`` goes
    out as given (it needs a heatmap, as in ``encode_frame``'s use by the module).
    """

    def __init__(self, *, heatmap_shape: tuple[int, int] | None = None, range_window: RangeWindow | None = None,
                 stats: bool = False, temperature: bool = False, detected_points: bool = False):
        tlvs: list[tuple[int, bytes]] = []
        if detected_points:
            tlvs.append((TLV_DETECTED_POINTS, b""))
        if heatmap_shape is not None:
            tlvs.append((TLV_AZIMUTH_ELEVATION_HEATMAP, bytes(4 * heatmap_shape[0] * heatmap_shape[1])))
        if range_window is not None:
            step = min(65535, int(round(range_window.range_step_m * 1e5)))
            tlvs.append((TLV_RANGE_WINDOW, _RANGE_WINDOW.pack(
                range_window.first_bin, range_window.num_bins, range_window.num_virtual, step)))
        if stats:
            tlvs.append((TLV_STATS, bytes(_STATS.size)))
            if temperature:
                tlvs.append((TLV_TEMPERATURE, bytes(_TEMPERATURE.size)))
        self.heatmap_shape = heatmap_shape
        offsets: dict[int, tuple[int, int]] = {}
        body = bytearray()
        for t, payload in tlvs:
            body += _TLV_HEADER.pack(t, len(payload))
            offsets[t] = (HEADER_BYTES + len(body), len(payload))
            body += payload
        used = HEADER_BYTES + len(body)
        self.total_bytes = -(-used // PACKET_ALIGN) * PACKET_ALIGN
        self.pad_bytes = self.total_bytes - used
        self._buf = bytearray(_HEADER.pack(MAGIC, SDK_VERSION, self.total_bytes, PLATFORM_IWR6843, 0, 0, 0,
                                           len(tlvs), 0)) + body + bytes(self.pad_bytes)
        self._heat = offsets.get(TLV_AZIMUTH_ELEVATION_HEATMAP)
        self._stats = offsets.get(TLV_STATS)
        self._temp = offsets.get(TLV_TEMPERATURE)
        self._pad_at = used

    @staticmethod
    def stats_payload(stats: FrameStats) -> bytes:
        return _STATS.pack(*(min(int(x), 0xFFFFFFFF) for x in (
            stats.inter_frame_processing_time_us, stats.transmit_output_time_us,
            stats.inter_frame_processing_margin_us, stats.inter_chirp_processing_margin_us,
            stats.active_frame_cpu_load_pct, stats.inter_frame_cpu_load_pct)))

    @staticmethod
    def temperature_payload(temperature: Temperature) -> bytes:
        return _TEMPERATURE.pack(temperature.valid, temperature.time_ms & 0xFFFFFFFF, *temperature.sensors_c)

    def encode(self, frame_number: int, time_cpu_cycles: int, padding: bytes, heatmap_wire: bytes | None = None,
               stats_payload: bytes | None = None, temperature_payload: bytes | None = None) -> bytes:
        """One packet. heatmap_wire: ``heatmap_payload`` bytes; the payloads from the static
        methods above (each required when the layout has that TLV); padding: ``pad_bytes`` bytes."""
        buf = self._buf
        _COUNTERS.pack_into(buf, 20, frame_number & 0xFFFFFFFF, time_cpu_cycles & 0xFFFFFFFF)
        if self._heat is not None:
            buf[self._heat[0]:self._heat[0] + self._heat[1]] = heatmap_wire
        if self._stats is not None:
            buf[self._stats[0]:self._stats[0] + self._stats[1]] = stats_payload
        if self._temp is not None:
            buf[self._temp[0]:self._temp[0] + self._temp[1]] = temperature_payload
        if len(padding) != self.pad_bytes:
            raise ValueError(f"padding: expected {self.pad_bytes} bytes, got {len(padding)}")
        buf[self._pad_at:] = padding
        return bytes(buf)


    def encode_block(self, frame_numbers: np.ndarray, time_cpu_cycles: np.ndarray, padding: np.ndarray,
                     heatmaps: np.ndarray | None = None, stats_rows: np.ndarray | None = None,
                     temperature_rows: np.ndarray | None = None) -> np.ndarray:
        """n packets at once: (n, total_bytes) uint8, row i the bytes ``encode`` gives for frame i.

        frame_numbers, time_cpu_cycles: (n,) integers (taken mod 2**32); padding: (n, >= pad_bytes)
        uint8 (e.g. a ``padding_block``; the first pad_bytes of each row go out); heatmaps: int16
        (n, num_bins, num_virtual, 2) real/imag; stats_rows (n, 24) / temperature_rows (n, 28):
        uint8 payload bytes per frame (from the static methods above), each required when the
        layout has that TLV.
        """
        n = len(frame_numbers)
        out = np.empty((n, self.total_bytes), np.uint8)
        out[:] = np.frombuffer(self._buf, np.uint8)
        # The two counters sit at offset 20 (4-byte aligned): write them as little-endian words.
        counters = np.empty((n, 2), "<u4")
        counters[:, 0] = np.asarray(frame_numbers, np.int64) & 0xFFFFFFFF
        counters[:, 1] = np.asarray(time_cpu_cycles, np.int64) & 0xFFFFFFFF
        out[:, 20:28] = counters.view(np.uint8)
        for at, rows, what in ((self._stats, stats_rows, "stats_rows"), (self._temp, temperature_rows, "temperature_rows")):
            if at is not None:
                if rows is None or rows.shape != (n, at[1]):
                    raise ValueError(f"{what}: expected ({n}, {at[1]}) uint8, got {None if rows is None else rows.shape}")
                out[:, at[0]:at[0] + at[1]] = rows
        if self._heat is not None:
            h = np.asarray(heatmaps)
            if h.dtype != np.int16 or h.shape != (n, *self.heatmap_shape, 2):
                raise ValueError(f"heatmaps: expected int16 ({n}, {self.heatmap_shape[0]}, {self.heatmap_shape[1]}, 2), "
                                 f"got {h.dtype} {h.shape}")
            dst = out[:, self._heat[0]:self._heat[0] + self._heat[1]]
            if np.little_endian:
                # Wire order is (imaginary, real): each (re, im) int16 pair is one 32-bit word
                # whose halves swap, a rotation by 16 bits (6x faster than a strided copy).
                words = np.ascontiguousarray(h).view(np.uint32).reshape(n, -1)
                dst.view(np.uint32)[...] = (words >> 16) | (words << 16)
            else:
                dst.view("<i2").reshape(h.shape)[...] = h[..., ::-1]
        pad = np.asarray(padding, np.uint8)
        if pad.ndim != 2 or pad.shape[0] != n or pad.shape[1] < self.pad_bytes:
            raise ValueError(f"padding: expected ({n}, >= {self.pad_bytes}) uint8, got {pad.shape}")
        out[:, self._pad_at:] = pad[:, :self.pad_bytes]
        return out


def padding_block(key: int, first_frame: int, n_frames: int) -> np.ndarray:
    """(n_frames, PACKET_ALIGN) uint8 in 1..255: padding bytes of frames first_frame.. .

    Row i is a pure function of (key, first_frame + i) (a splitmix64 mix of a counter), so
    blocks of any size give the same bytes; a packet takes the first bytes of its row.
    """
    words = PACKET_ALIGN // 8
    ctr = (np.arange(first_frame, first_frame + n_frames, dtype=np.uint64)[:, None] * np.uint64(words)
           + np.arange(words, dtype=np.uint64)[None, :])
    z = np.uint64(key) + (ctr + np.uint64(1)) * _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z ^= z >> np.uint64(31)
    b = z.astype("<u8").view(np.uint8).reshape(n_frames, PACKET_ALIGN).astype(np.uint16)
    return (1 + (b * 255 >> 8)).astype(np.uint8)


def heatmap_payload(heatmap: np.ndarray) -> bytes:
    """int16 (R, N, 2) real/imag -> wire order (imaginary first), range bin major."""
    h = np.asarray(heatmap)
    if h.ndim != 3 or h.shape[2] != 2 or h.dtype != np.int16:
        raise ValueError(f"heatmap: expected int16 (range_bins, n_virtual, 2), got {h.dtype} {h.shape}")
    return np.ascontiguousarray(h[..., ::-1]).astype("<i2").tobytes()


def packet_length(n_bins: int, n_virtual: int, *, stats: bool = True, temperature: bool = True,
                  range_window: bool = True, detected_points: bool = False) -> int:
    """Bytes on the wire for a frame with these TLVs (header and padding included)."""
    used = HEADER_BYTES + (8 + 4 * n_bins * n_virtual if n_bins else 0)
    used += (8 + _RANGE_WINDOW.size) if range_window else 0
    used += (8 + _STATS.size) if stats else 0
    used += (8 + _TEMPERATURE.size) if stats and temperature else 0
    used += 8 if detected_points else 0
    return -(-used // PACKET_ALIGN) * PACKET_ALIGN


def decode_frame(packet: bytes) -> DecodedFrame:
    """Strict reference decoder of one whole packet (tests, ``sim frames``).

    Not a stream reader: it expects ``packet`` to start with the magic word and to hold
    exactly ``totalPacketLen`` bytes. Raises ``FramingError`` naming the field on a mismatch.
    """
    if len(packet) < HEADER_BYTES:
        raise FramingError(f"frame: {len(packet)} bytes, expected at least a {HEADER_BYTES}-byte header")
    magic, *fields = _HEADER.unpack_from(packet)
    if magic != MAGIC:
        raise FramingError(f"frame: magic word {magic.hex()}, expected {MAGIC.hex()}")
    header = FrameHeader(*fields)
    if header.total_packet_len != len(packet) or header.total_packet_len % PACKET_ALIGN:
        raise FramingError(f"frame {header.frame_number}: totalPacketLen {header.total_packet_len}, "
                           f"got {len(packet)} bytes (must be a multiple of {PACKET_ALIGN})")
    off, types = HEADER_BYTES, []
    heatmap = window = stats = temp = None
    for _ in range(header.num_tlvs):
        if off + 8 > len(packet):
            raise FramingError(f"frame {header.frame_number}: TLV header at offset {off} runs past the packet")
        t, n = _TLV_HEADER.unpack_from(packet, off)
        payload = packet[off + 8: off + 8 + n]
        if len(payload) != n:
            raise FramingError(f"frame {header.frame_number}: TLV {t} length {n} runs past the packet")
        types.append(t)
        if t == TLV_AZIMUTH_ELEVATION_HEATMAP:
            heatmap = np.frombuffer(payload, "<i2").astype(np.int16).reshape(-1, 2)[:, ::-1]
        elif t == TLV_RANGE_WINDOW:
            a, b, c, d = _RANGE_WINDOW.unpack(payload)
            window = RangeWindow(a, b, c, d * 1e-5)
        elif t == TLV_STATS:
            stats = FrameStats(*_STATS.unpack(payload))
        elif t == TLV_TEMPERATURE:
            v, ms, *s = _TEMPERATURE.unpack(payload)
            temp = Temperature(v, ms, tuple(s))
        off += 8 + n
    if heatmap is not None:
        if window is None or window.num_bins * window.num_virtual != len(heatmap):
            raise FramingError(f"frame {header.frame_number}: heatmap of {len(heatmap)} samples does not match "
                               f"the range-window TLV {window}")
        heatmap = np.ascontiguousarray(heatmap.reshape(window.num_bins, window.num_virtual, 2))
    return DecodedFrame(header, tuple(types), heatmap, window, stats, temp, packet[off:])


def split_stream(data: bytes) -> list[bytes]:
    """Cut a byte stream (e.g. ``frames.bin``) into packets at magic words (tests/tools)."""
    out, off = [], data.find(MAGIC)
    while 0 <= off and off + HEADER_BYTES <= len(data):
        total = struct.unpack_from("<I", data, off + 12)[0]
        if total < HEADER_BYTES or off + total > len(data):
            break
        out.append(data[off: off + total])
        off = data.find(MAGIC, off + total)
    return out
