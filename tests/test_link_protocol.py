"""edge.link.protocol: the incremental frame decoder (pure: bytes in, frames and events out)."""

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.link.protocol import MAGIC, DecoderConfig, FrameDecoder
from edge.link.types import DROP, FORMAT, LENGTH, RESYNC, SEQUENCE, LinkEvent, RadarFrame
from hardware_sim.firmware.tlv import FrameStats, RangeWindow, Temperature, encode_frame


def heatmap(seed: int, bins: int = 15, ants: int = 12) -> np.ndarray:
    return np.random.default_rng(seed).integers(-32768, 32768, (bins, ants, 2)).astype(np.int16)


def packet(n: int, seed: int = 0, *, first_bin: int = 4, bins: int = 15, ants: int = 12) -> bytes:
    """One packet as the simulated module sends it (TLVs 1, 8, range window, 6, 9)."""
    rng = np.random.default_rng([seed, n])
    return encode_frame(
        frame_number=n, time_cpu_cycles=2_000_000 * n, pad_rng=rng, heatmap=heatmap(n, bins, ants),
        range_window=RangeWindow(first_bin, bins, ants, 0.0433), stats=FrameStats(1, 2, 3, 4, 5, 6),
        temperature=Temperature(1, 7, tuple(range(10))), detected_points=True,
    )


def frames(items):
    return [i for i in items if isinstance(i, RadarFrame)]


def events(items, kind=None):
    return [i for i in items if isinstance(i, LinkEvent) and (kind is None or i.kind == kind)]


def feed_all(dec, data: bytes, chunk: int = 4096, t: float = 0.0):
    out = []
    for k in range(0, len(data), chunk):
        out += dec.feed(data[k:k + chunk], t)
    return out


