"""Frame codec: round trips, compression flag, resync after noise/damage, random bytes never crash."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardioradar.errors import FramingError
from edge.agent.protocol import (FLAG_ZLIB, MAX_PAYLOAD, FrameDecoder, Message, Op, decode_message, encode_frame,
                                 encode_message)


def _roundtrip(msg, **kw):
    frames = FrameDecoder().feed(encode_message(msg, **kw))
    assert len(frames) == 1
    return frames[0], decode_message(frames[0])


def test_message_round_trip():
    msg = Message(Op.UPLOAD_DATA, 513, False, {"offset": 16384, "name": "ü"}, bytes(range(256)) * 3)
    frame, back = _roundtrip(msg)
    assert back == msg and frame.seq == 513


def test_compression_only_when_smaller():
    text = b"def f(x):\n    return x\n" * 400
    frame, back = _roundtrip(Message(Op.UPLOAD_DATA, 1, fields={}, blob=text), compress=True)
    assert frame.flags & FLAG_ZLIB and back.blob == text and len(frame.payload) < len(text) / 5
    noise = np.random.default_rng(5).bytes(4000)  # incompressible: sent as is
    frame, back = _roundtrip(Message(Op.UPLOAD_DATA, 2, fields={}, blob=noise), compress=True)
    assert not frame.flags & FLAG_ZLIB and back.blob == noise


def test_byte_at_a_time_and_noise_between_frames():
    msgs = [Message(Op.HELLO, i, i % 2 == 1, {"i": i}, b"x" * i) for i in range(5)]
    stream = b"garbage\xc5" + b"\xc5\x7a\x00".join(encode_message(m) for m in msgs) + b"\xc5"
    dec = FrameDecoder()
    frames = [f for b in stream for f in dec.feed(bytes([b]))]
    assert [decode_message(f) for f in frames] == msgs
    assert dec.stats.skipped_bytes > 0


@pytest.mark.parametrize("pos", [0, 3, 7, 11, 20, -1])
def test_damaged_frame_is_dropped_and_the_next_one_decoded(pos):
    a = bytearray(encode_message(Message(Op.HELLO, 1, fields={"a": 1}, blob=b"y" * 40)))
    a[pos] ^= 0x10
    b = encode_message(Message(Op.LIST, 2, fields={}))
    frames = FrameDecoder().feed(bytes(a) + b)
    assert [(f.op, f.seq) for f in frames] == [(Op.LIST, 2)]


def test_corrupted_length_does_not_stall():
    a = bytearray(encode_message(Message(Op.HELLO, 1)))
    a[9] = 0x03  # length now ~50 MB: the header check rejects it at once
    frames = FrameDecoder().feed(bytes(a) + encode_message(Message(Op.HELLO, 2)))
    assert [f.seq for f in frames] == [2]


def test_malformed_payloads_raise_framing_error():
    with pytest.raises(FramingError):
        encode_frame(1, 1, 0, b"x" * (MAX_PAYLOAD + 1))
    for payload in (b"", b"\x10\x00{}", b"\x02\x00[]", b"\x02\x00{}" + b"junk"):
        (f,) = FrameDecoder().feed(encode_frame(1, 1, FLAG_ZLIB if payload.endswith(b"junk") else 0, payload))
        with pytest.raises(FramingError):
            decode_message(f)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 599))
def test_random_bytes_never_crash_and_frames_survive(noise, cut):
    msg = Message(Op.PULL_DATA, 77, True, {"offset": 5}, b"payload")
    wire = encode_message(msg)
    cut = min(cut, len(noise))
    dec = FrameDecoder()
    got = dec.feed(noise[:cut]) + dec.feed(wire) + dec.feed(noise[cut:]) + dec.feed(wire)
    assert sum(1 for f in got if f.seq == 77 and f.op == Op.PULL_DATA) >= 1
    for f in got:
        try:
            decode_message(f)
        except FramingError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 0xFFFF), st.dictionaries(st.text(max_size=8), st.integers()), st.binary(max_size=3000),
       st.booleans())
def test_round_trip_property(seq, fields, blob, compress):
    msg = Message(Op.UPLOAD_DATA, seq, False, fields, blob)
    _, back = _roundtrip(msg, compress=compress)
    assert back == msg
