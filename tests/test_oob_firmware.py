"""The module's OOB firmware (TI's SDK 3.5 xwr68xx demo behaviour), read back by a TLV reader
written here from TI's documented layout (mmw_output.h, dpif_pointcloud.h, mss_main.c's
MmwDemo_transmitProcessedOutput), not from our encoder."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
import serial

from boards import load_profile
from cardioradar.errors import ConfigError
from hardware_sim.firmware.module import RadarModule
from hardware_sim.record import build_module, start_module
from hardware_sim.types import Scatterers
from sim_rig import send_cfg_lines, sim_serve

ROOT = Path(__file__).resolve().parents[1]
CFG_DIR = Path(__file__).parent / "data" / "radar-cfg"  # copies of ../shared/data/radar-cfg
SUPPORTED = {"xwr68xx_oob_profile_2d.cfg": (256, 32, 8, 0), "xwr68xx_oob_profile_3d.cfg": (256, 32, 8, 4)}
# The other files, and the device answer that refuses them (the 68xx demo's own checks).
REFUSED = {
    "fine_motion_68xx.cfg": "Error: Maximum value for CFAR thresholdScale is 100.0 dB.",  # cfarCfg ... 1200
    "vital_signs_20fps_front.cfg": "Error: Invalid usage of the CLI command",  # guiMonitor with 5 arguments
    "xwr64xx_oob_profile_3d_aop.cfg": "Error: Full configuration must be provided",  # a 64xx file: no bpmCfg
    # TI labs' files for their own firmwares: no guiMonitor, cfarCfg ... / advanced frames.
    "people_counting_3d_isk_6m_68xx.cfg": "Error: Full configuration must be provided",
    "people_detection_100m_2d_advanced_68xx.cfg": "Error: dfeDataOutputMode: got 3 (advanced frames",
}
CPU_HZ = 200_000_000


# ---- an independent reader of TI's packet layout ------------------------------------------
def read_packet(buf: bytes, n_range: int, n_doppler: int, n_azim: int) -> dict:
    """Header (MmwDemo_output_message_header) + TLVs of one packet; asserts the lengths TI
    documents for each type."""
    assert buf[:8] == bytes.fromhex("0201040306050807")
    version, total, platform, frame, cycles, n_obj, n_tlv, sub = struct.unpack_from("<8I", buf, 8)
    assert total == len(buf) and total % 32 == 0 and platform == 0xA6843 and sub == 0
    assert version == 0x03050004  # SDK 03.05.00.04
    out = {"frame": frame, "cycles": cycles, "n_obj": n_obj, "types": []}
    off = 40
    for _ in range(n_tlv):
        t, n = struct.unpack_from("<2I", buf, off)
        body = buf[off + 8: off + 8 + n]
        assert len(body) == n
        out["types"].append(t)
        if t == 1:  # DPIF_PointCloudCartesian: float x, y, z, velocity
            assert n == 16 * n_obj
            out["points"] = np.array(struct.unpack(f"<{4 * n_obj}f", body)).reshape(n_obj, 4)
        elif t == 7:  # DPIF_PointCloudSideInfo: int16 snr, noise (0.1 dB)
            assert n == 4 * n_obj
            out["side"] = np.array(struct.unpack(f"<{2 * n_obj}h", body)).reshape(n_obj, 2)
        elif t in (2, 3):  # uint16 per range bin
            assert n == 2 * n_range
            out[t] = np.array(struct.unpack(f"<{n_range}H", body))
        elif t == 4:  # cmplx16ImRe_t per (range bin, azimuth antenna): imaginary first
            assert n == 4 * n_range * n_azim
            v = np.array(struct.unpack(f"<{2 * n_range * n_azim}h", body)).reshape(n_range, n_azim, 2)
            out[4] = v[..., 1] + 1j * v[..., 0]
        elif t == 5:  # uint16 range x Doppler
            assert n == 2 * n_range * n_doppler
            out[5] = np.array(struct.unpack(f"<{n_range * n_doppler}H", body)).reshape(n_range, n_doppler)
        elif t == 6:  # MmwDemo_output_message_stats: 6 x uint32
            assert n == 24
            out[6] = struct.unpack("<6I", body)
        elif t == 9:  # MmwDemo_temperatureStats: int32 valid, uint32 time, 10 x int16
            assert n == 28
            out[9] = struct.unpack("<iI10h", body)
        off += 8 + n
    assert total - off < 32  # only padding after the TLVs
    return out


def _packets(data: bytes) -> list[bytes]:
    out, off = [], data.find(bytes.fromhex("0201040306050807"))
    while 0 <= off and off + 40 <= len(data):
        total = struct.unpack_from("<I", data, off + 12)[0]
        if off + total > len(data):
            break
        out.append(data[off: off + total])
        off = data.find(bytes.fromhex("0201040306050807"), off + total)
    return out


def _oob_module(cfg_text: str, scene=None, seed: int = 1, board: str = "sim"):
    if scene is None:
        module, _ = build_module("healthy-rest", seed=seed, mode="fast", board=board, batch_frames=6)
        module.select_firmware("oob")
    else:
        module = RadarModule(load_profile(board), scene, mode="fast", seed=seed, firmware="oob")
    answer, _ = module.run_cfg_text(cfg_text)
    return module, answer.decode(errors="replace")


def test_every_cfg_streams_at_its_rate_or_is_refused_as_the_demo_does():
    assert {p.name for p in CFG_DIR.glob("*.cfg")} == set(SUPPORTED) | set(REFUSED)
    for name, error in REFUSED.items():
        module, answer = _oob_module((CFG_DIR / name).read_text())
        assert not module.running and error in answer, name
    for name, (n_range, n_doppler, n_azim, n_elev) in SUPPORTED.items():
        module, answer = _oob_module((CFG_DIR / name).read_text())
        assert module.running, (name, answer[-300:])
        block = module.next_frames(12)
        period_ms = module.config.frame.period_ms
        assert not block.dropped.any()
        # Device clock: one frame every framePeriodicity (200 MHz counter, crystal drift included).
        assert np.all(np.abs(np.diff(block.time_cpu_cycles) - period_ms * 1e-3 * CPU_HZ) <= 1)
        assert np.allclose(np.diff(block.t_frame_s), module.frame_period_s)
        frames = [read_packet(p, n_range, n_doppler, n_azim) for p in _packets(block.data())]
        assert [f["frame"] for f in frames] == list(range(1, 13))
        assert all(f["types"][:2] == [1, 7] and f["types"][2:] == [2, 3, 6, 9] for f in frames)
        assert all(len(f["points"]) == f["n_obj"] > 0 for f in frames)
        assert all(f[6][1] == round(len(p) * 10 / 921600 * 1e6) for f, p in zip(frames[1:], _packets(block.data())))
        zs = np.concatenate([f["points"][:, 2] for f in frames])
        assert (np.any(zs != 0) if n_elev else np.all(zs == 0)), name  # elevation only with the elevation TX


class _OneTarget:
    """One point reflector at p0_m moving at v_mps (the radar frame: x right, y boresight, z up)."""

    def __init__(self, p0_m, v_mps, rcs_amp=1.0):
        self.p0, self.v, self.amp = np.asarray(p0_m, float), np.asarray(v_mps, float), rcs_amp

    def scatterers_at(self, t_s):
        t = np.asarray(t_s, float)
        pos = self.p0[None, None, :] + t[:, None, None] * self.v[None, None, :]
        return Scatterers(pos, np.array([self.amp]), np.array([False]))


@pytest.mark.parametrize("p0, v", [([0.5, 2.0, 0.0], [0.0, 0.0, 0.0]), ([-0.8, 3.0, 0.4], [0.0, 1.0, 0.0]),
                                   ([0.0, 1.5, -0.3], [0.0, -2.0, 0.0])])
def test_a_point_target_is_detected_where_and_as_fast_as_it_is(p0, v):
    module, _ = _oob_module((CFG_DIR / "xwr68xx_oob_profile_3d.cfg").read_text(), scene=_OneTarget(p0, v))
    block = module.next_frames(2)
    f = read_packet(_packets(block.data())[1], 256, 32, 8)
    best = f["points"][np.argmax(f["side"][:, 0])]
    at = np.asarray(p0) + np.asarray(v) * block.t_frame_s[1]  # where it is during frame 2's chirps
    radial_mps = float(np.dot(v, at) / np.linalg.norm(at))
    doppler_step = 3e8 / (2 * 32 * 3 * 61.7e9 * 31e-6)  # the demo's rfparser: ~0.81 m/s per bin
    assert np.linalg.norm(best[:3] - at) < 0.12, best
    assert abs(best[3] - radial_mps) <= doppler_step, best
    assert np.all(f["side"][:, 0] > 0) and np.all(f["side"][:, 1] > 0)  # SNR and noise in 0.1 dB


def test_all_gui_outputs_in_the_demos_order_and_consistent():
    text = (CFG_DIR / "xwr68xx_oob_profile_3d.cfg").read_text()
    text = text.replace("guiMonitor -1 1 1 1 0 0 1", "guiMonitor -1 1 1 1 1 1 1")
    text = text.replace("sensorStart", "configDataPort 3125000 0\nsensorStart")
    module, answer = _oob_module(text)
    assert module.running, answer[-300:]
    block = module.next_frames(3)
    frames = [read_packet(p, 256, 32, 8) for p in _packets(block.data())]
    assert len(frames) == 3 and not block.dropped.any()
    for f in frames:
        assert f["types"] == [1, 7, 2, 3, 4, 5, 6, 9]
        assert np.array_equal(f[2], f[5][:, 0])  # range profile: zero-Doppler column
        assert np.array_equal(f[3], f[5][:, 32 // 2 - 1])  # noise profile: the demo's column
        assert np.abs(f[4]).max() > 0  # static heat map: chirp mean of the azimuth antennas
    # At 921600 baud the same frames (~28 kB) do not fit in 100 ms: packets are dropped and the
    # next stats report the long output time, as the module's UART model does for either firmware.
    slow, _ = _oob_module(text.replace("configDataPort 3125000 0\n", ""))
    block = slow.next_frames(6)
    assert block.dropped.any() and not block.dropped[0]
    sent = [read_packet(p, 256, 32, 8) for p in _packets(block.data())]
    assert any(f[6][1] > 100_000 for f in sent[1:])


def test_detected_objects_1_sends_tlv1_even_without_points():
    text = (CFG_DIR / "xwr68xx_oob_profile_2d.cfg").read_text().replace(" 15.0 0", " 100.0 0")
    module, answer = _oob_module(text)
    assert module.running, answer[-300:]
    f = read_packet(_packets(module.next_frames(1).data())[0], 256, 32, 8)
    assert f["n_obj"] == 0 and f["types"] == [1, 2, 3, 6, 9] and len(f["points"]) == 0


@pytest.mark.parametrize("edit, error", [
    (("frameCfg 0 2 32 0 100 1 0", "frameCfg 0 2 6 0 100 1 0"), "numLoops: expected a multiple of 4"),
    (("lvdsStreamCfg -1 0 0 0", "lvdsStreamCfg -1 0 1 0"), "LVDS streaming is not simulated"),
    (("clutterRemoval -1 0\n", ""), "(simulator: missing clutterRemoval)"),
])
def test_what_the_oob_firmware_refuses_is_named(edit, error):
    module, answer = _oob_module((CFG_DIR / "xwr68xx_oob_profile_3d.cfg").read_text().replace(*edit))
    assert not module.running and error in answer
    assert answer.rstrip().endswith("mmwDemo:/>")


def test_the_aop_board_is_refused_by_the_oob_firmware():
    module, answer = _oob_module((CFG_DIR / "xwr68xx_oob_profile_3d.cfg").read_text()
                                 .replace("chirpCfg 1 1 0 0 0 0 0 4", "chirpCfg 1 1 0 0 0 0 0 2")
                                 .replace("chirpCfg 2 2 0 0 0 0 0 2", "chirpCfg 2 2 0 0 0 0 0 4"),
                                 board="rpizero2w-iwr6843aop")
    assert not module.running and "ISK antenna layout" in answer


def _digest(module, n=20) -> str:
    start_module(module)
    return hashlib.sha256(b"".join(module.next_frames(7).data() for _ in range(n // 7 + 1))).hexdigest()


def test_cardioradar_firmware_stays_the_default_and_unchanged_by_a_round_trip():
    default, _ = build_module("healthy-rest", seed=4, mode="fast", batch_frames=7)
    explicit, _ = build_module("healthy-rest", seed=4, mode="fast", batch_frames=7)
    explicit.select_firmware("oob")
    explicit.select_firmware("cardioradar")
    assert default.firmware == "cardioradar" and type(default.cli).__name__ == "ConfigCli"
    assert _digest(default) == _digest(explicit)


def test_version_names_the_running_firmware():
    module, _ = build_module("healthy-rest", seed=0, mode="fast")
    assert b"CardioRadar range-matrix firmware" in module.config_input(b"version\n")[0]
    module.select_firmware("oob")
    assert b"Firmware                : TI mmWave SDK 3.5 xwr68xx OOB demo emulation" in module.config_input(b"version\n")[0]


def test_board_profile_chooses_the_firmware(tmp_path):
    sim = (ROOT / "boards" / "sim.toml").read_text()
    cfg = (CFG_DIR / "xwr68xx_oob_profile_3d.cfg").resolve()
    text = sim.replace('cfg = "cfg/cardioradar_100hz_isk.cfg"', f'cfg = "{cfg}"\nfirmware = "oob"')
    text = text.replace("frame_rate_hz = 100.0", "frame_rate_hz = 10.0")
    (tmp_path / "oob.toml").write_text(text)
    module, _ = build_module("healthy-rest", seed=0, mode="fast", board=str(tmp_path / "oob.toml"), batch_frames=2)
    assert module.firmware == "oob"
    start_module(module)
    assert read_packet(module.next_frame().packet, 256, 32, 8)["types"][-2:] == [6, 9]
    (tmp_path / "bad.toml").write_text(text.replace('firmware = "oob"', 'firmware = "oob2"'))
    with pytest.raises(ConfigError, match="radar.firmware: expected 'cardioradar' or 'oob', got 'oob2'"):
        load_profile(tmp_path / "bad.toml")


def test_sim_serve_firmware_oob_streams_over_a_pty():
    """As docs/radar-module.md tells a user: `cardioradar sim serve --firmware oob`, then TI's cfg."""
    with sim_serve("--firmware", "oob", "--mode", "fast", "--seed", "2") as ports:
        cfg = serial.Serial(ports["config_port"], 115200, timeout=5.0)
        data = serial.Serial(ports["data_port"], 921600, timeout=0.2)
        reply = send_cfg_lines(cfg, (CFG_DIR / "xwr68xx_oob_profile_3d.cfg").read_text().splitlines())[-1]
        assert b"sensorStart\r\nDone" in reply
        buf = b""
        for _ in range(100):
            buf += data.read(4096)
            if len(_packets(buf)) >= 8:
                break
        frames = [read_packet(p, 256, 32, 8) for p in _packets(buf)]
        assert len(frames) >= 8
        numbers = [f["frame"] for f in frames]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        assert all(abs((b["cycles"] - a["cycles"]) % 2**32 - 0.1 * CPU_HZ) <= 1 for a, b in zip(frames, frames[1:]))
        cfg.write(b"version\n")
        assert b"OOB demo emulation" in cfg.read_until(b"mmwDemo:/>")
        cfg.close()
        data.close()


