"""Canonical module packet of a decoded frame, for the session's raw archive.

`edge.link` hands out decoded `RadarFrame`s, not the bytes they came in. Until it does
(a ``packet`` attribute on the frame is used when present), the archive holds the frame
re-encoded in the module's own wire format: magic word, 40-byte header (version and
platform 0: not known here), the heatmap TLV (type 8, Im first), the range-window TLV,
zero padding to 32 bytes. `edge.link.FrameDecoder` reads it back to the same frame.
"""

from __future__ import annotations

import struct

import numpy as np

from edge.link.protocol import MAGIC, PACKET_ALIGN_BYTES, RANGE_WINDOW_STRUCT, TLV_HEATMAP, TLV_RANGE_WINDOW
from edge.link.types import RadarFrame

_HEADER = struct.Struct("<8I")
_TLV = struct.Struct("<2I")


def frame_packet(frame: RadarFrame) -> bytes:
    """The bytes of ``frame`` as received, or its canonical re-encoding (see module doc)."""
    raw = getattr(frame, "packet", None)
    if raw is not None:
        return bytes(raw)
    bins, ants = frame.range_bins, frame.n_virtual
    wire = np.ascontiguousarray(frame.heatmap_iq[..., ::-1], dtype="<i2").tobytes()  # (Im, Re) on the wire
    window = RANGE_WINDOW_STRUCT.pack(frame.range_first_bin & 0xFFFF, bins, ants, 0)
    body = _TLV.pack(TLV_HEATMAP, len(wire)) + wire + _TLV.pack(TLV_RANGE_WINDOW, len(window)) + window
    n = len(MAGIC) + _HEADER.size + len(body)
    total = -(-n // PACKET_ALIGN_BYTES) * PACKET_ALIGN_BYTES
    header = _HEADER.pack(0, total, 0, frame.frame_number & 0xFFFFFFFF, frame.time_cpu_cycles & 0xFFFFFFFF,
                          0, 2, 0)
    return MAGIC + header + body + bytes(total - n)
