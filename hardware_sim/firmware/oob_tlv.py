"""The OOB demo's data-UART packet, as ``MmwDemo_transmitProcessedOutput`` of the SDK 3.5
xwr68xx demo (``mss_main.c``) builds it; layout in docs/radar-module.md, "OOB firmware".

Header (``MmwDemo_output_message_header``, 40 bytes): magic word, version (SDK 03.05.00.04),
totalPacketLen (rounded up to 32), platform 0xA6843, frameNumber, timeCpuCycles,
numDetectedObj, numTLVs, subFrameNumber (0). TLVs in the demo's order, as ``guiMonitor`` asks:
1 points (``detectedObjects`` 1 always, even with no point; 2 only with points), 7 side info
(``detectedObjects`` 1 and points), 2 range profile, 3 noise profile, 4 azimuth static heat map,
5 range-Doppler heat map, 6 stats + 9 temperature (``statsInfo``). Padding bytes: seeded, as
the device sends an uninitialised buffer.
"""

from __future__ import annotations

import struct

import numpy as np

from hardware_sim.firmware.oob_dsp import OobResult
from hardware_sim.firmware.tlv import HEADER_BYTES, MAGIC, PACKET_ALIGN, PLATFORM_IWR6843, SDK_VERSION

TLV_POINTS, TLV_RANGE_PROFILE, TLV_NOISE_PROFILE, TLV_AZIMUTH_HEATMAP = 1, 2, 3, 4
TLV_RANGE_DOPPLER, TLV_STATS, TLV_SIDE_INFO, TLV_TEMPERATURE = 5, 6, 7, 9
_HEADER = struct.Struct("<8s8I")
_TL = struct.Struct("<2I")


def encode_oob_packet(result: OobResult, gui, frame_number: int, time_cpu_cycles: int, padding: bytes,
                      stats: bytes | None, temperature: bytes | None) -> bytes:
    """One packet. gui: the ``GuiMonitorCfg``; stats/temperature: 24/28-byte payloads (needed
    when ``statsInfo`` is 1); padding: at least 31 bytes (the first ones needed go out)."""
    n = len(result.points)
    det = result.det_matrix
    tlvs: list[tuple[int, bytes]] = []
    if gui.detected_objects == 1 or (gui.detected_objects == 2 and n > 0):
        tlvs.append((TLV_POINTS, result.points.astype("<f4").tobytes()))
    if gui.detected_objects == 1 and n > 0:
        tlvs.append((TLV_SIDE_INFO, result.side.astype("<i2").tobytes()))
    if gui.log_mag_range:
        tlvs.append((TLV_RANGE_PROFILE, det[:, 0].astype("<u2").tobytes()))
    if gui.noise_profile:
        tlvs.append((TLV_NOISE_PROFILE, det[:, det.shape[1] // 2 - 1].astype("<u2").tobytes()))
    if gui.range_azimuth_heatmap:  # cmplx16ImRe_t: imaginary first
        tlvs.append((TLV_AZIMUTH_HEATMAP, np.ascontiguousarray(result.azimuth_heatmap[..., ::-1]).astype("<i2").tobytes()))
    if gui.range_doppler_heatmap == 1:
        tlvs.append((TLV_RANGE_DOPPLER, det.astype("<u2").tobytes()))
    if gui.stats_info == 1:
        tlvs.append((TLV_STATS, stats))
        tlvs.append((TLV_TEMPERATURE, temperature))
    body = b"".join(_TL.pack(t, len(p)) + p for t, p in tlvs)
    used = HEADER_BYTES + len(body)
    total = -(-used // PACKET_ALIGN) * PACKET_ALIGN
    header = _HEADER.pack(MAGIC, SDK_VERSION, total, PLATFORM_IWR6843, frame_number & 0xFFFFFFFF,
                          time_cpu_cycles & 0xFFFFFFFF, n, len(tlvs), 0)
    return header + body + bytes(padding[:total - used])