def _cfar_loops(x, win, guard, shift, thr, mode, cyclic):
    """mmwavelib's CFAR-CA/CAGO/CASO as its documentation states it, cell by cell."""
    n, hits = len(x), []
    for i in range(n):
        if cyclic:
            left = sum(x[(i - guard - k) % n] for k in range(1, win + 1))
            right = sum(x[(i + guard + k) % n] for k in range(1, win + 1))
            has_l = has_r = True
        else:
            has_l, has_r = i >= win + guard, i + win + guard <= n - 1
            left = sum(x[i - guard - win:i - guard]) if has_l else 0
            right = sum(x[i + guard + 1:i + guard + win + 1]) if has_r else 0
        if has_l and has_r:
            noise = ((left + right) >> shift) if mode == 0 else (
                (max(left, right) if mode == 1 else min(left, right)) >> shift)
        else:
            noise = (left if has_l else right) >> (shift - 1 if mode == 0 else shift)
        hits.append(x[i] > noise + thr)
    return np.array(hits)


@pytest.mark.parametrize("mode, cyclic", [(0, False), (1, False), (2, False), (0, True)])
def test_cfar_matches_the_library_rule_cell_by_cell(mode, cyclic):
    from hardware_sim.firmware.oob_dsp import CfarCfg, cfar

    rng = np.random.default_rng(mode * 2 + cyclic)
    x = rng.integers(3000, 3400, size=64).astype(np.uint16)
    x[[5, 30, 62]] += 900
    win, guard = (4, 2) if cyclic else (8, 4)
    shift = 4 if (mode == 0 and not cyclic) else 3  # log2 of the cells averaged, as TI's cfgs set noiseDiv
    got, _ = cfar(x, CfarCfg(mode, win, guard, shift, int(cyclic), 640, 0), cyclic)
    assert np.array_equal(got, _cfar_loops(x.astype(int), win, guard, shift, 640, mode, cyclic))
    assert got[30] and got.sum() <= 4


