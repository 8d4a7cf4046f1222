"""Module bytes -> contiguous int16 frame segments, through the edge's own decoder.

The bytes (a ``frames.bin`` or the packets archived in a session store) go through
``edge.link.protocol.FrameDecoder`` exactly as on the board. Frames lost on the link are
bridged by holding the last frame for up to ``max_fill_frames`` (what the edge runtime
does, so windows stay contiguous); a longer gap starts a new segment.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from cardioradar.errors import InputDataError
from edge.link.protocol import DecoderConfig, FrameDecoder
from edge.link.types import RadarFrame

log = logging.getLogger(__name__)

MAX_FILL_FRAMES = 50  # 0.5 s at 100 Hz


@dataclass(frozen=True)
class FrameSegment:
    """Frames on a contiguous frame-number run.

    frames: int16 (n, range_bins, n_virtual, 2), I/Q as ``RadarFrame.heatmap_iq``.
    first_frame_number: unwrapped frame number of ``frames[0]`` (counter wraps undone).
    filled: bool (n,), True where a lost frame was replaced by the previous one.
    """

    frames: np.ndarray
    first_frame_number: int
    filled: np.ndarray

    def frame_numbers(self) -> np.ndarray:
        """int64 (n,) unwrapped frame number of each frame."""
        return self.first_frame_number + np.arange(len(self.frames), dtype=np.int64)


def decode_segments(chunks: Iterable[bytes], decoder: DecoderConfig | None = None,
                    max_fill_frames: int = MAX_FILL_FRAMES, source: str = "<stream>") -> list[FrameSegment]:
    """Decode a byte stream into contiguous segments (see module doc)."""
    dec = FrameDecoder(decoder)
    frames: list[RadarFrame] = []
    for chunk in chunks:
        frames += [x for x in dec.feed(chunk, 0.0) if isinstance(x, RadarFrame)]
    frames += [x for x in dec.flush(0.0) if isinstance(x, RadarFrame)]
    st = dec.stats
    if st.bytes_skipped or st.packets_rejected or st.frames_lost:
        log.info("%s: %d frames, %d lost, %d bytes skipped, %d packets rejected",
                 source, st.frames, st.frames_lost, st.bytes_skipped, st.packets_rejected)
    if not frames:
        raise InputDataError(f"{source}: no radar frames decoded from {st.bytes_in} bytes")
    return _segments(frames, max_fill_frames, source)


def _segments(frames: list[RadarFrame], max_fill: int, source: str) -> list[FrameSegment]:
    nums = np.array([f.frame_number for f in frames], np.int64)
    steps = np.diff(nums) % (1 << 32)  # the counter is a uint32
    unwrapped = np.concatenate([[nums[0]], nums[0] + np.cumsum(steps)])
    out: list[FrameSegment] = []
    start = 0
    for k in range(1, len(frames) + 1):
        if k < len(frames) and 1 <= steps[k - 1] <= max_fill + 1:
            continue
        out.append(_fill(frames[start:k], unwrapped[start:k]))
        if k < len(frames):
            log.info("%s: gap of %d frames after frame %d: new segment", source, int(steps[k - 1]) - 1,
                     int(unwrapped[k - 1]))
        start = k
    return out


def _fill(frames: list[RadarFrame], nums: np.ndarray) -> FrameSegment:
    n = int(nums[-1] - nums[0]) + 1
    idx = (nums - nums[0]).astype(np.int64)
    src = np.zeros(n, np.int64)
    src[idx] = np.arange(len(frames))
    filled = np.ones(n, bool)
    filled[idx] = False
    src = np.maximum.accumulate(np.where(filled, 0, src))  # hold the last received frame
    heat = np.stack([f.heatmap_iq for f in frames])
    return FrameSegment(heat[src], int(nums[0]), filled)