def test_hand_built_frame_follows_the_spec_layout():
    # Built field by field from docs: imaginary first, range bin major, unknown TLV skipped.
    bins, ants = 2, 3
    re = np.arange(bins * ants).reshape(bins, ants) * 10 + 1
    im = -re
    payload = b"".join(struct.pack("<hh", im[r, a], re[r, a]) for r in range(bins) for a in range(ants))
    tlvs = [(0x7777, b"unknown!"), (8, payload), (0x4352, struct.pack("<4H", 9, bins, ants, 433))]
    body = b"".join(struct.pack("<2I", t, len(p)) + p for t, p in tlvs)
    total = -(-(40 + len(body)) // 32) * 32
    head = MAGIC + struct.pack("<8I", 0x03050004, total, 0xA6843, 77, 123456, 0, len(tlvs), 0)
    pkt = head + body + b"\xaa" * (total - 40 - len(body))
    out = FrameDecoder(DecoderConfig(range_bins=None, n_virtual=None)).feed(pkt, 5.0)
    assert out and isinstance(out[0], RadarFrame), out
    f = out[0]
    assert (f.frame_number, f.time_cpu_cycles, f.host_time_s, f.range_first_bin) == (77, 123456, 5.0, 9)
    assert f.heatmap_iq.dtype == np.int16 and f.heatmap_iq.shape == (bins, ants, 2)
    np.testing.assert_array_equal(f.heatmap_iq[..., 0], re)
    np.testing.assert_array_equal(f.heatmap_iq[..., 1], im)


@pytest.mark.parametrize("chunk", [1, 7, 100, 863, 100_000])
def test_simulator_packets_round_trip_whatever_the_read_size(chunk):
    stream = b"".join(packet(n) for n in range(1, 8))
    out = feed_all(FrameDecoder(), stream, chunk)
    assert events(out) == []
    got = frames(out)
    assert [f.frame_number for f in got] == list(range(1, 8))
    for f in got:
        np.testing.assert_array_equal(f.heatmap_iq, heatmap(f.frame_number))
        assert f.time_cpu_cycles == 2_000_000 * f.frame_number and f.range_first_bin == 4
        assert not f.heatmap_iq.flags.writeable


def test_garbage_before_the_first_magic_is_one_resync_event():
    out = FrameDecoder().feed(b"\x00\x13garbage" * 10 + packet(1) + packet(2), 1.0)
    assert [e.kind for e in events(out)] == [RESYNC]
    assert events(out)[0].count == 90
    assert [f.frame_number for f in frames(out)] == [1, 2]


def test_truncated_frame_is_reported_and_the_next_one_decoded_at_once():
    dec = FrameDecoder()
    out = dec.feed(packet(1) + packet(2)[:500] + packet(3), 0.0)
    assert [f.frame_number for f in frames(out)] == [1, 3]
    assert [e.kind for e in events(out)] == [LENGTH, DROP]
    drop = events(out, DROP)[0]
    assert (drop.frame_number, drop.count) == (2, 1)


@pytest.mark.parametrize("cut", [1, 8, 20, 39, 41, 700, 850, 860])
def test_truncation_anywhere_loses_only_the_cut_frame(cut):
    full = packet(2)
    stream = packet(1) + full[:cut] + packet(3) + packet(4)
    out = feed_all(FrameDecoder(), stream, 64)
    nums = [f.frame_number for f in frames(out)]
    # Cutting only padding keeps the frame; otherwise frame 2 is reported lost.
    lost = sum(e.count for e in events(out, DROP))
    assert set(nums) | ({2} if lost else set()) == {1, 2, 3, 4}
    assert nums[-2:] == [3, 4] and len(nums) + lost == 4


def test_padding_cut_short_keeps_the_frame_and_the_next():
    full = packet(2)
    used = 40 + 8 + (8 + 720) + (8 + 8) + (8 + 24) + (8 + 28)  # TLVs 1, 8, range window, 6, 9
    assert len(full) - used == 4  # 4 bytes of padding
    stream = packet(1) + full[:-3] + packet(3)
    nums = [f.frame_number for f in frames(FrameDecoder().feed(stream, 0.0))]
    assert nums == [1, 2, 3]


def test_implausible_lengths_are_rejected_without_waiting_for_them():
    bad = bytearray(packet(2))
    struct.pack_into("<I", bad, 12, 0x7FFFFFE0)  # totalPacketLen claims 2 GB
    out = FrameDecoder().feed(packet(1) + bytes(bad) + packet(3), 0.0)
    assert [f.frame_number for f in frames(out)] == [1, 3]
    assert events(out, LENGTH) and "totalPacketLen" in events(out, LENGTH)[0].detail
    assert sum(e.count for e in events(out, DROP)) == 1


def test_tlv_length_past_the_packet_is_rejected():
    bad = bytearray(packet(2))
    struct.pack_into("<I", bad, 40 + 8 + 4, 5000)  # second TLV's length
    out = FrameDecoder().feed(packet(1) + bytes(bad) + packet(3), 0.0)
    assert [f.frame_number for f in frames(out)] == [1, 3]
    assert any("runs past" in e.detail for e in events(out, LENGTH))


def test_heatmap_size_must_match_the_range_window():
    out = FrameDecoder().feed(packet(1) + packet(2, bins=14) + packet(3), 0.0)
    assert [f.frame_number for f in frames(out)] == [1, 3]
    fmt = events(out, FORMAT)
    assert fmt and fmt[0].frame_number == 2 and "bin count: expected 15, got 14" in fmt[0].detail
    assert sum(e.count for e in events(out, DROP)) == 1
    # Without expectations the range-window TLV decides the shape.
    f = frames(FrameDecoder(DecoderConfig(range_bins=None, n_virtual=None)).feed(packet(5, bins=14), 0.0))
    assert f[0].heatmap_iq.shape == (14, 12, 2)


def test_unexplained_gap_waits_for_confirmation_then_reports_the_drop():
    dec = FrameDecoder()
    assert [f.frame_number for f in frames(dec.feed(packet(1) + packet(2), 0.0))] == [1, 2]
    out = dec.feed(packet(6), 1.0)
    assert out == []  # frame 6 might carry a corrupted number: held until 7 confirms it
    out = dec.feed(packet(7), 2.0)
    assert [f.frame_number for f in frames(out)] == [6, 7]
    (drop,) = events(out, DROP)
    assert (drop.frame_number, drop.count) == (3, 3)


def test_corrupted_frame_number_is_one_drop_not_a_bogus_gap():
    bad = bytearray(packet(3))
    struct.pack_into("<I", bad, 20, 3 + (1 << 20))
    out = FrameDecoder().feed(packet(1) + packet(2) + bytes(bad) + packet(4) + packet(5), 0.0)
    assert [f.frame_number for f in frames(out)] == [1, 2, 4, 5]
    (drop,) = events(out, DROP)
    assert (drop.frame_number, drop.count) == (3, 1) and "corrupted" in drop.detail


def test_counter_wrap_restart_and_duplicate():
    top = (1 << 32) - 1
    out = FrameDecoder().feed(packet(top - 1) + packet(top) + packet(0) + packet(1), 0.0)
    assert [f.frame_number for f in frames(out)] == [top - 1, top, 0, 1] and events(out) == []
    out = FrameDecoder().feed(packet(50) + packet(51) + packet(1) + packet(2), 0.0)
    assert [f.frame_number for f in frames(out)] == [50, 51, 1, 2]
    assert [e.kind for e in events(out)] == [SEQUENCE] and "restarted" in events(out)[0].detail
    out = FrameDecoder().feed(packet(1) + packet(2) + packet(2) + packet(3), 0.0)
    assert [f.frame_number for f in frames(out)] == [1, 2, 3]
    assert [e.kind for e in events(out)] == [SEQUENCE]


def test_disconnect_explains_the_gap_and_releases_a_held_frame():
    dec = FrameDecoder()
    dec.feed(packet(1) + packet(5), 0.0)  # 5 held: unexplained gap
    out = dec.note_disconnect(1.0)
    assert [f.frame_number for f in frames(out)] == [5]
    out = dec.note_disconnect(1.0) + dec.feed(packet(2)[:300], 1.0)
    out = dec.note_disconnect(2.0)
    assert [e.kind for e in events(out)] == [LENGTH] and "disconnect" in events(out)[0].detail
    out = dec.feed(packet(40)[100:] + packet(41), 3.0)  # the port comes back mid-frame
    assert [f.frame_number for f in frames(out)] == [41]
    assert [(e.kind, e.count) for e in events(out)] == [(RESYNC, len(packet(40)) - 100), (DROP, 35)]


def test_implausible_number_after_a_disconnect_waits_for_confirmation():
    dec = FrameDecoder()
    dec.feed(packet(1) + packet(2), 0.0)
    dec.note_disconnect(1.0)
    assert dec.feed(packet(5000), 2.0) == []  # more than max_unconfirmed_gap: held
    out = dec.feed(packet(5001), 2.1)
    assert [f.frame_number for f in frames(out)] == [5000, 5001]
    assert [(e.kind, e.count) for e in events(out)] == [(DROP, 4997)]
    # A held frame with an implausible number is discarded at a disconnect, not trusted.
    dec = FrameDecoder()
    dec.feed(packet(1) + packet(2) + packet(2 + (1 << 24)), 0.0)
    out = dec.note_disconnect(1.0)
    assert frames(out) == [] and [e.kind for e in events(out)] == [SEQUENCE]


def test_buffer_stays_bounded_on_endless_garbage():
    dec = FrameDecoder()
    rng = np.random.default_rng(3)
    for _ in range(50):
        dec.feed(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes().replace(MAGIC, b""), 0.0)
        assert len(dec._buf) <= dec.config.max_packet_bytes


# --- property tests --------------------------------------------------------------------------

_PIECES = st.one_of(
    st.binary(max_size=300),
    st.just(MAGIC),
    st.builds(lambda n: packet(n), st.integers(0, 50)),
    st.builds(lambda n, k: packet(n)[:k], st.integers(0, 50), st.integers(0, 900)),
    st.builds(lambda n, k, b: (lambda p: p[:k] + bytes([b]) + p[k + 1:])(packet(n)),
              st.integers(0, 50), st.integers(0, 863), st.integers(0, 255)),
    st.builds(lambda h: MAGIC + h, st.binary(min_size=32, max_size=64)),
)


def _check_items(items):
    for it in items:
        assert isinstance(it, (RadarFrame, LinkEvent))
        if isinstance(it, RadarFrame):
            assert it.heatmap_iq.dtype == np.int16 and it.heatmap_iq.shape == (15, 12, 2)
            assert 0 <= it.frame_number < 1 << 32
        else:
            assert it.count >= 0 and it.detail


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000), st.integers(1, 600))
def test_arbitrary_bytes_never_raise(data, chunk):
    dec = FrameDecoder()
    items = feed_all(dec, data, chunk) + dec.flush(1.0)
    _check_items(items)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=12), st.integers(1, 900))
