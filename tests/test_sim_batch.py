"""The module's batch path (``next_frames`` -> ``FrameBlock``, ``PacketTemplate.encode_block``)
gives the bytes and frames of the one-frame path, dropped frames and reselection included."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from boards import load_profile
from hardware_sim.firmware.module import RadarModule
from hardware_sim.firmware.testsource import PointTargetSource
from hardware_sim.firmware.tlv import (
    FrameStats, PacketTemplate, RangeWindow, Temperature, heatmap_payload, padding_block,
)
from hardware_sim.record import build_module, iter_blocks, start_module


@pytest.mark.parametrize("heat,stats,points", [(True, True, False), (False, True, True), (True, False, True)])
def test_encode_block_rows_equal_encode(heat, stats, points):
    rng = np.random.default_rng(7)
    n = 9
    hm = rng.integers(-32768, 32767, size=(n, 15, 12, 2), endpoint=True).astype(np.int16)
    tpl = PacketTemplate(heatmap_shape=(15, 12) if heat else None,
                         range_window=RangeWindow(9, 15, 12, 0.04324) if heat else None,
                         stats=stats, temperature=stats, detected_points=points)
    numbers = np.arange(2**32 - 3, 2**32 - 3 + n)  # wraps inside the block
    cycles = rng.integers(0, 2**40, n)
    pad = padding_block(99, 1000, n)
    st = [PacketTemplate.stats_payload(FrameStats(190 + i, 9375, 225, 8, 3, 2)) for i in range(n)]
    te = [PacketTemplate.temperature_payload(Temperature(0, 1000 * i, tuple(range(40, 50)))) for i in range(n)]
    st_rows = np.frombuffer(b"".join(st), np.uint8).reshape(n, -1) if stats else None
    te_rows = np.frombuffer(b"".join(te), np.uint8).reshape(n, -1) if stats else None
    rows = tpl.encode_block(numbers, cycles, pad, hm if heat else None, st_rows, te_rows)
    assert rows.shape == (n, tpl.total_bytes)
    for i in range(n):
        one = tpl.encode(int(numbers[i]), int(cycles[i]), pad[i, :tpl.pad_bytes].tobytes(),
                         heatmap_payload(hm[i]) if heat else None, st[i] if stats else None,
                         te[i] if stats else None)
        assert rows[i].tobytes() == one
    with pytest.raises(ValueError, match="padding"):
        tpl.encode_block(numbers, cycles, pad[:-1], hm if heat else None, st_rows, te_rows)
    if stats:
        with pytest.raises(ValueError, match="stats_rows"):
            tpl.encode_block(numbers, cycles, pad, hm if heat else None, None, te_rows)


def _point_module(extra=(), reselect=None):
    profile = load_profile("sim")
    m = RadarModule(profile, None, seed=3, front_end_factory=lambda r, a: PointTargetSource(r, a))
    lines = [ln for ln in profile.cfg_path.read_text().splitlines() if ln != "sensorStart"]
    if reselect is not None:
        lines.append(f"rangeBinSelCfg 0.25 1.50 15 {reselect}")
    m.run_cfg_text("\n".join(lines + list(extra) + ["sensorStart"]))
    assert m.running
    return m


@pytest.mark.parametrize("extra,reselect", [((), None), (("configDataPort 460800 0",), 7)])
def test_blocks_equal_single_frames(extra, reselect):
    """Blocks of odd sizes, mixed with single frames, give the one-frame path's frames."""
    ref = _point_module(extra, reselect)
    frames = [ref.next_frame() for _ in range(60)]
    m = _point_module(extra, reselect)
    got = []
    sizes = itertools.cycle([5, 1, 13, 2, 40])
    while len(got) < 60:
        size = next(sizes)
        if size == 1:
            got.append(m.next_frame())
            continue
        block = m.next_frames(min(size, 60 - len(got)))
        assert block.data() == b"".join(block.frame(j).packet for j in range(len(block)))
        got.extend(block)
    assert m.frames_made == 60
    for a, b in zip(frames, got):
        assert a.packet == b.packet and a.dropped == b.dropped and a.first_bin == b.first_bin
        assert (a.frame_number, a.t_frame_s, a.t_send_s, a.time_cpu_cycles) == (
            b.frame_number, b.t_frame_s, b.t_send_s, b.time_cpu_cycles)
        assert np.array_equal(a.heatmap, b.heatmap)
    if extra:  # the slow UART drops frames; the stats of the next sent frame show it
        assert any(f.dropped for f in frames) and not all(f.dropped for f in frames)


def test_record_blocks_are_the_data_uart_bytes():
    module, _ = build_module("healthy-rest", seed=2, mode="fast", batch_frames=30)
    start_module(module)
    blocks = list(iter_blocks(module, 0.75))
    sizes = [len(b) for b in blocks]
    assert sum(sizes) == 75 and max(sizes) == 30
    # a block ends early only where the range window moves (firmware/window.py) or at the end
    assert all(n == 30 or b is blocks[-1] or nxt.first_bin != b.first_bin
               for n, b, nxt in zip(sizes, blocks, blocks[1:] + [None]))
    assert np.array_equal(np.concatenate([b.frame_numbers for b in blocks]), np.arange(1, 76))
    assert all(b.packets.shape[1] == len(b.frame(0).packet) for b in blocks)
