"""edge.link.reader: thread + bounded queue + reconnect, on scripted transports, loop:// and the simulator."""

import time

import numpy as np
import pytest

from boards import load_profile
from cardioradar.errors import TransportError
from edge.link import DecoderConfig, FrameDecoder, FrameReader, RadarFrame, ReaderConfig, open_port, send_cfg
from edge.link.types import DISCONNECT, DROP, OVERFLOW, RECONNECT, SILENT, LinkEvent
from hardware_sim.firmware.tlv import RangeWindow, encode_frame

FAST = ReaderConfig(queue_size=64, backoff_first_s=0.01, backoff_max_s=0.05, silence_s=0.3)


def packet(n: int) -> bytes:
    hm = np.full((15, 12, 2), n % 1000, np.int16)
    return encode_frame(frame_number=n, time_cpu_cycles=n, pad_rng=np.random.default_rng(n), heatmap=hm,
                        range_window=RangeWindow(2, 15, 12, 0.04))


class ScriptedTransport:
    """Returns the given chunks, then b"" (idle) or raises TransportError (unplugged)."""

    def __init__(self, chunks, name="scripted", unplug_after=False):
        self.chunks = list(chunks)
        self.name = name
        self.unplug_after = unplug_after
        self.closed = False

    def read(self, max_bytes):
        if self.chunks:
            return self.chunks.pop(0)
        if self.unplug_after:
            raise TransportError(f"port {self.name}: read failed: [Errno 5] Input/output error")
        time.sleep(0.01)
        return b""

    def write(self, data):
        pass

    def close(self):
        self.closed = True


def collect(reader, until, timeout_s=5.0):
    items, t_end = [], time.monotonic() + timeout_s
    while time.monotonic() < t_end:
        it = reader.get(0.05)
        if it is not None:
            items.append(it)
            if until(items):
                return items
    raise AssertionError(f"timed out; got {items}")


def nums(items):
    return [i.frame_number for i in items if isinstance(i, RadarFrame)]


def test_unplug_reconnect_with_backoff_keeps_frames_and_reports_the_gap():
    first = b"".join(packet(n) for n in range(1, 6))
    opens = iter([
        ScriptedTransport([first[:1000], first[1000:], packet(6)[:200]], unplug_after=True),
        TransportError("cannot open port /dev/ttyUSB1: [Errno 2] No such file"),
        TransportError("cannot open port /dev/ttyUSB1: [Errno 2] No such file"),
        ScriptedTransport([packet(40)[300:] + packet(41) + packet(42)]),
    ])

    def open_transport():
        x = next(opens)
        if isinstance(x, Exception):
            raise x
        return x

    with FrameReader(open_transport, FrameDecoder(), FAST) as reader:
        items = collect(reader, lambda it: 42 in nums(it))
    assert nums(items) == [1, 2, 3, 4, 5, 41, 42]
    kinds = [i.kind for i in items if isinstance(i, LinkEvent)]
    assert kinds.index(DISCONNECT) < kinds.index(RECONNECT) < kinds.index(DROP)
    (rec,) = [i for i in items if isinstance(i, LinkEvent) and i.kind == RECONNECT]
    assert rec.count == 3  # two failed reopen attempts, then success
    (drop,) = [i for i in items if isinstance(i, LinkEvent) and i.kind == DROP]
    assert (drop.frame_number, drop.count) == (6, 35)  # 6..40 never arrived whole
    assert reader.reconnects == 1


def test_first_open_failure_raises_at_start():
    def fail():
        raise TransportError("cannot open port /dev/ttyUSB7 at 921600 baud")

    with pytest.raises(TransportError, match="ttyUSB7"):
        FrameReader(fail).start()


def test_loop_url_round_trip():
    port = open_port("loop://", 921600)
    with FrameReader(lambda: port, FrameDecoder(), FAST) as reader:
        port.write(b"".join(packet(n) for n in range(10, 20)))
        items = collect(reader, lambda it: len(nums(it)) == 10)
    assert nums(items) == list(range(10, 20))
    assert all(f.range_first_bin == 2 and f.heatmap_iq[0, 0, 0] == f.frame_number for f in items)


def test_slow_consumer_gets_an_overflow_event_with_counts():
    cfg = ReaderConfig(queue_size=8, silence_s=60)
    stream = b"".join(packet(n) for n in range(1, 31))
    with FrameReader(lambda: ScriptedTransport([stream]), FrameDecoder(), cfg) as reader:
        time.sleep(0.3)  # the consumer sleeps: the queue fills up
        items = [reader.get(0.2) for _ in range(8)]
        items += collect(reader, lambda it: any(isinstance(i, LinkEvent) and i.kind == OVERFLOW for i in it), 2)
    (ov,) = [i for i in items if isinstance(i, LinkEvent)]
    assert ov.count == 30 - 8 and ov.frame_number == 9
    assert "consumer too slow" in ov.detail


def test_silent_data_port_is_reported_once():
    with FrameReader(lambda: ScriptedTransport([], name="/dev/ttyUSB1"), FrameDecoder(), FAST) as reader:
        items = collect(reader, lambda it: len(it) >= 1, 3)
        time.sleep(0.5)
        assert reader.get(0.1) is None
    assert items[0].kind == SILENT and "sensor not started" in items[0].detail and "ttyUSB1" in items[0].detail


def test_against_the_simulated_module_over_ptys():
    from hardware_sim.firmware.module import RadarModule
    from hardware_sim.firmware.testsource import PointTargetSource
    from hardware_sim.serial_io import ModuleServer

    profile = load_profile("sim")
    module = RadarModule(profile, None, seed=3, front_end_factory=lambda r, a: PointTargetSource(r, a, seed=1))
    with ModuleServer(module, transport="pty", speed=1.0) as server:
        decoder = FrameDecoder(DecoderConfig.from_profile(profile))
        # Reader first, then the config: no frame is missed from the first one on.
        with FrameReader(lambda: open_port(server.ports.data, profile.ports.data_baud), decoder, FAST) as reader:
            config_port = open_port(server.ports.config, profile.ports.config_baud)
            try:
                result = send_cfg(config_port, profile.cfg_path)
            finally:
                config_port.close()
            assert result.answers[-1].command == "sensorStart"
            items = collect(reader, lambda it: len(nums(it)) >= 60, 5)
    frames = [i for i in items if isinstance(i, RadarFrame)][:60]
    assert nums(frames) == list(range(1, 61))
    assert [i for i in items if isinstance(i, LinkEvent)] == []
    assert all(f.heatmap_iq.shape == (15, 12, 2) for f in frames)
    # provisional window, then where the target moves (firmware/window.py), within 0.5 s
    assert len({f.range_first_bin for f in frames}) <= 2 and frames[50].range_first_bin == frames[-1].range_first_bin
    # The point target (0.8 m, between two range bins: their powers differ by 0.3 %) sits in
    # the middle of the 15 streamed bins, give or take that half bin.
    power = (frames[-1].heatmap_iq.astype(float) ** 2).sum(axis=(1, 2))
    assert power.argmax() in (7, 8) and power[7] > 0.9 * power.max() and power[8] > 0.9 * power.max()
    dt_s = np.diff([f.host_time_s for f in frames])
    assert 0.005 < np.median(dt_s) < 0.02  # paced at 100 frames/s
