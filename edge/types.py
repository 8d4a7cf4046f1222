"""Typed records the post-processing stage hands to the session store.

Times ``t_s`` are seconds on the session clock: the pipeline's frame clock with
0 at the session's first frame (the store's metadata ``start_time_utc`` is the
wall-clock time of t_s = 0). ``host_time_s`` is ``time.monotonic()`` on the board.

Every record validates itself on construction so that a bad value is refused
where it is made, not discovered hours later in an export.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cardioradar.errors import InputDataError
from cardioradar.leads import LEADS, N_LEADS

# LEADS / N_LEADS (imported above): the lead order of every 12-lead array (cardioradar.leads).

# SessionEvent kinds used by the edge. Strings (not an Enum) so they are stored as they
# are; the link's own kinds (edge.link.types) are a subset. Other kinds are allowed.
EVENT_KINDS = (
    "drop",  # frames lost on the link; count = frames
    "resync",  # bytes skipped to find the next frame; count = bytes
    "disconnect",  # the radar module's port went away
    "reconnect",  # the port is back
    "movement",  # body movement detected; detail says how it was judged
    "exclusion",  # an ECG stretch excluded as unreliable (artifact exclusion)
    "reconfigure",  # the module's .cfg re-sent after a reset; detail = outcome of the attempt
    "session",  # start/stop/notes of the session itself
    "af",  # an atrial-fibrillation episode (edge.rhythm.AfTracker); duration_s once it ended
    "marker",  # typed by the tester in the live web view (edge.web); detail = the text
)

VITALS_SOURCES = ("model", "classical")


def _finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise InputDataError(f"{name}: expected a finite number, got {value!r}")


@dataclass(frozen=True)
class RawFrame:
    """One module frame exactly as received, for the store's raw archive.

    packet: the whole TLV packet (magic word, 40-byte header, TLVs, padding) as bytes.
    frame_number: the device's frame counter (uint32, wraps).
    time_cpu_cycles: the device's CPU cycle counter in the header (uint32, wraps).
    host_time_s: ``time.monotonic()`` when the last byte of the packet was read.
    """

    frame_number: int
    time_cpu_cycles: int
    host_time_s: float
    packet: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.packet, (bytes, bytearray, memoryview)):
            raise InputDataError(f"RawFrame.packet: expected bytes, got {type(self.packet).__name__}")
        for name in ("frame_number", "time_cpu_cycles"):
            v = getattr(self, name)
            if not 0 <= int(v) < 2**32:
                raise InputDataError(f"RawFrame.{name}: expected a uint32, got {v!r}")


@dataclass(frozen=True)
class EcgBlock:
    """A stretch of reconstructed 12-lead ECG on a regular grid.

    t0_s: session time of sample 0. fs_hz: sample rate (> 0).
    ecg_mv: float32, shape (n, 12), millivolts, lead order ``LEADS``; NaN allowed
        where a sample has no value.
    excluded: True when artifact exclusion judged the whole block unreliable; it is
        kept (and exported as a gap with an annotation), never silently dropped.
    """

    t0_s: float
    fs_hz: float
    ecg_mv: np.ndarray
    excluded: bool = False

    def __post_init__(self) -> None:
        _finite("EcgBlock.t0_s", self.t0_s)
        if not (math.isfinite(self.fs_hz) and self.fs_hz > 0):
            raise InputDataError(f"EcgBlock.fs_hz: expected a positive rate, got {self.fs_hz!r}")
        a = self.ecg_mv
        if not isinstance(a, np.ndarray) or a.ndim != 2 or a.shape[1] != N_LEADS or a.shape[0] == 0:
            shape = getattr(a, "shape", type(a).__name__)
            raise InputDataError(f"EcgBlock.ecg_mv: expected shape (n>0, {N_LEADS}), got {shape}")
        if a.dtype != np.float32:
            raise InputDataError(f"EcgBlock.ecg_mv: expected dtype float32, got {a.dtype}")

    @property
    def n_samples(self) -> int:
        return int(self.ecg_mv.shape[0])

    @property
    def t1_s(self) -> float:
        """Session time just past the last sample."""
        return self.t0_s + self.n_samples / self.fs_hz


@dataclass(frozen=True)
class BeatRecord:
    """One detected heartbeat (R peak). rr_s is NaN for the first beat after a gap."""

    t_s: float
    rr_s: float
    hr_bpm: float
    quality: float  # 0 (unusable) .. 1 (clean)

    def __post_init__(self) -> None:
        _finite("BeatRecord.t_s", self.t_s)


@dataclass(frozen=True)
class VitalsRecord:
    """Heart and breathing rate at time t_s, from the model or the classical path."""

    t_s: float
    hr_bpm: float
    br_bpm: float
    quality: float  # 0 .. 1
    source: str  # one of VITALS_SOURCES

    def __post_init__(self) -> None:
        _finite("VitalsRecord.t_s", self.t_s)
        if self.source not in VITALS_SOURCES:
            raise InputDataError(f"VitalsRecord.source: expected one of {VITALS_SOURCES}, got {self.source!r}")


@dataclass(frozen=True)
class SessionEvent:
    """Something that happened during the session (see ``EVENT_KINDS``).

    duration_s: how long it lasted (0 for an instant, e.g. a drop).
    count: frames / bytes / beats concerned, when it has a count.
    """

    t_s: float
    kind: str
    detail: str
    count: int = 0
    duration_s: float = 0.0

    def __post_init__(self) -> None:
        _finite("SessionEvent.t_s", self.t_s)
        if not self.kind or not isinstance(self.kind, str):
            raise InputDataError(f"SessionEvent.kind: expected a non-empty string, got {self.kind!r}")
        if not (math.isfinite(self.duration_s) and self.duration_s >= 0):
            raise InputDataError(f"SessionEvent.duration_s: expected >= 0, got {self.duration_s!r}")
