"""The data-UART streams of both firmwares against the rules TI's own parsers rely on.

Written from TI's documented layout and from what TI's parsers were measured to do (docs/
radar-module.md, "TI's parsers"); no TI code is used or copied here:
- Packet (SDK 3.5 ``mmw_output.h``, ``mss_main.c`` ``MmwDemo_transmitProcessedOutput``):
  40-byte header, numTLVs x {uint32 type, uint32 length = payload bytes only, payload},
  totalPacketLen = 40 + sum(8 + length) rounded up to ``MMWDEMO_OUTPUT_MSG_SEGMENT_LEN`` (32).
  The Industrial Visualizer recomputes exactly this and flags a frame whose sum differs.
- SDK ``parser_mmw_demo.py``: a frame passes only with numDetectedObj > 0; it then reads
  numDetectedObj x 16 bytes of points from the first TLV when it is type 1, and side info
  from the second when it is type 7.
- Industrial toolbox 4.7 people-counting visualizer (``oob_parser.py``, "SDK Out of Box
  Demo"): reads numTLVs TLV headers; after a type 1 or 7 header it steps over the payload,
  after any other header it reads the next header right behind it (inside that payload). A
  word pair read there as type 1 or 7 makes it drop ``length`` bytes, later frames with them.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hardware_sim.firmware.tlv import FrameStats, RangeWindow, Temperature, encode_frame
from hardware_sim.record import build_module
from sim_rig import tlv_entries

MAGIC = bytes.fromhex("0201040306050807")
CFG_DIR = Path(__file__).parent / "data" / "radar-cfg"  # TI's cfgs (copies of ../shared/data/radar-cfg)


def _packets(data: bytes) -> list[bytes]:
    out, off = [], data.find(MAGIC)
    while 0 <= off and off + 40 <= len(data):
        total = struct.unpack_from("<I", data, off + 12)[0]
        out.append(data[off: off + total])
        off = data.find(MAGIC, off + total)
    return out


def assert_ti_length_convention(pkt: bytes) -> None:
    assert pkt[:8] == MAGIC
    total, _platform, _frame, _cycles, n_obj, n_tlv = struct.unpack_from("<6I", pkt, 12)
    assert total == len(pkt)
    tlvs = tlv_entries(pkt)
    used = 40 + sum(8 + ln for _, ln, _ in tlvs)
    assert total == 32 * -(-used // 32)  # the Industrial Visualizer's totalLenCheck
    assert all(off + ln <= total for _, ln, off in tlvs)
    types = [t for t, _, _ in tlvs]
    if 1 in types:  # points first, 16 bytes each; side info second, 4 bytes each
        assert types[0] == 1 and tlvs[0][1] == 16 * n_obj
    if 7 in types:
        assert types[1] == 7 and tlvs[1][1] == 4 * n_obj and n_obj > 0


def pc_parser_header_reads(pkt: bytes) -> list[tuple[int, int, int]]:
    """(offset, type, length) of each TLV header the people-counting parser reads."""
    n = struct.unpack_from("<I", pkt, 32)[0]
    out, off = [], 40
    for _ in range(n):
        if off + 8 > len(pkt):
            break
        t, ln = struct.unpack_from("<2I", pkt, off)
        out.append((off, t, ln))
        off += 8 + (ln if t in (1, 7) else 0)
    return out


def assert_pc_parser_reads_it(pkt: bytes) -> None:
    """No header it reads is a type 1 or 7 except the real ones: it never skips into later frames."""
    real = {off - 8 for _, _, off in tlv_entries(pkt)}
    for off, t, ln in pc_parser_header_reads(pkt):
        if t in (1, 7):
            assert off in real and off + 8 + ln <= len(pkt), (off, t, ln)


def _oob_packets(name: str, n: int, edit=()) -> list[bytes]:
    module, _ = build_module("healthy-rest", seed=1, mode="fast", board="sim", batch_frames=6)
    module.select_firmware("oob")
    text = (CFG_DIR / name).read_text()
    for a, b in edit:
        text = text.replace(a, b)
    answer, _ = module.run_cfg_text(text)
    assert module.running, answer.decode(errors="replace")[-300:]
    return _packets(module.next_frames(n).data())


def test_sim_record_stream_as_docs_tell_a_user(tmp_path):
    """`cardioradar sim record` (CardioRadar firmware): every packet in TI's layout; no
    detected objects, so TI's SDK parser (points only) passes none of them (documented). The
    people-counting parser is not checked here: the heatmap comes before the stats and
    temperature TLVs, which the edge's decoder needs to see a loss inside the heatmap (docs/
    radar-module.md, "TI's parsers")."""
    subprocess.run([sys.executable, "-m", "cardioradar", "sim", "record", "--seconds", "3",
                    "--out", str(tmp_path / "r")], check=True, capture_output=True)
    data = (tmp_path / "r" / "frames.bin").read_bytes()
    packets = _packets(data)
    assert len(packets) == 300 and b"".join(packets) == data
    for pkt in packets:
        assert_ti_length_convention(pkt)
        assert struct.unpack_from("<I", pkt, 28)[0] == 0  # numDetectedObj
        types = [t for t, _, _ in tlv_entries(pkt)]
        assert types.index(8) < types.index(6)  # a loss inside the heatmap shifts the TLVs after it


def test_oob_streams_of_tis_cfgs_follow_the_layout_tis_parsers_use():
    """TI's two 68xx OOB cfgs (and every guiMonitor output on): the SDK parser's rules (points
    in TLV 1, side info in TLV 7, numDetectedObj > 0 in every frame of the scene) and the
    people-counting parser's header reads (which land in the range profile, never a 1/7)."""
    cases = [("xwr68xx_oob_profile_3d.cfg", ()), ("xwr68xx_oob_profile_2d.cfg", ()),
             ("xwr68xx_oob_profile_3d.cfg", (("guiMonitor -1 1 1 1 0 0 1", "guiMonitor -1 1 1 1 1 1 1"),
                                             ("sensorStart", "configDataPort 3125000 0\nsensorStart")))]
    for name, edit in cases:
        packets = _oob_packets(name, 4, edit)
        assert len(packets) == 4, name
        for pkt in packets:
            assert_ti_length_convention(pkt)
            assert_pc_parser_reads_it(pkt)
            assert struct.unpack_from("<I", pkt, 28)[0] > 0, name


def test_the_pc_parser_model_catches_a_heatmap_word_read_as_a_header():
    """The check can fail: a CardioRadar packet (heatmap before other TLVs) with a heatmap word
    pair (1, 0) right where the people-counting parser reads its next header is caught: this is
    how that parser loses frames of the CardioRadar stream (docs/radar-module.md)."""
    heat = np.zeros((15, 12, 2), np.int16)
    heat[0, 0] = [0, 1]  # (re, im) = (0, 1): wire words (Im, Re) = (1, 0) read as type 1 ...
    heat[0, 1] = [-1, -1]  # ... of length 0xFFFFFFFF: everything buffered is dropped
    pkt = encode_frame(frame_number=1, time_cpu_cycles=0, pad_rng=np.random.default_rng(0), heatmap=heat,
                       range_window=RangeWindow(20, 15, 12, 0.0432),
                       stats=FrameStats(100, 9375, 225, 8, 3, 2))
    heat_off = [off for t, _, off in tlv_entries(pkt) if t == 8][0]
    assert_ti_length_convention(pkt)
    assert (heat_off, 1, 0xFFFFFFFF) in pc_parser_header_reads(pkt)
    with pytest.raises(AssertionError):
        assert_pc_parser_reads_it(pkt)