def test_damage_then_clean_frames_recovers_within_one_frame(pieces, chunk):
    """Any mix of garbage, partial, corrupted and whole packets, then clean frames 100..102:
    the decoder never raises, and at worst loses frame 100 (the first after the damage)."""
    dec = FrameDecoder()
    stream = b"".join(pieces) + b"".join(packet(n) for n in (100, 101, 102))
    items = feed_all(dec, stream, chunk) + dec.flush(1.0)
    _check_items(items)
    nums = [f.frame_number for f in frames(items)]
    assert nums[-2:] == [101, 102], (nums, events(items))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000).filter(lambda b: MAGIC[:1] not in b), st.integers(1, 500))
def test_garbage_without_magic_loses_nothing(garbage, chunk):
    items = feed_all(FrameDecoder(), garbage + b"".join(packet(n) for n in (1, 2, 3)), chunk)
    assert [f.frame_number for f in frames(items)] == [1, 2, 3]



@pytest.mark.parametrize("chunk", [7, 4096])
def test_frame_carries_its_packet_bytes_exactly(chunk):
    """The session's raw archive stores what came over the wire, padding included."""
    packets = [packet(n, seed=n) for n in range(1, 5)]
    got = frames(feed_all(FrameDecoder(), b"".join(packets), chunk=chunk))
    assert [f.packet for f in got] == packets