def test_detection_matrix_kernel_matches_its_reference():
    from hardware_sim.firmware import oob_dsp

    rng = np.random.default_rng(7)
    spec = (rng.normal(size=(16, 16, 12)) + 1j * rng.normal(size=(16, 16, 12))) * np.exp(rng.uniform(0, 30, (16, 16, 12)))
    chain = type("Chain", (), {"n_virtual": 12})
    ref = np.minimum((oob_dsp.log2_abs_q8(spec).astype(np.int64) >> 4).sum(axis=-1), 0xFFFF)
    assert np.array_equal(oob_dsp.det_matrix(spec, chain), ref)
    # log2 in Q8 with mmwavelib's estimate: |3| -> 406 (log2 3 = 1.585), |1024| -> 2560,
    # |3 + 4j| ~ max + 3/8 min = 4 + 1 = 5 -> 2 * 256 + table[16] = 594
    assert oob_dsp.log2_abs_q8(np.array([3 + 0j, 1024 + 0j, 3 + 4j])).tolist() == [406, 2560, 594]


def test_clutter_removal_drops_a_static_reflector_and_keeps_a_moving_one():
    text = (CFG_DIR / "xwr68xx_oob_profile_3d.cfg").read_text().replace("clutterRemoval -1 0", "clutterRemoval -1 1")
    for v, expect_points in (([0.0, 0.0, 0.0], False), ([0.0, 1.0, 0.0], True)):
        module, _ = _oob_module(text, scene=_OneTarget([0.5, 2.0, 0.0], v))
        f = read_packet(_packets(module.next_frames(2).data())[1], 256, 32, 8)
        near = np.linalg.norm(f["points"][:, :2] - [0.5, 2.0 + 0.1 * v[1]], axis=1) < 0.3 if f["n_obj"] else []
        assert bool(np.any(near)) == expect_points, (v, f["points"])


