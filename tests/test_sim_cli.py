"""`cardioradar sim ...` and `cardioradar bench sim` through ``cardioradar.cli.main``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import serial

from cardioradar.cli import main
from hardware_sim.firmware.tlv import decode_frame, split_stream
from sim_rig import send_cfg_lines, sim_serve

ROOT = Path(__file__).parent.parent


def test_sim_subjects(capsys):
    assert main(["sim", "subjects"]) == 0
    out = capsys.readouterr().out.splitlines()
    names = [ln.split()[0] for ln in out]
    assert "healthy-rest" in names and "af" in names
    assert all(len(ln.split(maxsplit=1)) == 2 for ln in out)  # every preset has a description


def test_sim_frames_prints_one_line_per_frame(capsys):
    assert main(["sim", "frames", "--seconds", "0.2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 20
    assert lines[0].startswith("frame      1  t_dev") and "bin" in lines[0] and "phase" in lines[0]
    assert lines[-1].startswith("frame     20")


def test_sim_frames_bad_subject_exit_code(capsys):
    assert main(["sim", "frames", "--seconds", "0.1", "--subject", "nobody"]) == 2
    assert "healthy-rest" in capsys.readouterr().err


def test_sim_record_cli(tmp_path, capsys):
    assert main(["sim", "record", "--seconds", "0.3", "--out", str(tmp_path), "--mode", "fast", "--seed", "3"]) == 0
    assert "30 frames" in capsys.readouterr().out
    assert len(split_stream((tmp_path / "frames.bin").read_bytes())) == 30
    assert np.load(tmp_path / "truth.npz")["ecg_mv"].shape == (150, 12)


def test_bench_sim_json_last_line(capsys):
    assert main(["bench", "sim", "--seconds", "0.1", "--json"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(last) == {"adc_rtf", "fast_rtf"} and last["adc_rtf"] > 0 and last["fast_rtf"] > 0


def test_sim_serve_json_pty_and_sigterm():
    with sim_serve("--board", "sim", "--mode", "fast", "--seed", "1") as ports:
        assert set(ports) == {"config_port", "data_port"}
        cfg = serial.Serial(ports["config_port"], 115200, timeout=2.0)
        data = serial.Serial(ports["data_port"], 921600, timeout=0.1)
        reply = send_cfg_lines(cfg, (ROOT / "boards" / "cfg" / "cardioradar_100hz_isk.cfg").read_text().splitlines())[-1]
        assert b"sensorStart\r\nDone" in reply
        buf, t0 = b"", time.monotonic()
        while len(split_stream(buf)) < 20 and time.monotonic() - t0 < 5:
            buf += data.read(4096)
        frames = [decode_frame(p) for p in split_stream(buf)]
        assert len(frames) >= 20 and frames[0].heatmap.shape == (15, 12, 2)
        cfg.close()
        data.close()
