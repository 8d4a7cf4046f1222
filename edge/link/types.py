"""Values the link hands to the rest of the edge: frames and link events.

`RadarFrame` is the contract with `edge.dsp` and `edge.store`; `LinkEvent` reports
everything that went wrong (or recovered) on the way, so that a session records
every lost frame with its count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# LinkEvent kinds. Strings (not an Enum) so they can be stored and logged as they are.
DROP = "drop"  # frames missing from the device's counter sequence; count = frames lost
RESYNC = "resync"  # bytes skipped to find the next magic word; count = bytes
LENGTH = "crc/length"  # a packet whose lengths/structure cannot be trusted was discarded
FORMAT = "format"  # a well-formed packet without a usable heatmap (wrong size, missing TLV)
SEQUENCE = "sequence"  # a frame number that breaks the sequence (restart, or a corrupted number)
OVERFLOW = "overflow"  # the consumer was too slow: frames read but discarded by the reader queue
DISCONNECT = "disconnect"  # the port went away (unplug, read error)
RECONNECT = "reconnect"  # the port is back
SILENT = "silent"  # an open data port sent nothing for a while (sensor not started? wrong port?)
EVENT_KINDS = (DROP, RESYNC, LENGTH, FORMAT, SEQUENCE, OVERFLOW, DISCONNECT, RECONNECT, SILENT)


@dataclass(frozen=True)
class RadarFrame:
    """One radar frame as the module sent it.

    heatmap_iq: int16, shape (range_bins, n_virtual, 2); [..., 0] = real (I),
        [..., 1] = imaginary (Q); ADC-FFT units of the module's fixed-point range FFT.
        Virtual antenna order v = chirp_slot * n_rx + rx (the board profile's order).
    frame_number: the device's frame counter (uint32, wraps).
    time_cpu_cycles: the device's CPU cycle counter when it built the packet
        (200 MHz on the IWR6843, uint32, wraps).
    host_time_s: `time.monotonic()` when the bytes completing the frame were read.
    range_first_bin: index of heatmap row 0 in the module's full range FFT.
    packet: the whole packet exactly as received (magic word to the end of totalPacketLen,
        padding included), for the session's raw archive; None when built by hand.
    """

    frame_number: int
    time_cpu_cycles: int
    host_time_s: float
    heatmap_iq: np.ndarray
    range_first_bin: int
    packet: bytes | None = None

    @property
    def range_bins(self) -> int:
        return int(self.heatmap_iq.shape[0])

    @property
    def n_virtual(self) -> int:
        return int(self.heatmap_iq.shape[1])

    def heatmap_complex(self) -> np.ndarray:
        """complex64, shape (range_bins, n_virtual): I + jQ."""
        h = self.heatmap_iq.astype(np.float32)
        return (h[..., 0] + 1j * h[..., 1]).astype(np.complex64)


@dataclass(frozen=True)
class LinkEvent:
    """Something the link noticed. ``frame_number`` is the first frame concerned, if known."""

    kind: str
    host_time_s: float
    frame_number: int | None
    count: int
    detail: str