def test_oob_cli_answers_any_line_of_the_demo_cfg_mangled_and_the_next_line_works():
    """Property (hypothesis): TI's 3-D cfg with one word replaced by anything (NaN, inf, huge,
    negative, text): every line gets an answer and the prompt, and when the module starts, it
    makes frames (the chain never fails on an accepted configuration)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    lines = [ln for ln in (CFG_DIR / "xwr68xx_oob_profile_3d.cfg").read_text().splitlines()
             if ln and not ln.startswith("%") and ln != "sensorStart"]
    words = st.one_of(st.sampled_from(["nan", "inf", "-1", "1e30", "0", "-0.5", "x", "255", "65536"]),
                      st.floats(allow_nan=True).map(repr))

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.integers(0, len(lines) - 1), st.integers(0, 30), words)
    def check(i, pos, word):
        module = RadarModule(load_profile("sim"), _OneTarget([0.5, 2.0, 0.0], [0, 0, 0]), mode="fast",
                             firmware="oob", batch_frames=1)
        w = lines[i].split()
        w[pos % len(w)] = word
        for line in lines[:i] + [" ".join(w)] + lines[i + 1:] + ["sensorStart"]:
            out, _ = module.config_input((line + "\n").encode())
            assert out.endswith(b"mmwDemo:/>"), line
        if module.running:  # accepted: it streams (or stops with an Error line, never a traceback)
            module.next_frames(1)

    check()
