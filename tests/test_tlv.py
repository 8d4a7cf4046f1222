"""Data frames: the documented layout (header, TLV order and lengths, padding, heatmap order),
determinism, and the module's frame clock, range-bin selection and UART budget."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from boards import load_profile
from cardioradar.errors import FramingError
from hardware_sim.firmware.module import RadarModule
from hardware_sim.firmware.testsource import PointTargetSource
from hardware_sim.firmware.tlv import (
    MAGIC, PLATFORM_IWR6843, TLV_RANGE_WINDOW, FrameStats, RangeWindow, Temperature,
    decode_frame, encode_frame, packet_length, split_stream,
)
from sim_rig import tlv_entries

STATS = FrameStats(190, 9375, 225, 8, 3, 2)
TEMP = Temperature(0, 1234, (40, 41, 42, 43, 44, 45, 46, 47, 48, 49))


def _heatmap(r=15, n=12) -> np.ndarray:
    h = np.zeros((r, n, 2), np.int16)
    h[..., 0] = np.arange(r)[:, None] * 100 + np.arange(n)[None, :]  # real = 100 r + a
    h[..., 1] = -h[..., 0] - 1  # imaginary
    return h


def _frame(seed=0, **kw) -> bytes:
    args = dict(frame_number=7, time_cpu_cycles=123456789, pad_rng=np.random.default_rng(seed),
                heatmap=_heatmap(), range_window=RangeWindow(20, 15, 12, 0.04324), stats=STATS, temperature=TEMP)
    args.update(kw)
    return encode_frame(**args)


def test_header_fields_at_their_offsets():
    pkt = _frame()
    assert pkt[:8] == bytes([2, 1, 4, 3, 6, 5, 8, 7]) == MAGIC
    version, total, platform, frame_no, cycles, n_obj, n_tlv, sub = struct.unpack_from("<8I", pkt, 8)
    assert version == 0x03050004
    assert total == len(pkt) and total % 32 == 0
    assert platform == PLATFORM_IWR6843 == 0xA6843
    assert (frame_no, cycles, n_obj, n_tlv, sub) == (7, 123456789, 0, 4, 0)


def test_tlv_order_lengths_and_padding():
    pkt = _frame()
    tlvs = tlv_entries(pkt)
    assert [(t, ln) for t, ln, _ in tlvs] == [(8, 720), (TLV_RANGE_WINDOW, 8), (6, 24), (9, 28)]
    end = tlvs[-1][2] + tlvs[-1][1]
    assert len(pkt) == 864 == packet_length(15, 12) and end == 852
    padding = pkt[end:]
    assert len(padding) == 12 and 0 not in padding  # the device sends stale buffer bytes, never zeros
    assert struct.unpack_from("<4H", pkt, tlvs[1][2]) == (20, 15, 12, 4324)
    assert struct.unpack_from("<6I", pkt, tlvs[2][2]) == (190, 9375, 225, 8, 3, 2)


def test_detected_points_tlv_is_first_and_empty():
    pkt = _frame(detected_points=True)
    assert [(t, ln) for t, ln, _ in tlv_entries(pkt)][:2] == [(1, 0), (8, 720)]


def test_temperature_only_with_stats_and_no_heatmap_when_off():
    pkt = _frame(stats=None, heatmap=None, range_window=None)
    assert tlv_entries(pkt) == [] and len(pkt) == 64 and 0 not in pkt[40:]


def test_heatmap_wire_order_is_imaginary_first_range_major():
    pkt = _frame()
    _, ln, off = tlv_entries(pkt)[0]
    wire = np.frombuffer(pkt, "<i2", count=ln // 2, offset=off)
    h = _heatmap()
    expected = []
    for r in range(15):
        for a in range(12):
            expected += [h[r, a, 1], h[r, a, 0]]  # Im(a, r), Re(a, r)
    assert wire.tolist() == [int(v) for v in expected]
    assert np.array_equal(decode_frame(pkt).heatmap, h)


def test_same_seed_same_bytes_and_padding_depends_on_seed():
    assert _frame(seed=3) == _frame(seed=3)
    assert _frame(seed=3)[:852] == _frame(seed=4)[:852] and _frame(seed=3) != _frame(seed=4)


def test_decode_names_the_bad_field():
    pkt = _frame()
    with pytest.raises(FramingError, match="magic"):
        decode_frame(b"\0" + pkt[1:])
    with pytest.raises(FramingError, match="totalPacketLen"):
        decode_frame(pkt[:-32])
    with pytest.raises(FramingError, match="header"):
        decode_frame(pkt[:20])


@settings(max_examples=40, deadline=None)
@given(arrays(np.int16, st.tuples(st.integers(1, 20), st.integers(1, 12), st.just(2))), st.integers(0, 2**32 - 1))
def test_round_trip(heatmap, cycles):
    r, n, _ = heatmap.shape
    pkt = _frame(heatmap=heatmap, range_window=RangeWindow(3, r, n, 0.05), time_cpu_cycles=cycles)
    d = decode_frame(pkt)
    assert np.array_equal(d.heatmap, heatmap) and d.header.time_cpu_cycles == cycles
    assert d.stats == STATS and d.temperature == TEMP and len(pkt) % 32 == 0


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200))
def test_decoder_never_crashes_on_garbage(data):
    try:
        decode_frame(MAGIC + data)
    except FramingError:
        pass


# --- the module: frame clock, range-bin selection, UART budget ----------------------------------

def _module(seed=1, extra_lines=(), targets=((0.8, 3000.0),)):
    profile = load_profile("sim")
    m = RadarModule(profile, None, seed=seed, front_end_factory=lambda r, a: PointTargetSource(r, a, targets=targets))
    lines = [ln for ln in profile.cfg_path.read_text().splitlines() if ln != "sensorStart"]
    m.run_cfg_text("\n".join(lines + list(extra_lines) + ["sensorStart"]))
    assert m.running
    return m


def test_frame_clock_with_drift_and_cycle_counter():
    m = _module(seed=1)
    frames = [m.next_frame() for _ in range(200)]
    assert [f.frame_number for f in frames] == list(range(1, 201))
    assert abs(m.clock_drift_ppm) <= 20.0 and m.clock_drift_ppm != 0.0
    period = np.diff([f.t_frame_s for f in frames])
    assert np.allclose(period, 0.01 / (1 + m.clock_drift_ppm * 1e-6), rtol=0, atol=1e-12)
    cycles = np.array([f.time_cpu_cycles for f in frames], np.int64)
    steps = np.diff(cycles) % 2**32  # wraps at 2**32
    assert np.allclose(steps, 2_000_000, atol=1)  # 10 ms of a 200 MHz device clock
    assert _module(seed=2).clock_drift_ppm != m.clock_drift_ppm


def test_range_bins_centred_on_the_moving_reflector_in_window():
    # A strong reflector outside the window (2.5 m) must not win over the one inside (0.9 m);
    # the window settles on where the (phase-rotating) target moves (firmware/window.py).
    m = _module(targets=((0.9, 2000.0), (2.5, 20000.0)))
    f = [m.next_frame() for _ in range(60)][-1]
    step = m.config.profile.range_resolution_m
    centre = int(round(0.9 / step))
    assert f.first_bin == centre - 7 and f.num_bins == 15
    d = decode_frame(f.packet)
    assert d.range_window.first_bin == f.first_bin
    assert int(np.argmax((d.heatmap.astype(float) ** 2).sum(axis=(1, 2)))) == 7


def test_same_seed_same_frames():
    m1, m2, m3 = _module(seed=5), _module(seed=5), _module(seed=6)
    a = [m1.next_frame().packet for _ in range(20)]
    assert a == [m2.next_frame().packet for _ in range(20)]
    assert a != [m3.next_frame().packet for _ in range(20)]


def test_uart_budget_drops_frames_and_stats_show_it():
    ok = _module()
    frames = [ok.next_frame() for _ in range(50)]
    assert not any(f.dropped for f in frames)  # 864 B x 100 Hz fits 921600 baud
    slow = _module(extra_lines=["configDataPort 460800 0"])  # 18.75 ms per packet > 10 ms period
    frames = [slow.next_frame() for _ in range(50)]
    sent = [f for f in frames if not f.dropped]
    assert [f.frame_number for f in frames] == list(range(1, 51))  # the counter still advances
    assert 20 <= len(sent) <= 30 and all(f.packet == b"" for f in frames if f.dropped)
    stats = [decode_frame(f.packet).stats for f in sent[1:]]
    assert all(s.transmit_output_time_us > 10_000 and s.inter_frame_processing_margin_us == 0 for s in stats)
    numbers = [decode_frame(f.packet).header.frame_number for f in sent]
    assert np.all(np.diff(numbers) >= 2)


def test_num_frames_stops_the_sensor():
    profile = load_profile("sim")
    m = RadarModule(profile, None, seed=0, front_end_factory=lambda r, a: PointTargetSource(r, a))
    text = profile.cfg_path.read_text().replace("frameCfg 0 2 1 0 10 1 0", "frameCfg 0 2 1 5 10 1 0")
    m.run_cfg_text(text)
    frames = []
    while (f := m.next_frame()) is not None:
        frames.append(f)
    assert len(frames) == 5 and not m.running


def test_split_stream_finds_every_packet():
    m = _module()
    stream = b"\x01\x02junk" + b"".join(m.next_frame().packet for _ in range(10))
    assert [decode_frame(p).header.frame_number for p in split_stream(stream)] == list(range(1, 11))
